-- Each customer's purchase days: the counted order lines (`store::rfm::COUNTED`: not a
-- cancellation, quantity, amount and any unit price above 0) summed per customer and UTC
-- calendar day, kept up to date by every order import (set-based deltas of the lines it
-- adds or changes) and by erasures. A predicted-value refresh reads these 4.5M rows instead
-- of 10M lines (BENCHMARKS.md): sending each line out of PostgreSQL was most of its time.
--
-- `total` is numeric: each amount converted exactly as PostgreSQL converts a float8, then
-- summed without rounding, so adding a line and taking it away again leaves the total as it
-- was, and the total does not depend on the order the lines came in.
CREATE TABLE purchase_days (
    external_id text COLLATE "C" NOT NULL,
    day         date NOT NULL,
    total       numeric NOT NULL,
    -- What a refresh reads: `total` as a float8 (infinite beyond its range), converted once
    -- when written rather than at every read.
    amount      float8 NOT NULL GENERATED ALWAYS AS (
                    CASE WHEN abs(total) <= 1.7976931348623157e308 THEN total::float8
                         ELSE 'Infinity'::float8 END) STORED,
    lines       integer NOT NULL CHECK (lines > 0),
    -- Covering: a refresh reads every row in key order by an index-only scan, so each
    -- customer's days arrive together and in order.
    CONSTRAINT purchase_days_pkey PRIMARY KEY (external_id, day) INCLUDE (amount)
);

COMMENT ON TABLE purchase_days IS
    'The counted order lines per customer and UTC day: their summed amount and their number';

-- Builds the table again from the order lines (what the imports keep up to date row by row):
-- for a store whose lines were loaded around the API, e.g. by `psql \copy` (benches/clv.sh).
CREATE FUNCTION segstore_rebuild_purchase_days() RETURNS bigint
LANGUAGE sql AS $$
    DELETE FROM purchase_days;
    INSERT INTO purchase_days (external_id, day, total, lines)
    SELECT external_id, (ordered_at AT TIME ZONE 'UTC')::date, sum(amount::numeric), count(*)
    FROM order_lines
    WHERE order_id NOT LIKE 'C%' AND quantity > 0 AND amount > 0
      AND (unit_price IS NULL OR unit_price > 0)
    GROUP BY 1, 2;
    SELECT count(*) FROM purchase_days;
$$;

SELECT segstore_rebuild_purchase_days();
