-- A segmentation's drift thresholds (`DriftPolicy`; NULL: drift is reported, never flagged).
ALTER TABLE segmentations ADD COLUMN drift_policy jsonb;
