-- Owner side: share secrets, the inline projections (My Share Links, drive items, quota usage),
-- and idempotency keys.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- A share's secrets live outside the log (events never hold a secret). The link token is found
-- by its SHA-256; the token and the access code are kept sealed (AEAD) for the owner to read
-- back; the code is checked against its argon2id hash. Written in the same transaction as the
-- event that sets them. Primary data: not rebuildable from the log, backed up with it.
CREATE TABLE share_secrets (
    share_id     uuid        PRIMARY KEY,
    token_hash   bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    token_sealed bytea       NOT NULL,
    code_hash    text,
    code_sealed  bytea,
    code_version integer     NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((code_hash IS NULL) = (code_sealed IS NULL))
);

-- Inline projection: one row per share for the owner's "My Share Links".
CREATE TABLE my_share_links (
    share_id       uuid        PRIMARY KEY,
    owner_id       text        NOT NULL,
    owner_name     text        NOT NULL,
    enterprise_id  text        NOT NULL,
    name           text        NOT NULL,
    message        text        NOT NULL,
    items          jsonb       NOT NULL,
    item_count     integer     NOT NULL,
    permissions    jsonb       NOT NULL,
    scope          text        NOT NULL,
    limits         jsonb       NOT NULL,
    has_code       boolean     NOT NULL,
    autofill_code  boolean     NOT NULL,
    expires_at     timestamptz,
    status         text        NOT NULL CHECK (status IN ('active', 'cancelled')),
    cancelled_at   timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    opens          bigint      NOT NULL DEFAULT 0,
    previews       bigint      NOT NULL DEFAULT 0,
    downloads      bigint      NOT NULL DEFAULT 0,
    saves          bigint      NOT NULL DEFAULT 0,
    uploads        bigint      NOT NULL DEFAULT 0,
    edits          bigint      NOT NULL DEFAULT 0,
    refused        bigint      NOT NULL DEFAULT 0,
    reports        bigint      NOT NULL DEFAULT 0,
    last_access_at timestamptz,
    last_position  bigint      NOT NULL
);
CREATE INDEX my_share_links_owner_created_idx ON my_share_links (owner_id, created_at, share_id);
CREATE INDEX my_share_links_owner_updated_idx ON my_share_links (owner_id, updated_at, share_id);
CREATE INDEX my_share_links_owner_name_idx ON my_share_links (owner_id, name, share_id);
CREATE INDEX my_share_links_name_trgm_idx ON my_share_links USING gin (name gin_trgm_ops);

-- Inline projection and transactional counter: shares created (and accessed) per user per
-- day in the enterprise's time zone. The append transaction increments it only while below the
-- limit, so concurrent creates at the limit cannot overshoot.
CREATE TABLE quota_usage (
    user_id       text    NOT NULL,
    day           date    NOT NULL,
    kind          text    NOT NULL CHECK (kind IN ('create', 'access')),
    enterprise_id text    NOT NULL,
    used          integer NOT NULL CHECK (used >= 0),
    PRIMARY KEY (user_id, day, kind)
);
CREATE INDEX quota_usage_enterprise_day_idx ON quota_usage (enterprise_id, day);

-- Inline projection: the built-in drive's items.
CREATE TABLE drive_items (
    item_id       uuid        PRIMARY KEY,
    owner_id      text        NOT NULL,
    enterprise_id text        NOT NULL,
    parent_id     uuid,
    name          text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('file', 'folder')),
    size          bigint,
    content_type  text,
    sha256        text,
    content_key   text,
    deleted       boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX drive_items_owner_parent_idx ON drive_items (owner_id, parent_id, name);

-- Idempotency-Key: the first outcome of a keyed request, replayed on retry.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       integer     NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
