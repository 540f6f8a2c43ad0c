#!/usr/bin/env bash
# Order import benchmark (issue: orders and RFM): the UCI Online Retail file (541,909 lines)
# through `POST /v1/orders/import` of a release server on an empty database, then again (every
# line present), and `psql \copy` of the same file into a plain text table for reference.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/orders.sh [path/to/online_retail.csv.gz]
set -euo pipefail
cd "$(dirname "$0")/.."
GZ=${1:-../shared/data/online_retail.csv.gz}
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
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

for run in 1 2 3; do
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  "$BIN" --log warn serve --database-url "$DB_URL?sslmode=disable" --bind "127.0.0.1:$PORT" --run-workers 0 &
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
  echo "server peak RSS: $(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$server/status") MB"
  kill $server; wait $server 2>/dev/null || true; trap - EXIT
done

psql -q "$DB_URL" -c "CREATE TABLE raw (invoice_no text, stock_code text, description text, quantity text,
  invoice_date text, unit_price text, customer_id text, country text)"
t0=$(now)
psql -q "$DB_URL" -c "\\copy raw FROM '$CSV' WITH (FORMAT csv, HEADER true)"
t1=$(now)
echo "psql \\copy into a text table, no index: $(secs "$t0" "$t1") s"
