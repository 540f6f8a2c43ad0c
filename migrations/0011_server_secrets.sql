-- Secrets the server creates at its first start, shared by every replica: the key of the
-- audit log's customer references (HMAC-SHA256), so that a reference cannot be reversed by
-- hashing candidate ids.
CREATE TABLE server_secrets (
    name       text        NOT NULL PRIMARY KEY,
    secret     bytea       NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Customer ids in the audit log were unsalted SHA-256 digests, which hashing a list of
-- candidate ids reverses (`0042` in 42 guesses): they are removed. New entries hold keyed
-- references.
UPDATE audit_log a
   SET targets = (SELECT jsonb_object_agg(k, CASE WHEN v #>> '{}' LIKE 'sha256:%'
                                                  THEN to_jsonb('unkeyed digest removed'::text)
                                                  ELSE v END)
                    FROM jsonb_each(a.targets) AS t(k, v))
 WHERE EXISTS (SELECT 1 FROM jsonb_each_text(a.targets) AS t WHERE t.value LIKE 'sha256:%');

-- An erasure finds the entries that name the customer's reference.
CREATE INDEX audit_log_targets ON audit_log USING gin (targets jsonb_path_ops);
