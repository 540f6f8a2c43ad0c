#!/usr/bin/env bash
# Order import and RFM benchmark (issue: orders and RFM): the UCI Online Retail file (541,909
# lines) through `POST /v1/orders/import` of a release server on an empty database, then again
# (every line present), then `POST /v1/rfm/refresh` three times; three fresh databases. At the
# end: the full file's R, F and M figures and the named segments, and `psql \copy` of the same
# file into a plain text table for reference.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/orders.sh [path/to/online_retail.csv.gz]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
GZ=${1:-examples/data/online_retail.csv.gz}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_orders
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18185}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
CSV=/tmp/segstore_online_retail.csv

cargo build --release --quiet --bin segstore
zcat "$GZ" > "$CSV"
echo "file: $(($(wc -l < "$CSV") - 1)) lines, $(du -m "$CSV" | cut -f1) MB"

for run in 1 2 3; do
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  "$BIN" --log warn serve --data-dir "$BENCH_DATA_DIR" --database-url "$DB_URL?sslmode=disable" --bind "127.0.0.1:$PORT" --run-workers 0 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  for pass in "empty store" "again, all present"; do
    t0=$(now)
    curl -fsS -X POST -H 'Content-Type: text/csv' --data-binary "@$CSV" \
      "http://127.0.0.1:$PORT/v1/orders/import" -o /tmp/segstore_orders_answer.json
    t1=$(now)
    printf 'run %s, %-20s %6.2f s  ' "$run" "$pass:" "$(secs "$t0" "$t1")"
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print({k: a[k] for k in ("lines","inserted","unchanged","customers_created","skipped","excluded_from_rfm")})' /tmp/segstore_orders_answer.json
  done
  for call in 1 2 3; do
    t0=$(now)
    curl -fsS -X POST "http://127.0.0.1:$PORT/v1/rfm/refresh" -o /tmp/segstore_rfm_answer.json
    t1=$(now)
    printf 'run %s, RFM refresh %s: %6.3f s  ' "$run" "$call" "$(secs "$t0" "$t1")"
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print({k: a[k] for k in ("reference_date","customers_with_rfm","customers_without_rfm","ms")})' /tmp/segstore_rfm_answer.json
  done
  echo "server peak RSS: $(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$server/status") MB"
  if [ "$run" = 3 ]; then
    curl -fsS "http://127.0.0.1:$PORT/v1/rfm/segments" -o /tmp/segstore_rfm_segments.json
    python3 - /tmp/segstore_rfm_segments.json <<'PY'
import json, sys
print("named segment          customers  share  revenue share  mean R / F / M")
for s in json.load(open(sys.argv[1]))["segments"]:
    print(f"{s['segment']:<22} {s['customers']:>9}  {s['share']:5.1%}  {s['revenue_share']:13.1%}  "
          f"{s['mean_recency_days']:.1f} / {s['mean_frequency']:.1f} / {s['mean_monetary']:,.1f}")
PY
    psql -q "$DB_URL" -c "SELECT a.name, min(v), percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS median,
        round(avg(v)::numeric, 2) AS mean, max(v), count(v) AS customers
      FROM attributes a CROSS JOIN customers c CROSS JOIN LATERAL (SELECT c.numeric_values[a.position] AS v) x
      WHERE a.name IN ('rfm_recency_days', 'rfm_frequency', 'rfm_monetary') AND a.kind = 'numeric'
      GROUP BY a.name ORDER BY a.name DESC"
  fi
  kill $server; wait $server 2>/dev/null || true; trap - EXIT
done

psql -q "$DB_URL" -c "CREATE TABLE raw (invoice_no text, stock_code text, description text, quantity text,
  invoice_date text, unit_price text, customer_id text, country text)"
t0=$(now)
psql -q "$DB_URL" -c "\\copy raw FROM '$CSV' WITH (FORMAT csv, HEADER true)"
t1=$(now)
echo "psql \\copy into a text table, no index: $(secs "$t0" "$t1") s"
