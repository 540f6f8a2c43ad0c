-- Segmentations: named, versioned clustering configurations. `config` holds the validated
-- configuration (features, scaling, algorithm and parameters) in its normalised JSON form;
-- `version` counts its changes, so a run can record which version it trained.
CREATE TABLE segmentations (
    segmentation_id uuid    NOT NULL,
    name            text    NOT NULL,
    description     text    NOT NULL DEFAULT '',
    version         integer NOT NULL DEFAULT 1,
    config          jsonb   NOT NULL,
    auto_activate   boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT segmentations_pkey PRIMARY KEY (segmentation_id),
    CONSTRAINT segmentations_name_key UNIQUE (name),
    CONSTRAINT segmentations_name_check CHECK (length(name) BETWEEN 1 AND 100),
    CONSTRAINT segmentations_version_check CHECK (version >= 1)
);

CREATE TRIGGER segmentations_set_updated_at
    BEFORE UPDATE ON segmentations
    FOR EACH ROW EXECUTE FUNCTION segstore_set_updated_at();
