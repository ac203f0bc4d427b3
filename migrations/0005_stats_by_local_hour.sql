-- Access statistics keyed by local hour *and* local day; identifiers compared byte-wise; leaner
-- audit indexes.
--
-- Daily counts are now sums over the hourly rows (one write per event instead of two); an hour
-- row remembers the local day it belonged to, because a time-zone change can give one instant
-- two days. The statistics are a projection of the log, so their tables are recreated here and
-- refilled by the runner from position zero on the next start.
--
-- Identifier columns (ids, event types, operations, reasons, addresses) use the "C" collation:
-- they are matched, never sorted for people, and byte-wise comparison makes their indexes several
-- times cheaper to build and maintain than a linguistic collation would.

DROP TABLE share_access_daily, share_access_hourly, share_visitors, enterprise_access_daily,
    enterprise_visitors_daily, stats_shares, stats_time_zones;

CREATE TABLE stats_shares (
    share_id      uuid PRIMARY KEY,
    enterprise_id text COLLATE "C" NOT NULL
);
CREATE TABLE stats_time_zones (
    enterprise_id text COLLATE "C" PRIMARY KEY,
    time_zone     text NOT NULL
);
CREATE TABLE share_access_hourly (
    share_id  uuid             NOT NULL,
    hour      timestamptz      NOT NULL,
    day       date             NOT NULL,
    operation text COLLATE "C" NOT NULL,
    outcome   text COLLATE "C" NOT NULL,
    reason    text COLLATE "C" NOT NULL,
    count     bigint           NOT NULL,
    PRIMARY KEY (share_id, hour, day, operation, outcome, reason)
);
CREATE INDEX share_access_hourly_day_idx ON share_access_hourly (share_id, day);
-- Who visited a share in which local hour (and so on which local day): unique visitors per hour
-- and per day are counts of distinct visitors over these rows.
CREATE TABLE share_visitors (
    share_id uuid             NOT NULL,
    hour     timestamptz      NOT NULL,
    day      date             NOT NULL,
    visitor  text COLLATE "C" NOT NULL,
    PRIMARY KEY (share_id, hour, day, visitor)
);
CREATE INDEX share_visitors_day_idx ON share_visitors (share_id, day);
CREATE TABLE enterprise_access_daily (
    enterprise_id text COLLATE "C" NOT NULL,
    day           date             NOT NULL,
    operation     text COLLATE "C" NOT NULL,
    outcome       text COLLATE "C" NOT NULL,
    reason        text COLLATE "C" NOT NULL,
    count         bigint           NOT NULL,
    PRIMARY KEY (enterprise_id, day, operation, outcome, reason)
);
CREATE TABLE enterprise_visitors_daily (
    enterprise_id text COLLATE "C" NOT NULL,
    day           date             NOT NULL,
    visitor       text COLLATE "C" NOT NULL,
    PRIMARY KEY (enterprise_id, day, visitor)
);
UPDATE projection_checkpoints
   SET tx_id = '0', position = 0, events_applied = 0, last_event_at = NULL, updated_at = now()
 WHERE name = 'share_access_stats';

-- The compliance queries start from a share, an actor, an enterprise or a client IP, in log
-- order; event type and outcome only narrow those down. Time ranges use a BRIN index: rows are
-- added in time order, so block ranges summarise them in a few pages, at almost no write cost.
DROP INDEX audit_index_type_idx;
DROP INDEX audit_index_recorded_idx;
ALTER TABLE audit_streams
    ALTER COLUMN stream_id TYPE text COLLATE "C",
    ALTER COLUMN enterprise_id TYPE text COLLATE "C";
ALTER TABLE audit_index
    ALTER COLUMN stream_id TYPE text COLLATE "C",
    ALTER COLUMN event_type TYPE text COLLATE "C",
    ALTER COLUMN actor TYPE text COLLATE "C",
    ALTER COLUMN actor_kind TYPE text COLLATE "C",
    ALTER COLUMN enterprise_id TYPE text COLLATE "C",
    ALTER COLUMN client_ip TYPE text COLLATE "C",
    ALTER COLUMN operation TYPE text COLLATE "C",
    ALTER COLUMN outcome TYPE text COLLATE "C";
CREATE INDEX audit_index_recorded_idx ON audit_index USING brin (recorded_at);
