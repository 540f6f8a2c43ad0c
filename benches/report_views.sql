-- How the form of segstore_report.assignments decides a Tableau-style GROUP BY at 1M customers
-- with 5 runs' 1M-row partitions kept (the default retention), on tables shaped as segstore's
-- (customers with numeric and categorical arrays; assignments list-partitioned by run;
-- run_segments; segmentations with an active run). Synthetic rows, in a database of its own:
--
--   psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE segstore_bench_views'
--   psql -h 127.0.0.1 -U postgres -d segstore_bench_views -f benches/report_views.sql
--   psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE segstore_bench_views'
\set ON_ERROR_STOP on
\pset pager off
CREATE TABLE segmentations (segmentation_id uuid PRIMARY KEY, name text, active_run_id uuid);
CREATE TABLE run_segments (run_id uuid, stable_id int, label text, persona text,
                           PRIMARY KEY (run_id, stable_id));
CREATE TABLE assignments (run_id uuid NOT NULL, external_id text NOT NULL, segment int,
                          score float8, PRIMARY KEY (run_id, external_id))
    PARTITION BY LIST (run_id);
CREATE TABLE customers (customer_id bigint PRIMARY KEY, external_id text UNIQUE NOT NULL,
                        numeric_values float8[], categorical_values text[]);
INSERT INTO customers
SELECT g, lpad(g::text, 7, '0'),
       ARRAY[random() * 100, random() * 150, random() * 80, random() * 20, random() * 60,
             random() * 900, random() * 5, random() * 40],
       ARRAY[(ARRAY['FR', 'DE', 'UK', 'US', 'ES'])[1 + g % 5], (ARRAY['a', 'b'])[1 + g % 2]]
FROM generate_series(1, 1000000) g;
DO $$
DECLARE r uuid;
BEGIN
  FOR i IN 1..5 LOOP
    r := gen_random_uuid();
    EXECUTE format('CREATE TABLE assignments_%s PARTITION OF assignments FOR VALUES IN (%L)', i, r);
    EXECUTE format('INSERT INTO assignments SELECT %L, lpad(g::text, 7, ''0''), 1 + g %% 8, random()
                    FROM generate_series(1, 1000000) g', r);
    INSERT INTO run_segments SELECT r, s, 'Segment ' || s, 'P' || s FROM generate_series(1, 8) s;
    IF i = 5 THEN
      INSERT INTO segmentations VALUES (gen_random_uuid(), 'bench', r);
    ELSIF i = 4 THEN
      INSERT INTO segmentations VALUES (gen_random_uuid(), 'other', r);
    END IF;
  END LOOP;
END $$;
VACUUM ANALYZE;
SELECT segmentation_id AS seg, active_run_id AS run FROM segmentations WHERE name = 'bench' \gset
CREATE SCHEMA report;
CREATE VIEW report.customers AS
SELECT c.external_id AS customer_id, c.numeric_values[2] AS annual_income_k,
       c.numeric_values[3] AS spending_score, c.categorical_values[1] AS country
FROM customers c;
-- segstore's view: the active run known only through the join.
CREATE VIEW report.by_join AS
SELECT s.segmentation_id, s.name AS segmentation, a.run_id, a.external_id AS customer_id,
       a.segment AS segment_id, g.label AS segment_label, g.persona, a.score
FROM segmentations s JOIN assignments a ON a.run_id = s.active_run_id
LEFT JOIN run_segments g ON g.run_id = a.run_id AND g.stable_id = a.segment;
-- The active run as a constant, with the join kept (so a stale view shows nothing wrong).
CREATE VIEW report.constant_joined AS
SELECT s.segmentation_id, s.name AS segmentation, a.run_id, a.external_id AS customer_id,
       a.segment AS segment_id, g.label AS segment_label, g.persona, a.score
FROM assignments a
JOIN segmentations s ON s.segmentation_id = :'seg'::uuid AND s.active_run_id = :'run'::uuid
LEFT JOIN run_segments g ON g.run_id = a.run_id AND g.stable_id = a.segment
WHERE a.run_id = :'run'::uuid;
-- Everything constant: the segmentation's id, name and active run.
CREATE VIEW report.constant_only AS
SELECT :'seg'::uuid AS segmentation_id, 'bench'::text AS segmentation, a.run_id,
       a.external_id AS customer_id, a.segment AS segment_id, g.label AS segment_label,
       g.persona, a.score
FROM assignments a
LEFT JOIN run_segments g ON g.run_id = a.run_id AND g.stable_id = a.segment
WHERE a.run_id = :'run'::uuid;
-- What segstore generates (store::report): one branch of constants per segmentation with an
-- active run, built by format(%L) from the segmentations table, joined by UNION ALL. The
-- query's `segmentation = 'bench'` folds to false in the other branches, which drop out.
SELECT 'CREATE VIEW report.generated AS ' || string_agg(format(
         'SELECT %L::uuid AS segmentation_id, %L::text AS segmentation, a.run_id, '
         'a.external_id AS customer_id, a.segment AS segment_id, g.label AS segment_label, '
         'g.persona, a.score FROM assignments a LEFT JOIN run_segments g '
         'ON g.run_id = a.run_id AND g.stable_id = a.segment WHERE a.run_id = %L::uuid',
         segmentation_id, name, active_run_id), ' UNION ALL ' ORDER BY segmentation_id)
FROM segmentations WHERE active_run_id IS NOT NULL \gexec
-- The query a Tableau sheet sends (segment on Rows, a count and two averages), over
-- report.under_test: a view of the form measured (PostgreSQL inlines both, so the plan is the
-- form's own).
CREATE VIEW report.under_test AS SELECT * FROM report.by_join;
\set q 'SELECT a.segment_label, count(*), avg(c.spending_score), avg(c.annual_income_k) FROM report.under_test a JOIN report.customers c USING (customer_id) WHERE a.segmentation = ''bench'' GROUP BY 1'
\timing on
\echo by_join, the view segstore has, 5 partitions
:q \g /dev/null
:q \g /dev/null
:q \g /dev/null
\echo constant_joined
\timing off
CREATE OR REPLACE VIEW report.under_test AS SELECT * FROM report.constant_joined;
\timing on
:q \g /dev/null
:q \g /dev/null
:q \g /dev/null
\echo constant_only
\timing off
CREATE OR REPLACE VIEW report.under_test AS SELECT * FROM report.constant_only;
\timing on
:q \g /dev/null
:q \g /dev/null
:q \g /dev/null
\timing off
\echo generated: a branch of constants per segmentation, two segmentations
CREATE OR REPLACE VIEW report.under_test AS SELECT * FROM report.generated;
\timing on
:q \g /dev/null
:q \g /dev/null
:q \g /dev/null
\timing off
\echo by_join with the four inactive partitions detached (what one kept run costs)
CREATE OR REPLACE VIEW report.under_test AS SELECT * FROM report.by_join;
ALTER TABLE assignments DETACH PARTITION assignments_1;
ALTER TABLE assignments DETACH PARTITION assignments_2;
ALTER TABLE assignments DETACH PARTITION assignments_3;
ALTER TABLE assignments DETACH PARTITION assignments_4;
\timing on
:q \g /dev/null
:q \g /dev/null
:q \g /dev/null
