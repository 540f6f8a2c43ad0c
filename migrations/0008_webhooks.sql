-- Webhooks, delivered from PostgreSQL.
--
-- An event is written to the outbox (`webhook_events`) in the transaction that does what it
-- announces, with one delivery per subscribed webhook (`webhook_deliveries`; a
-- membership change is one delivery per batch of changes): nothing is announced that did
-- not commit, nothing commits unannounced. Workers in every replica claim deliveries with
-- FOR UPDATE SKIP LOCKED, the head of each (webhook, segmentation) queue only, so each
-- queue is delivered in order.
CREATE TABLE webhooks (
    webhook_id      uuid        NOT NULL PRIMARY KEY,
    url             text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events          text[]      NOT NULL CHECK (cardinality(events) > 0),
    -- Only this segmentation's events (NULL: every segmentation's).
    segmentation_id uuid REFERENCES segmentations (segmentation_id) ON DELETE CASCADE,
    description     text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- Membership changes per delivery.
    batch_size      integer     NOT NULL CHECK (batch_size BETWEEN 1 AND 10000),
    -- The signing key (`whsec_…`): HMAC needs it in clear; it is never logged or shown
    -- again after its creation or rotation.
    secret          text        NOT NULL,
    -- The secret before the last rotation, still signing until `previous_until`.
    previous_secret text,
    previous_until  timestamptz,
    enabled         boolean     NOT NULL DEFAULT true,
    -- Why it was disabled (by segstore after failures, or by a user).
    disabled_reason text,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER webhooks_set_updated_at
    BEFORE UPDATE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION segstore_set_updated_at();

CREATE TABLE webhook_events (
    event_id        uuid        NOT NULL PRIMARY KEY,
    type            text        NOT NULL,
    segmentation_id uuid,
    -- The event's `data` (for membership changes: the activation; the changes are read from
    -- membership_changes by each delivery's range).
    data            jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    -- The `webhook-id` header: the same on every attempt, so receivers deduplicate.
    delivery_id     uuid        NOT NULL PRIMARY KEY,
    webhook_id      uuid        NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    event_id        uuid        NOT NULL REFERENCES webhook_events (event_id) ON DELETE CASCADE,
    -- Creation order; with the segmentation lock taken by every event's writer, it is
    -- commit order within a segmentation.
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    -- The queue it is delivered in order within: its segmentation, or the webhook itself.
    queue           uuid        NOT NULL,
    -- A batch of membership changes: ords first_ord..last_ord of the event's activation.
    first_ord       integer,
    last_ord        integer,
    state           text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Since when it has been pending (written, or asked to be retried): retries give up a
    -- while after it.
    pending_since   timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_deliveries_batch_check CHECK ((first_ord IS NULL) = (last_ord IS NULL))
);

CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, queue, seq)
    WHERE state = 'pending';
-- Workers look at pending deliveries oldest first: the head of a queue comes before the rest
-- of it, so a claim stops at the first head that is due (not every pending row).
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (seq)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, seq DESC);

-- Every attempt: what the endpoint answered (or why nothing came back).
CREATE TABLE webhook_attempts (
    delivery_id     uuid        NOT NULL
        REFERENCES webhook_deliveries (delivery_id) ON DELETE CASCADE,
    attempt         integer     NOT NULL,
    attempted_at    timestamptz NOT NULL,
    -- NULL: no HTTP answer (see `error`).
    status_code     integer,
    latency_ms      float8      NOT NULL,
    error           text,
    -- The first bytes of the answer's body.
    response_excerpt text,
    PRIMARY KEY (delivery_id, attempt)
);

-- Writes an event and its deliveries (one per webhook subscribed to `kind` whose filter
-- matches) in the caller's transaction; returns the event's id. The segmentation's row is
-- locked first, so a segmentation's events take their `seq` in commit order.
CREATE FUNCTION segstore_emit(kind text, segmentation uuid, payload jsonb) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    id uuid := gen_random_uuid();
BEGIN
    IF segmentation IS NOT NULL THEN
        PERFORM 1 FROM segmentations WHERE segmentation_id = segmentation FOR NO KEY UPDATE;
    END IF;
    INSERT INTO webhook_events (event_id, type, segmentation_id, data)
    VALUES (id, kind, segmentation, payload);
    INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, queue)
    SELECT gen_random_uuid(), w.webhook_id, id, coalesce(segmentation, w.webhook_id)
      FROM webhooks w
     WHERE kind = ANY (w.events)
       AND (w.segmentation_id IS NULL OR w.segmentation_id = segmentation)
     ORDER BY w.webhook_id;
    RETURN id;
END $$;

-- A run that succeeds or fails, on whichever path (a worker's result, a lapsed lease), is
-- announced in the transaction that records it.
CREATE FUNCTION segstore_announce_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM segstore_emit(
        'run.' || NEW.status,
        NEW.segmentation_id,
        jsonb_build_object(
            'run_id', NEW.run_id,
            'segmentation_id', NEW.segmentation_id,
            'status', NEW.status,
            'trigger', NEW.trigger,
            'k', NEW.k,
            'customers_used', NEW.customers_used,
            'error', NEW.error,
            'created_at', NEW.created_at,
            'finished_at', NEW.finished_at));
    RETURN NULL;
END $$;

CREATE TRIGGER runs_announce
    AFTER UPDATE OF status ON runs
    FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION segstore_announce_run();
