-- Asynchronous projections: their checkpoints, access statistics, the audit index.

-- Where each asynchronous projection stands in the log's catch-up order. Updated in the same
-- transaction as the projection's writes, so every event is applied exactly once.
CREATE TABLE projection_checkpoints (
    name           text        PRIMARY KEY,
    tx_id          xid8        NOT NULL DEFAULT '0',
    position       bigint      NOT NULL DEFAULT 0,
    events_applied bigint      NOT NULL DEFAULT 0,
    last_event_at  timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projection_checkpoints (name) VALUES ('share_access_stats'), ('audit_index');

-- share_access_stats: per share, per hour and per day in the enterprise's time zone, counts by
-- operation and outcome (granted, or refused with its reason), and unique visitors; daily
-- roll-ups per enterprise. Its own small lookups keep it self-contained (rebuildable alone).
CREATE TABLE stats_shares (
    share_id      uuid PRIMARY KEY,
    enterprise_id text NOT NULL
);
CREATE TABLE stats_time_zones (
    enterprise_id text PRIMARY KEY,
    time_zone     text NOT NULL
);
CREATE TABLE share_access_hourly (
    share_id  uuid        NOT NULL,
    hour      timestamptz NOT NULL,
    operation text        NOT NULL,
    outcome   text        NOT NULL,
    reason    text        NOT NULL,
    count     bigint      NOT NULL,
    PRIMARY KEY (share_id, hour, operation, outcome, reason)
);
CREATE TABLE share_access_daily (
    share_id  uuid   NOT NULL,
    day       date   NOT NULL,
    operation text   NOT NULL,
    outcome   text   NOT NULL,
    reason    text   NOT NULL,
    count     bigint NOT NULL,
    PRIMARY KEY (share_id, day, operation, outcome, reason)
);
-- Who visited a share in which local hour (and so on which local day): unique visitors per
-- hour are its rows, per day a count of distinct visitors over the day's hours.
CREATE TABLE share_visitors (
    share_id uuid        NOT NULL,
    hour     timestamptz NOT NULL,
    day      date        NOT NULL,
    visitor  text        NOT NULL,
    PRIMARY KEY (share_id, hour, visitor)
);
CREATE INDEX share_visitors_day_idx ON share_visitors (share_id, day);
CREATE TABLE enterprise_access_daily (
    enterprise_id text   NOT NULL,
    day           date   NOT NULL,
    operation     text   NOT NULL,
    outcome       text   NOT NULL,
    reason        text   NOT NULL,
    count         bigint NOT NULL,
    PRIMARY KEY (enterprise_id, day, operation, outcome, reason)
);
CREATE TABLE enterprise_visitors_daily (
    enterprise_id text NOT NULL,
    day           date NOT NULL,
    visitor       text NOT NULL,
    PRIMARY KEY (enterprise_id, day, visitor)
);

-- audit_index: one flat, indexed row per event for the compliance queries. Every event is
-- attributed to the enterprise of its stream (a share's or an item's owner's), remembered here.
CREATE TABLE audit_streams (
    stream_id     text PRIMARY KEY,
    enterprise_id text
);
CREATE TABLE audit_index (
    global_position bigint      PRIMARY KEY,
    tx_id           xid8        NOT NULL,
    recorded_at     timestamptz NOT NULL,
    occurred_at     timestamptz NOT NULL,
    stream_id       text        NOT NULL,
    event_type      text        NOT NULL,
    share_id        uuid,
    actor           text,
    actor_kind      text,
    enterprise_id   text,
    client_ip       text,
    operation       text,
    outcome         text
);
CREATE INDEX audit_index_share_idx ON audit_index (share_id, global_position);
CREATE INDEX audit_index_actor_idx ON audit_index (actor, global_position);
CREATE INDEX audit_index_enterprise_idx ON audit_index (enterprise_id, global_position);
CREATE INDEX audit_index_type_idx ON audit_index (event_type, global_position);
CREATE INDEX audit_index_recorded_idx ON audit_index (recorded_at);
CREATE INDEX audit_index_ip_idx ON audit_index (client_ip, global_position);
