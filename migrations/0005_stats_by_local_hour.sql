-- Access statistics keyed by local hour *and* local day, and leaner audit indexes.
--
-- Daily counts are now sums over the hourly rows (one write per event instead of two); an hour
-- row remembers the local day it belonged to, because a time-zone change can give one instant
-- two days. The statistics are a projection of the log, so they are dropped here and rebuilt by
-- the runner from position zero on the next start.

DROP TABLE share_access_daily;
DROP TABLE share_access_hourly;
CREATE TABLE share_access_hourly (
    share_id  uuid        NOT NULL,
    hour      timestamptz NOT NULL,
    day       date        NOT NULL,
    operation text        NOT NULL,
    outcome   text        NOT NULL,
    reason    text        NOT NULL,
    count     bigint      NOT NULL,
    PRIMARY KEY (share_id, hour, day, operation, outcome, reason)
);
CREATE INDEX share_access_hourly_day_idx ON share_access_hourly (share_id, day);

-- Unique visitors per hour and per day are counts of distinct visitors over these rows.
ALTER TABLE share_visitors DROP CONSTRAINT share_visitors_pkey;
ALTER TABLE share_visitors ADD PRIMARY KEY (share_id, hour, day, visitor);

TRUNCATE stats_shares, stats_time_zones, share_visitors, enterprise_access_daily, enterprise_visitors_daily;
UPDATE projection_checkpoints
   SET tx_id = '0', position = 0, events_applied = 0, last_event_at = NULL, updated_at = now()
 WHERE name = 'share_access_stats';

-- The compliance queries start from a share, an actor, an enterprise or a client IP, in log
-- order; event type and outcome only narrow those down. Time ranges use a BRIN index: rows are
-- added in time order, so block ranges summarise them in a few pages, at almost no write cost.
DROP INDEX audit_index_type_idx;
DROP INDEX audit_index_recorded_idx;
CREATE INDEX audit_index_recorded_idx ON audit_index USING brin (recorded_at);
