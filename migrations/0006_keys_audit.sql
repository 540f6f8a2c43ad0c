-- API keys and the audit log.
--
-- A key's token is shown once; only its SHA-256 is kept. `prefix` (public, unique) finds the
-- row. Keys are revoked, never deleted: audit rows keep naming the key they were made with.
CREATE TABLE api_keys (
    key_id       uuid        NOT NULL PRIMARY KEY,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix       text        NOT NULL UNIQUE,
    secret_hash  bytea       NOT NULL CHECK (length(secret_hash) = 32),
    scopes       text[]      NOT NULL
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'train', 'admin']),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The key that created this one; NULL from the command line or the first start.
    created_by   uuid REFERENCES api_keys (key_id),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    -- Written in batches (each replica flushes what it saw), not on every request.
    last_used_at timestamptz
);

-- Every write, train and admin call made with a key: who, what, on which ids, and the answer.
CREATE TABLE audit_log (
    audit_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    key_id     uuid        NOT NULL REFERENCES api_keys (key_id),
    method     text        NOT NULL,
    -- The route template (`/v1/segmentations/{id}/runs`), and the values of its parameters
    -- and of a created resource's location. An erased customer's id is kept only as its
    -- SHA-256.
    route      text        NOT NULL,
    targets    jsonb       NOT NULL DEFAULT '{}',
    status     smallint    NOT NULL,
    request_id text
);

CREATE INDEX audit_log_key ON audit_log (key_id, audit_id);

-- The customer of each sampled point, so that erasing a customer removes its point.
ALTER TABLE run_chart_samples ADD COLUMN external_ids text[]
    CHECK (external_ids IS NULL OR cardinality(external_ids) = cardinality(segment));
