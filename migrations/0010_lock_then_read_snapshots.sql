-- Takes the locks of some streams, then reads their snapshots, in one round trip.
--
-- The locks are transaction-scoped advisory locks keyed by the stream id (they exist before a
-- stream's first event and write nothing), taken in the order of their keys, which every caller
-- shares, so two writers never wait on each other in a cycle.
--
-- Why a function: in READ COMMITTED a statement reads as of its own start. A plain statement
-- that waited for a lock and then read the snapshot row would read it as it was before the
-- lock's previous holder committed: a stale head, whose append then conflicts and is tried
-- again. A VOLATILE PL/pgSQL function takes a new snapshot for each of its queries, so the read
-- after the locks sees everything their previous holders committed.
CREATE FUNCTION lock_and_read_snapshots(ids text[]) RETURNS SETOF stream_snapshots
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM count(pg_advisory_xact_lock(k))
    FROM (SELECT hashtextextended(s, 7) AS k FROM unnest(ids) AS u(s) ORDER BY 1 OFFSET 0) AS sorted;
    RETURN QUERY SELECT * FROM stream_snapshots WHERE stream_snapshots.stream_id = ANY(ids);
END
$$;
