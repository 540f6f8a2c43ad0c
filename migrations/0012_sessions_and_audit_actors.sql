-- Dashboard sessions. The browser's cookie holds a random session id; only its SHA-256 is
-- kept. A session acts with its key's scopes while the key is usable, ends when signed out
-- (on every replica: each request reads it), after 8 idle hours or at `expires_at`.
CREATE TABLE dashboard_sessions (
    session_hash bytea       NOT NULL PRIMARY KEY CHECK (length(session_hash) = 32),
    key_id       uuid        NOT NULL REFERENCES api_keys (key_id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Written at most once a minute per session, not on every request.
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);

CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- Who acted: a key (`key_id`), the command line, or nobody known: a refused sign-in, or
-- refused requests counted per source address and minute (`count` of them, from `at` on).
ALTER TABLE audit_log
    ALTER COLUMN key_id DROP NOT NULL,
    ADD COLUMN actor text NOT NULL DEFAULT 'key'
        CHECK (actor IN ('key', 'cli', 'anonymous')),
    ADD COLUMN source inet,
    ADD COLUMN count integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    ADD CONSTRAINT audit_log_actor_key CHECK ((actor = 'key') = (key_id IS NOT NULL));
