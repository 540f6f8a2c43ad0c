-- Each customer's purchase days as the last refresh of predicted value read them from the
-- counted order lines (store::orders::COUNTED): the day numbers (UTC days from 2000-01-01)
-- with their totals, packed in day order as (int4, float8) pairs, little-endian. A refresh
-- reads these for every customer whose lines did not change since, and the lines of those
-- whose did: a million of these rows take a tenth of the time of the ten million lines they
-- come from (BENCHMARKS.md). While it is empty, a refresh reads every line.
--
-- Both tables are derived and unlogged (no WAL for a refresh's million rows): a crash empties
-- both, and the next refresh reads every line again.
CREATE UNLOGGED TABLE purchase_days (
    external_id text COLLATE "C" NOT NULL,
    days        bytea NOT NULL,
    CONSTRAINT purchase_days_pkey PRIMARY KEY (external_id)
);

-- The customers whose order lines may have changed since their days were kept: an order
-- import marks every customer its batch names and every customer a changed line leaves.
-- The next refresh reads their lines again and clears the marks.
CREATE UNLOGGED TABLE purchase_days_stale (
    external_id text COLLATE "C" PRIMARY KEY
);
