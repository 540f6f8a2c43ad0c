-- Segment activation: each time a run becomes its segmentation's active run (when it
-- succeeds, or by POST /v1/runs/{id}/activate, rollbacks included) is an activation. It
-- records, set-based and in the same transaction, every customer whose stable segment
-- changed against the run it replaces: entered (from NULL), moved, left (to NULL).
--
-- Activations are numbered per segmentation under the segmentation's row lock, so their
-- numbers follow commit order: a reader that sees activation n + 1 sees n too. The feed's
-- cursor is (activation, ord), so it resumes with no gap and no duplicate on any replica.
ALTER TABLE segmentations ADD COLUMN activations bigint NOT NULL DEFAULT 0;

CREATE TABLE activations (
    segmentation_id uuid        NOT NULL
        REFERENCES segmentations (segmentation_id) ON DELETE CASCADE,
    activation      bigint      NOT NULL,
    run_id          uuid        NOT NULL,
    -- The active run it replaced (NULL for the first).
    previous_run_id uuid,
    -- 'run': a run succeeded with auto-activation on; 'api': POST /v1/runs/{id}/activate.
    cause           text        NOT NULL,
    activated_at    timestamptz NOT NULL DEFAULT now(),
    entered         bigint      NOT NULL,
    moved           bigint      NOT NULL,
    "left"          bigint      NOT NULL,
    PRIMARY KEY (segmentation_id, activation),
    CONSTRAINT activations_cause_check CHECK (cause IN ('run', 'api'))
);

-- One row per customer whose segment changed at an activation. No foreign key: a
-- million-row activation would pay a trigger per row; the rows go with their segmentation
-- (store::segmentations::delete) or their customer's erasure.
CREATE TABLE membership_changes (
    segmentation_id uuid    NOT NULL,
    activation      bigint  NOT NULL,
    -- Position within the activation (customer id order, from 1).
    ord             integer NOT NULL,
    external_id     text COLLATE "C" NOT NULL,
    -- Stable segment ids; NULL: not in a segment (not segmented, or DBSCAN noise).
    from_segment    integer,
    to_segment      integer,
    PRIMARY KEY (segmentation_id, activation, ord),
    CONSTRAINT membership_changes_change_check CHECK (from_segment IS DISTINCT FROM to_segment)
);

-- A customer's latest change: since when they have been in their current segment.
CREATE INDEX membership_changes_by_customer
    ON membership_changes (segmentation_id, external_id, activation);
