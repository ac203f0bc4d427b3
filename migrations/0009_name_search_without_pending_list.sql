-- The name search's trigram index without a pending list (fastupdate), as the audit index's.
--
-- With the pending list, new names wait in an unsorted list until it passes
-- gin_pending_list_limit (4 MB, about 10,000 names) or a vacuum merges it; meanwhile the
-- planner, which must scan that list whole, prices the index out, and an owner's substring
-- search walks every one of their shares instead: 14 ms instead of 0.5 ms at 10,000 shares
-- (EXPLAIN ANALYZE, `share 123` among `share 0..9999`). Without it each insert puts its
-- trigrams in place at once, and the search always has the index.
ALTER INDEX my_share_links_name_trgm_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('my_share_links_name_trgm_idx'::regclass);
