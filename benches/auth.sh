#!/usr/bin/env bash
# What keys cost (security issue): the same work against two release builds in one session,
# BEFORE_BIN (a build from before keys, e.g. commit 944e57b) and this checkout's (every /v1
# call authenticated, scope checked, rate-limited, writes audited). Each on a fresh database:
# a 1,000,000-customer CSV import, one retrain (k-means, k = 8, 8 features), the CSV export,
# then customer lookups under `wrk -t2 -c64 --latency` (the lookup budget set high enough not
# to refuse, so the bucket is checked on every call).
#
#   git worktree add /tmp/before 944e57b && (cd /tmp/before && cargo build --release --bin segstore)
#   BEFORE_BIN=/tmp/before/target/release/segstore \
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/auth.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_auth
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18184}
API="http://127.0.0.1:$PORT"
SECONDS_EACH=${WRK_SECONDS:-30}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
AFTER_BIN="$CARGO_TARGET_DIR/release/segstore"
BEFORE_BIN=${BEFORE_BIN:?BEFORE_BIN names a release build from before keys}
CSV=${BENCH_CSV:-/tmp/segstore_customers_segmented_$ROWS.csv}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --quiet --bin segstore
[ -s "$CSV" ] || python3 benches/gen_segmented_customers.py "$ROWS" > "$CSV"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null || true' EXIT

run_side() {
  local side=$1 bin=$2; shift 2
  rm -f "$BENCH_DATA_DIR/admin.key"
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  "$bin" --log warn serve --data-dir "$BENCH_DATA_DIR" --database-url "$DB_URL?sslmode=disable" \
    --bind "127.0.0.1:$PORT" "$@" &
  server=$!
  for _ in $(seq 100); do curl -fs "$API/readyz" >/dev/null && break; sleep 0.1; done
  local t0 t1 import_s train_s export_s
  t0=$(now)
  curl -fsS -X POST -H 'Content-Type: text/csv' --data-binary "@$CSV" "$API/v1/customers/import" >/dev/null
  t1=$(now); import_s=$(secs "$t0" "$t1")
  local seg run
  seg=$(curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" -d '{
    "name": "bench", "config": {
      "features": ["age", "annual_income_k", "spending_score", "orders", "avg_basket",
                   "tenure_days", "returns", "visits"],
      "algorithm": {"type": "kmeans", "k": 8, "n_init": 3, "seed": 42}}}' | json '["id"]')
  t0=$(now)
  run=$(curl -fsS -X POST "$API/v1/segmentations/$seg/runs" | json '["id"]')
  while [ "$(curl -fsS "$API/v1/runs/$run" | json '["status"]')" != succeeded ]; do sleep 0.1; done
  t1=$(now); train_s=$(secs "$t0" "$t1")
  t0=$(now)
  curl -fsS -o /tmp/segstore_auth_export.csv "$API/v1/runs/$run/assignments.csv"
  t1=$(now); export_s=$(secs "$t0" "$t1")
  cat > /tmp/segstore_auth_lookup.lua <<LUA
wrk.headers["Authorization"] = "Bearer $(bench_key)"
math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/v1/segmentations/$seg/customers/C%07d", math.random(0, $ROWS - 1)))
end
LUA
  wrk -t2 -c64 -d10s -s /tmp/segstore_auth_lookup.lua "$API" > /dev/null
  local out
  out=$(wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency -s /tmp/segstore_auth_lookup.lua "$API")
  printf '%-7s import %6.2f s  retrain %6.2f s  export %5.2f s (%s lines)  lookups %s req/s  p50 %s  p99 %s  non-2xx %s\n' \
    "$side" "$import_s" "$train_s" "$export_s" "$(wc -l < /tmp/segstore_auth_export.csv)" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(echo "$out" | awk '$1 == "50%" {print $2}')" "$(echo "$out" | awk '$1 == "99%" {print $2}')" \
    "$(echo "$out" | awk '/Non-2xx/ {print $NF}' | grep . || echo 0)"
  kill $server; wait $server 2>/dev/null || true; server=
}

for round in 1 2; do
  run_side before "$BEFORE_BIN"
  run_side after "$AFTER_BIN" --lookup-rate-limit 1000000 --lookup-rate-limit-burst 1000000
done
