-- Predicted value per customer, in a table of its own. A refresh rewrites every customer's
-- four figures: as an `UPDATE` of a million rows of `customers` that took 9–11 s (a new row
-- version and index entry per customer in the packed table), as a `COPY` into a fresh,
-- unindexed table then indexed once, about two (BENCHMARKS.md). So `customer_clv` is
-- partitioned by the model that computed the figures, and holds one partition: a refresh
-- loads and indexes `customer_clv_<model_id>`, then drops the old one and attaches it in the
-- transaction that keeps the model, so readers switch from the old figures to the new at once
-- and wait only for that switch.
--
-- The attributes stay in the catalogue (`clv_*`, numeric, with a position in
-- `numeric_values` that is never written); every reader takes their values from here. A
-- customer without a row has none.
CREATE TABLE customer_clv (
    model_id             bigint NOT NULL,
    external_id          text COLLATE "C" NOT NULL,
    p_alive              float8 NOT NULL,
    expected_orders      float8 NOT NULL,
    expected_order_value float8 NOT NULL,
    value                float8 NOT NULL
) PARTITION BY LIST (model_id);

COMMENT ON TABLE customer_clv IS
    'Each customer''s clv_p_alive, clv_expected_orders, clv_expected_order_value and clv_value as the last POST /v1/clv/refresh (model_id) wrote them; one partition, keyed by external_id';

-- Figures an earlier version kept in the customer rows move here, under the latest model.
DO $$
DECLARE
    model bigint := (SELECT max(model_id) FROM clv_models);
    p integer;
BEGIN
    IF model IS NOT NULL THEN
        EXECUTE format('CREATE TABLE customer_clv_%s (LIKE customer_clv)', model);
        EXECUTE format(
            'INSERT INTO customer_clv_%1$s
             SELECT %1$s, c.external_id, c.numeric_values[a.p], c.numeric_values[o.p],
                    c.numeric_values[e.p], c.numeric_values[v.p]
             FROM customers c,
                  (SELECT position AS p FROM attributes WHERE name = ''clv_p_alive'') a,
                  (SELECT position AS p FROM attributes WHERE name = ''clv_expected_orders'') o,
                  (SELECT position AS p FROM attributes WHERE name = ''clv_expected_order_value'') e,
                  (SELECT position AS p FROM attributes WHERE name = ''clv_value'') v
             WHERE c.numeric_values[a.p] IS NOT NULL AND c.numeric_values[o.p] IS NOT NULL
               AND c.numeric_values[e.p] IS NOT NULL AND c.numeric_values[v.p] IS NOT NULL',
            model);
        EXECUTE format('ALTER TABLE customer_clv_%1$s ADD PRIMARY KEY (external_id),
                            ADD CONSTRAINT customer_clv_%1$s_bound CHECK (model_id = %1$s)', model);
        EXECUTE format('ALTER TABLE customer_clv ATTACH PARTITION customer_clv_%1$s
                            FOR VALUES IN (%1$s)', model);
    END IF;
    FOR p IN SELECT position FROM attributes
             WHERE name IN ('clv_p_alive', 'clv_expected_orders', 'clv_expected_order_value',
                            'clv_value')
    LOOP
        UPDATE customers SET numeric_values[p] = NULL WHERE numeric_values[p] IS NOT NULL;
    END LOOP;
END
$$;
