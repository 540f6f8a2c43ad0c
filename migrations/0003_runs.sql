-- Segmentation runs: a queue of retraining jobs (claimed by workers with FOR UPDATE SKIP
-- LOCKED), their results, and which run of each segmentation is active.
CREATE TABLE runs (
    run_id               uuid    NOT NULL,
    segmentation_id      uuid    NOT NULL,
    -- Insertion order: the queue is first in, first out; lists are newest first.
    seq                  bigint  GENERATED ALWAYS AS IDENTITY,
    segmentation_version integer NOT NULL,
    -- The exact configuration this run trains (a copy: later changes do not reach it).
    config               jsonb   NOT NULL,
    status               text    NOT NULL DEFAULT 'queued',
    trigger              text    NOT NULL,
    idempotency_key      text,
    -- Progress while running.
    phase                text,
    progress             real    NOT NULL DEFAULT 0,
    -- The lease: a running run whose lease lapsed belongs to a dead worker.
    worker               text,
    attempts             integer NOT NULL DEFAULT 0,
    lease_until          timestamptz,
    heartbeat_at         timestamptz,
    cancel_requested     boolean NOT NULL DEFAULT false,
    -- Counts and results.
    customers_snapshot   bigint,
    customers_used       bigint,
    customers_dropped    bigint,
    values_imputed       bigint,
    k                    integer,
    k_rule               text,
    -- Metrics, k-selection curve, timings, segment matching, PCA, mixture fit.
    summary              jsonb,
    -- The fitted model (preprocessing, projection, centroids): scores new customers.
    model                jsonb,
    -- Whether the run's assignments are still stored (retention drops old ones).
    has_assignments      boolean NOT NULL DEFAULT false,
    error                jsonb,
    -- Notes such as a lease recovery.
    events               jsonb   NOT NULL DEFAULT '[]',
    created_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runs_pkey PRIMARY KEY (run_id),
    CONSTRAINT runs_segmentation_fkey FOREIGN KEY (segmentation_id)
        REFERENCES segmentations (segmentation_id) ON DELETE CASCADE,
    CONSTRAINT runs_status_check
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    CONSTRAINT runs_trigger_check CHECK (trigger IN ('api', 'schedule')),
    CONSTRAINT runs_progress_check CHECK (progress BETWEEN 0 AND 1)
);

CREATE INDEX runs_by_segmentation ON runs (segmentation_id, seq DESC);
CREATE INDEX runs_queue ON runs (seq) WHERE status = 'queued';
CREATE INDEX runs_leases ON runs (lease_until) WHERE status = 'running';
-- Retries of one call (cron jobs retry) find the run they created.
CREATE UNIQUE INDEX runs_idempotency_key ON runs (segmentation_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- One running run per segmentation, whatever the number of workers.
CREATE UNIQUE INDEX runs_one_running ON runs (segmentation_id) WHERE status = 'running';

CREATE TRIGGER runs_set_updated_at
    BEFORE UPDATE ON runs
    FOR EACH ROW EXECUTE FUNCTION segstore_set_updated_at();

-- Segment profiles of a run. `stable_id` survives retrains (matched by centroid); `segment`
-- is the run's own order.
CREATE TABLE run_segments (
    run_id           uuid    NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    segment          integer NOT NULL,
    stable_id        integer NOT NULL,
    label            text    NOT NULL,
    persona          text,
    size             bigint  NOT NULL,
    share            float8  NOT NULL,
    -- Centroid (original units), statistics, lift, top features.
    profile          jsonb   NOT NULL,
    -- The previous active run's segment it continues, and their centroid distance.
    matched_run_id   uuid,
    matched_distance float8,
    PRIMARY KEY (run_id, segment),
    UNIQUE (run_id, stable_id)
);

-- Assignments, one partition per run: a run loads its partition without indexes, indexes it
-- and attaches it in its result transaction; retention drops whole partitions.
CREATE TABLE assignments (
    run_id      uuid NOT NULL,
    external_id text COLLATE "C" NOT NULL,
    -- The stable segment id; NULL for DBSCAN noise.
    segment     integer,
    -- Distance to the segment's centroid (model space), or membership probability.
    score       float8,
    PRIMARY KEY (run_id, external_id)
) PARTITION BY LIST (run_id);

ALTER TABLE segmentations
    ADD COLUMN active_run_id uuid REFERENCES runs (run_id) ON DELETE SET NULL,
    -- Stable segment ids are numbered per segmentation.
    ADD COLUMN last_stable_id integer NOT NULL DEFAULT 0,
    -- A cron expression (UTC) and the next time it fires.
    ADD COLUMN schedule text,
    ADD COLUMN next_run_at timestamptz;

CREATE INDEX segmentations_due ON segmentations (next_run_at) WHERE next_run_at IS NOT NULL;
