-- What a run keeps for its scatter chart: a seeded sample (at most 20,000) of the customers
-- it segmented, in a random order (every prefix is itself a sample), with their values in
-- original units and, for runs over more than two features, their first two principal
-- components. Independent of the assignments partition, so charts outlive retention.
CREATE TABLE run_chart_samples (
    run_id     uuid PRIMARY KEY REFERENCES runs (run_id) ON DELETE CASCADE,
    -- Customers the run segmented (noise included): what the sample was drawn from.
    customers  integer NOT NULL CHECK (customers >= 0),
    features   text[] NOT NULL,
    -- Per sampled customer: the stable segment id, NULL for DBSCAN noise.
    segment    integer[] NOT NULL,
    -- Row-major: one row of `features` per sampled customer.
    "values"   float8[] NOT NULL,
    -- Row-major pairs (PC1, PC2) per sampled customer; NULL with two features or fewer.
    pc         float8[],
    -- Share of the variance PC1 and PC2 explain, and each segment's centre there.
    pc_explained float8[],
    pc_centres   jsonb,
    CHECK (cardinality("values") = cardinality(segment) * cardinality(features)),
    CHECK (pc IS NULL OR cardinality(pc) = 2 * cardinality(segment))
);
