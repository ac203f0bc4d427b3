-- Recipient side: code brute-force counters, downloads already counted per share session, and
-- the distinct shares each signed-in user opened per day.

-- Wrong access codes per share, client and minute. Attempts are checked (and reserved) here
-- before argon2 runs; rolling windows are sums over the minutes. Shared by all instances and
-- kept across restarts; old minutes are deleted.
CREATE TABLE code_failures (
    share_id uuid        NOT NULL,
    client   text        NOT NULL,
    minute   timestamptz NOT NULL,
    failures integer     NOT NULL CHECK (failures >= 0),
    PRIMARY KEY (share_id, minute, client)
);

-- Downloads counted in a share session: a byte range continuing one is not counted again.
CREATE TABLE session_downloads (
    session_id uuid        NOT NULL,
    item_id    uuid        NOT NULL,
    share_id   uuid        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (session_id, item_id)
);
CREATE INDEX session_downloads_at_idx ON session_downloads (at);

-- Inline projection with quota_usage: the shares a user opened on a quota day (the daily access
-- quota counts distinct shares).
CREATE TABLE quota_access_seen (
    user_id  text NOT NULL,
    day      date NOT NULL,
    share_id uuid NOT NULL,
    PRIMARY KEY (user_id, day, share_id)
);
