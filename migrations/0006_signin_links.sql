-- One-time sign-in links for the web pages (printed by `serve --demo`, or issued by an operator):
-- only the SHA-256 of the code is kept; a link signs in once, before it expires.
CREATE TABLE signin_links (
    code_hash    bytea PRIMARY KEY,
    user_id      text NOT NULL,
    enterprise_id text NOT NULL,
    display_name text,
    roles        text[] NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
