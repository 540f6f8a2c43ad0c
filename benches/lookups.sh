#!/usr/bin/env bash
# Customer lookups under wrk (robustness issue): one release server on PostgreSQL over
# loopback, a 1,000,000-customer store (benches/gen_segmented_customers.py) with one
# succeeded run (k = 8), then `wrk -t2 -c64 -d30s --latency` on random customer ids, next to
# `/healthz` (the HTTP stack alone) as the reference; with metrics off (the default) and on.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/lookups.sh [ROWS]
# BENCH_BIN=<another release build> measures that build instead of this checkout's.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_lookups
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18183}
API="http://127.0.0.1:$PORT"
SECONDS_EACH=${WRK_SECONDS:-30}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN=${BENCH_BIN:-$CARGO_TARGET_DIR/release/segstore}
CSV=${BENCH_CSV:-/tmp/segstore_customers_segmented_$ROWS.csv}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --quiet --bin segstore
[ -s "$CSV" ] || python3 benches/gen_segmented_customers.py "$ROWS" > "$CSV"
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

serve() {
  "$BIN" serve --data-dir "$BENCH_DATA_DIR" --database-url "$DB_URL?sslmode=disable" --bind "127.0.0.1:$PORT" \
    --lookup-rate-limit 1000000 --lookup-rate-limit-burst 1000000 "$@" 2>/tmp/segstore_lookups.log &
  server=$!
  for _ in $(seq 100); do curl -fs "$API/readyz" >/dev/null && break; sleep 0.1; done
}
trap 'kill $server 2>/dev/null || true' EXIT

serve
curl -fsS -X POST -H 'Content-Type: text/csv' --data-binary "@$CSV" "$API/v1/customers/import" >/dev/null
seg=$(curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" -d '{
  "name": "bench", "config": {
    "features": ["age", "annual_income_k", "spending_score", "orders", "avg_basket",
                 "tenure_days", "returns", "visits"],
    "algorithm": {"type": "kmeans", "k": 8, "n_init": 3, "seed": 42}}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
run=$(curl -fsS -X POST "$API/v1/segmentations/$seg/runs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
while [ "$(curl -fsS "$API/v1/runs/$run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" != succeeded ]; do sleep 0.2; done

cat > /tmp/segstore_lookup.lua <<LUA
math.randomseed(42)
wrk.headers["Authorization"] = "Bearer $(bench_key)"
request = function()
  return wrk.format("GET", string.format("/v1/segmentations/$seg/customers/C%07d", math.random(0, $ROWS - 1)))
end
LUA
measure() {
  # Warm-up (discarded): the first lookups read PostgreSQL while the run loads into memory.
  wrk -t2 -c64 -d10s -s /tmp/segstore_lookup.lua "$API" > /dev/null
  echo "== $1: /healthz"
  wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency "$API/healthz" | grep -E "Requests/sec|  50%|  99%|Non-2xx"
  echo "== $1: lookups"
  wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency -s /tmp/segstore_lookup.lua "$API" | grep -E "Requests/sec|  50%|  99%|Non-2xx|requests in"
}
measure "metrics off (default log level)"
kill $server; wait $server 2>/dev/null || true
serve --metrics-bind 127.0.0.1:0
measure "metrics on"
echo "server log lines written: $(wc -l < /tmp/segstore_lookups.log)"
