#!/usr/bin/env bash
# Bulk-ingest benchmark (issue: foundation). On one PostgreSQL database, in one session:
#  1. `psql \copy` of a generated 1M-customer CSV into a plain wide table with a primary key
#     (the reference);
#  2. the same file through `POST /v1/customers/import` of a release server, with the server's
#     peak resident memory (VmHWM) read from /proc;
#  3. a re-import of the same file (every customer already present);
#  4. the clustering snapshot: `COPY (...) TO STDOUT (FORMAT binary)` of 8 numeric features from
#     segstore's array layout against the same from the wide table (best of 3 each).
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/import.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18181}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
CSV=${BENCH_CSV:-/tmp/segstore_customers_$ROWS.csv}

cargo build --release --quiet --bin segstore
[ -s "$CSV" ] || python3 benches/gen_customers.py "$ROWS" > "$CSV"
echo "file: $CSV, $(($(wc -l < "$CSV") - 1)) rows, $(du -m "$CSV" | cut -f1) MB"

psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

# 1. The reference: psql \copy into a wide table with a primary key.
psql -q "$DB_URL" -c "CREATE TABLE wide (customer_id text PRIMARY KEY, age float8, annual_income_k float8,
  spending_score float8, orders float8, avg_basket float8, tenure_days float8, returns float8, visits float8)"
t0=$(now)
psql -q "$DB_URL" -c "\\copy wide FROM '$CSV' WITH (FORMAT csv, HEADER true)"
t1=$(now)
copy_s=$(secs "$t0" "$t1")

# 2. The API import.
# SERVE_ARGS="--metrics-bind 127.0.0.1:0" measures with the metrics on.
"$BIN" --log warn serve --data-dir "$BENCH_DATA_DIR" --database-url "$DB_URL" --bind "127.0.0.1:$PORT" ${SERVE_ARGS:-} &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
import() {
  curl -fsS -X POST -H 'Content-Type: text/csv' --data-binary "@$CSV" \
    "http://127.0.0.1:$PORT/v1/customers/import" -o /tmp/segstore_import_answer.json
}
t0=$(now); import; t1=$(now)
api_s=$(secs "$t0" "$t1")
rss_mb=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$server/status")
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print("answer:", {k: a[k] for k in ("received","inserted","updated","unchanged")})' /tmp/segstore_import_answer.json

# 3. Re-import: every customer exists already, nothing changes.
t0=$(now); import; t1=$(now)
reimport_s=$(secs "$t0" "$t1")
rss2_mb=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$server/status")
kill $server; wait $server 2>/dev/null || true; trap - EXIT

# 4. Snapshot of 8 numeric features, binary COPY out, best of 3.
best() {
  local best=
  for _ in 1 2 3; do
    local a b d; a=$(now); psql -q -v ON_ERROR_STOP=1 "$DB_URL" -c "$1" > /dev/null || exit 1; b=$(now); d=$(secs "$a" "$b")
    if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then best=$d; fi
  done
  echo "$best"
}
psql -q -v ON_ERROR_STOP=1 "$DB_URL" -c "VACUUM ANALYZE customers" -c "VACUUM ANALYZE wide"
arr_s=$(best "COPY (SELECT external_id, numeric_values[1], numeric_values[2], numeric_values[3], numeric_values[4],
  numeric_values[5], numeric_values[6], numeric_values[7], numeric_values[8] FROM customers) TO STDOUT (FORMAT binary)")
whole_s=$(best "COPY (SELECT external_id, numeric_values FROM customers) TO STDOUT (FORMAT binary)")
wide_s=$(best "COPY (SELECT customer_id, age, annual_income_k, spending_score, orders, avg_basket, tenure_days,
  returns, visits FROM wide) TO STDOUT (FORMAT binary)")
sizes=$(psql -qtA "$DB_URL" -c "SELECT pg_size_pretty(pg_total_relation_size('customers')) || ' vs ' || pg_size_pretty(pg_total_relation_size('wide'))")

printf '\n%-58s %8s\n' "measurement ($ROWS customers)" "seconds"
printf '%-58s %8.2f\n' "psql \\copy into a wide table with a primary key" "$copy_s"
printf '%-58s %8.2f  (%.2fx \\copy, peak RSS %s MB)\n' "POST /v1/customers/import, empty store" "$api_s" "$(echo "$api_s / $copy_s" | bc -l)" "$rss_mb"
printf '%-58s %8.2f  (peak RSS %s MB)\n' "POST /v1/customers/import again, all present" "$reimport_s" "$rss2_mb"
printf '%-58s %8.2f\n' "COPY 8 features TO STDOUT binary, segstore, 8 subscripts" "$arr_s"
printf '%-58s %8.2f\n' "COPY 8 features TO STDOUT binary, segstore, whole array" "$whole_s"
printf '%-58s %8.2f  (whole array/wide %.2fx)\n' "COPY 8 features TO STDOUT binary, wide table" "$wide_s" "$(echo "$whole_s / $wide_s" | bc -l)"
echo "table sizes (segstore vs wide): $sizes"
psql -q "$ADMIN_URL" -c "DROP DATABASE $DB WITH (FORCE)"
