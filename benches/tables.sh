#!/usr/bin/env bash
# Flat tables and SQL for BI (issue: where users already work), on one PostgreSQL database, in
# one session:
#  1. a generated 1,000,000-customer × 10-attribute store (8 numeric, 2 categorical), imported
#     through the API, and one retrain (K-Means k = 8 on the 8 numeric features), so that
#     customers.csv carries a segment id and label per customer;
#  2. GET /v1/customers.csv three times: seconds, MB, rows/s, the server's RSS before, after
#     and at its peak; beside it, psql's binary COPYs of what it reads, side by side (what
#     PostgreSQL alone takes), PostgreSQL writing the same CSV itself in one joined statement
#     (text COPY: the first design), and GET …/active/assignments.csv;
#  3. four more retrains (five runs' assignments kept, the default retention), then the
#     segstore_report views as a report role, as Tableau queries them live: customers by
#     segment with averages (a join of the customers and assignments views, GROUP BY), and
#     the segments view; each three times, with psql's \timing; and the first query over the
#     assignments view's earlier form (a join to segmentations), for comparison.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/tables.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_tables
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18185}
API="http://127.0.0.1:$PORT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$server/status"; }
hwm() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$server/status"; }

export BENCH_CSV=/tmp/segstore_customers_${ROWS}_10.csv
[ -s "$BENCH_CSV" ] || python3 benches/gen_customers.py "$ROWS" --categorical > "$BENCH_CSV"
DATA=uniform serve_bench_store
seg=$(curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" -d '{
  "name": "bench", "config": {
    "features": ["age", "annual_income_k", "spending_score", "orders", "avg_basket",
                 "tenure_days", "returns", "visits"],
    "algorithm": {"type": "kmeans", "k": 8, "n_init": 1, "seed": 42}}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
retrain
RUN=$LAST_RUN
psql -q "$DB_URL" -c "VACUUM ANALYZE"

echo "== GET /v1/customers.csv, $ROWS customers x 10 attributes + segment id and label"
before=$(rss)
for _ in 1 2 3; do
  curl -fsS -o /tmp/segstore_customers_export.csv -w '%{time_total} %{size_download}\n' \
    "$API/v1/customers.csv" | awk -v rows="$ROWS" \
    '{printf "customers.csv %.2f s, %.1f MB, %.0f rows/s\n", $1, $2/1e6, rows/$1}'
done
echo "server RSS before $before MB, after $(rss) MB, peak so far $(hwm) MB; lines: $(wc -l < /tmp/segstore_customers_export.csv)"
head -2 /tmp/segstore_customers_export.csv

echo "== PostgreSQL alone: the two binary COPYs the export reads, and PostgreSQL writing the CSV itself"
# The statements store::export runs (the arrays whole; the attributes are picked out in Rust).
CUSTOMERS="SELECT c.external_id, c.numeric_values, c.categorical_values
  FROM customers c ORDER BY c.external_id"
ASSIGNED="SELECT external_id, run, segment FROM (SELECT external_id, 0::int4 AS run, segment
  FROM assignments WHERE run_id = '$RUN') a ORDER BY external_id"
copy_s() { local a b; a=$(now); psql -q -v ON_ERROR_STOP=1 "$DB_URL" -c "COPY ($1) TO STDOUT (FORMAT $2)" > /dev/null; b=$(now); secs "$a" "$b"; }
for _ in 1 2 3; do
  a=$(now)
  # `wait` on the COPY alone: a bare `wait` would wait for the server too.
  copy_s "$CUSTOMERS" binary > /tmp/segstore_c.s & copying=$!
  copy_s "$ASSIGNED" binary > /tmp/segstore_a.s; wait "$copying"
  b=$(now)
  echo "psql binary COPYs side by side $(secs "$a" "$b") s (customers $(cat /tmp/segstore_c.s) s, assignments $(cat /tmp/segstore_a.s) s)"
done
# The first design: one statement joining them, PostgreSQL writing the CSV (text COPY), labels
# joined, formulas defused in SQL.
safe() { echo "CASE WHEN left($1, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || $1 ELSE $1 END"; }
TEXT_SELECT="SELECT $(safe c.external_id), c.numeric_values[1], c.numeric_values[2], c.numeric_values[3],
  c.numeric_values[4], c.numeric_values[5], c.numeric_values[6], c.numeric_values[7],
  c.numeric_values[8], $(safe 'c.categorical_values[1]'), $(safe 'c.categorical_values[2]'),
  a0.segment, $(safe s0.label)
  FROM customers c
  LEFT JOIN assignments a0 ON a0.run_id = '$RUN' AND a0.external_id = c.external_id
  LEFT JOIN run_segments s0 ON s0.run_id = '$RUN' AND s0.stable_id = a0.segment
  ORDER BY c.external_id"
for _ in 1 2 3; do echo "psql text CSV COPY, one joined statement $(copy_s "$TEXT_SELECT" csv) s"; done

echo "== GET /v1/segmentations/{id}/active/assignments.csv (the export customers.csv is built like)"
for _ in 1 2 3; do
  curl -fsS -o /dev/null -w '%{time_total}\n' "$API/v1/segmentations/$seg/active/assignments.csv" |
    awk -v rows="$ROWS" '{printf "assignments.csv %.2f s, %.0f rows/s\n", $1, rows/$1}'
done

echo "== four more retrains: five runs' assignments kept (the default SEGSTORE_KEEP_ASSIGNMENTS)"
for _ in 1 2 3 4; do retrain; done
psql -q "$DB_URL" -c "VACUUM ANALYZE"
psql -qAt "$DB_URL" -c "SELECT count(*) || ' assignment partitions' FROM pg_inherits WHERE inhparent = 'assignments'::regclass"

echo "== segstore_report views as a report role (live connection)"
role() { DATABASE_URL="$DB_URL?sslmode=disable" SEGSTORE_DATA_DIR="$BENCH_DATA_DIR" "$BIN" --log warn report-role "$@"; }
ROLE_URL=$(role create --name "bench_$$")
trap 'role drop --name "bench_$$"; kill $server 2>/dev/null || true' EXIT
psql -q -v ON_ERROR_STOP=1 "$ROLE_URL" <<'SQL'
\timing on
\echo customers by segment with averages (Tableau: segment_label on Rows, CNT and AVG of two attributes)
SELECT a.segment_label, count(*) AS customers, avg(c.spending_score) AS spend, avg(c.annual_income_k) AS income
FROM assignments a JOIN customers c USING (customer_id)
WHERE a.segmentation = 'bench' GROUP BY a.segment_label;
SELECT a.segment_label, count(*) AS customers, avg(c.spending_score) AS spend, avg(c.annual_income_k) AS income
FROM assignments a JOIN customers c USING (customer_id)
WHERE a.segmentation = 'bench' GROUP BY a.segment_label;
SELECT a.segment_label, count(*) AS customers, avg(c.spending_score) AS spend, avg(c.annual_income_k) AS income
FROM assignments a JOIN customers c USING (customer_id)
WHERE a.segmentation = 'bench' GROUP BY a.segment_label;
\echo customers by country and segment (a categorical attribute)
SELECT c.country, a.segment_id, count(*) FROM assignments a JOIN customers c USING (customer_id) GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 3;
SELECT c.country, a.segment_id, count(*) FROM assignments a JOIN customers c USING (customer_id) GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 3;
\echo the segments view
SELECT segment_id, label, size FROM segments ORDER BY size DESC LIMIT 3;
SQL

echo "== the same query over the assignments view's earlier form (the active run through a join to segmentations), as the owner"
psql -q -v ON_ERROR_STOP=1 "$DB_URL" <<'SQL'
CREATE TEMPORARY VIEW joined AS
SELECT s.segmentation_id, s.name AS segmentation, a.run_id, a.external_id AS customer_id,
       a.segment AS segment_id, g.label AS segment_label, g.persona, a.score
FROM segmentations s JOIN assignments a ON a.run_id = s.active_run_id
LEFT JOIN run_segments g ON g.run_id = a.run_id AND g.stable_id = a.segment;
\timing on
SELECT a.segment_label, count(*), avg(c.spending_score), avg(c.annual_income_k)
FROM joined a JOIN segstore_report.customers c USING (customer_id) WHERE a.segmentation = 'bench' GROUP BY 1;
SELECT a.segment_label, count(*), avg(c.spending_score), avg(c.annual_income_k)
FROM joined a JOIN segstore_report.customers c USING (customer_id) WHERE a.segmentation = 'bench' GROUP BY 1;
SELECT a.segment_label, count(*), avg(c.spending_score), avg(c.annual_income_k)
FROM joined a JOIN segstore_report.customers c USING (customer_id) WHERE a.segmentation = 'bench' GROUP BY 1;
SQL
