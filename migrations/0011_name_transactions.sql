-- Which transaction last wrote each share's name, for the service's in-process name index.
--
-- `name_tx` is the `tx_id` of the event that set the name (`ShareCreated`, `ShareRenamed`):
-- the transaction that wrote the row, since My Share Links is written in the append's
-- transaction, and the same value when a rebuild replays the log. The index keeps an owner's
-- names as of a horizon (the oldest transaction still running when it read them) and asks only
-- for the rows written by transactions at or after it (`my_share_links::names_since`), so it
-- never misses a name committed out of order. Rows from before this migration read as 0: an
-- index reads every name of its owner once, when it is built.
ALTER TABLE my_share_links ADD COLUMN name_tx int8 NOT NULL DEFAULT 0;
CREATE INDEX my_share_links_owner_name_tx_idx ON my_share_links (owner_id, name_tx);
