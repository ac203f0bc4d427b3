-- The event store: one append-only log for every stream, ordered by a global position and,
-- for gap-free catch-up, by the writing transaction's id (see src/store/read.rs).

CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id       text        NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
    stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    schema_version  integer     NOT NULL CHECK (schema_version >= 1),
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    prev_hash       bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

-- The catch-up readers' order: (tx_id, global_position).
CREATE INDEX events_tx_position_idx ON events (tx_id, global_position);

-- Append-only: every UPDATE, DELETE and TRUNCATE is refused, whatever it matches.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the events table is append-only: % refused', TG_OP
        USING ERRCODE = 'SL001', HINT = 'events are never changed; append a compensating event';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Readers are woken by NOTIFY on the channel 'shareledger_events', sent by the writer after its
-- commit (src/store/notify.rs), not by a trigger: NOTIFY inside a transaction takes a global
-- lock held through the commit's WAL flush, which would serialize every append.

-- Always-current aggregate state for streams that keep one (derived data, rebuildable from the
-- log), written in the transaction of every append. Hot streams read it under a per-stream
-- advisory lock (src/store/snapshot.rs).
CREATE TABLE stream_snapshots (
    stream_id    text        PRIMARY KEY,
    version      bigint      NOT NULL CHECK (version >= 1),
    head_hash    bytea       NOT NULL CHECK (octet_length(head_hash) = 32),
    state_schema integer     NOT NULL,
    state        jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
