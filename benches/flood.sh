#!/usr/bin/env bash
# A flood of made-up keys against one replica (security issue): what a valid key's lookups and
# writes get, idle and while 1,000 connections send requests with random keys; what the flood
# costs the database (transactions, key reads) and the log (bytes a minute at `info`).
#  1. a store of ROWS customers (imported through the API) and one K-Means run;
#  2. idle: the valid key's mix (9 lookups to 1 single-customer write) under
#     `wrk -t1 -c8 --latency` for WRK_SECONDS: requests/s and p50/p99;
#  3. flood: `wrk -t1 -c1000` of GET /v1/customers and /v1/keys, each with a new random
#     well-formed key, for FLOOD_SECONDS; the valid key's mix again meanwhile (same wrk as
#     in 2); then the database's committed transactions and the server's key reads and
#     refusals during the flood (its metrics), and how much the server logged.
# Rate limits are off for the valid key (--rate-limit 0 --lookup-rate-limit 0); the refusal
# budget of an address is not a setting. Everything shares the machine's cores (2 here):
# wrk's flood, the valid key's wrk, the server and PostgreSQL.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/flood.sh [ROWS]
# BEFORE_BIN=<an older release build> runs the same against it first, for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-100000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_flood
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18196}
API="http://127.0.0.1:$PORT"
WRK_SECONDS=${WRK_SECONDS:-20}
FLOOD_SECONDS=${FLOOD_SECONDS:-60}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
# wrk opens 1,000 connections and the server as many: raise the limit where it is lower.
[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096
LOG=/tmp/segstore_flood_server.log
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
summary() { grep -E "Requests/sec|  50%|  99%|Non-2xx|requests in|Socket errors" | tr -s ' ' | paste -sd ' ' -; }
metric() { command curl -fsS "http://127.0.0.1:$((PORT + 1000))/metrics" | awk -v m="$1" 'index($1, m) == 1 {s += $2} END {print s + 0}'; }
commits() { psql -qtA "$DB_URL" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }

cargo build --release --quiet --bin segstore
CSV=${BENCH_CSV:-/tmp/segstore_customers_segmented_$ROWS.csv}
[ -s "$CSV" ] || python3 benches/gen_segmented_customers.py "$ROWS" > "$CSV"
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null || true' EXIT

run_side() {
  local side=$1 bin=$2
  rm -f "$BENCH_DATA_DIR/admin.key"
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  "$bin" --log info --log-format json serve --data-dir "$BENCH_DATA_DIR" \
    --database-url "$DB_URL?sslmode=disable" --bind "127.0.0.1:$PORT" \
    --metrics-bind "127.0.0.1:$((PORT + 1000))" --rate-limit 0 --lookup-rate-limit 0 \
    2> "$LOG" &
  server=$!
  for _ in $(seq 100); do curl -fs "$API/readyz" >/dev/null && break; sleep 0.1; done
  curl -fsS -X POST -H 'Content-Type: text/csv' --data-binary "@$CSV" "$API/v1/customers/import" >/dev/null
  seg=$(curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" -d '{
    "name": "bench", "config": {
      "features": ["age", "annual_income_k", "spending_score", "orders", "avg_basket",
                   "tenure_days", "returns", "visits"],
      "algorithm": {"type": "kmeans", "k": 8, "n_init": 3, "seed": 42}}}' | json '["id"]')
  retrain >/dev/null
  # The valid key: 9 lookups to 1 write of one customer.
  cat > /tmp/segstore_flood_valid.lua <<LUA
math.randomseed(7)
local n = 0
request = function()
  n = n + 1
  local id = string.format("C%07d", math.random(0, $ROWS - 1))
  local headers = { ["Authorization"] = "Bearer $(bench_key)" }
  if n % 10 == 0 then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/v1/customers", headers,
      string.format('{"customers":[{"id":"%s","attributes":{"visits":%d}}]}', id, n % 50))
  end
  return wrk.format("GET", "/v1/segmentations/$seg/customers/" .. id, headers)
end
LUA
  # The flood: a new well-formed random key on every request (segk_ + 12 hex + _ + 43 base64url).
  cat > /tmp/segstore_flood_keys.lua <<'LUA'
local hex = "0123456789abcdef"
local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function pick(set, n)
  local t = {}
  for i = 1, n do local k = math.random(1, #set); t[i] = set:sub(k, k) end
  return table.concat(t)
end
local paths = { "/v1/customers", "/v1/keys" }
local n = 0
request = function()
  n = n + 1
  local key = "segk_" .. pick(hex, 12) .. "_" .. pick(b64, 43)
  return wrk.format("GET", paths[n % 2 + 1], { ["Authorization"] = "Bearer " .. key })
end
LUA
  # Warm the valid key's lookups (the run in the lookup cache).
  wrk -t1 -c8 -d5s -s /tmp/segstore_flood_valid.lua "$API" >/dev/null
  echo "== $side: idle, the valid key's mix, wrk -t1 -c8 ${WRK_SECONDS}s"
  wrk -t1 -c8 -d"${WRK_SECONDS}s" --latency -s /tmp/segstore_flood_valid.lua "$API" | summary
  local log0 tx0 reads0 refused0 t0
  log0=$(stat -c %s "$LOG"); tx0=$(commits); reads0=$(metric segstore_key_reads_total)
  refused0=$(metric segstore_refused_requests_total); t0=$(now)
  wrk -t1 -c1000 -d"${FLOOD_SECONDS}s" --timeout 10s --latency -s /tmp/segstore_flood_keys.lua "$API" \
    > /tmp/segstore_flood_attack.txt &
  local attack=$!
  sleep 5
  echo "== $side: flood of 1,000 connections of random keys; the valid key's mix meanwhile"
  wrk -t1 -c8 -d"${WRK_SECONDS}s" --latency -s /tmp/segstore_flood_valid.lua "$API" | summary
  wait $attack
  local elapsed
  elapsed=$(secs "$t0" "$(now)")
  echo "flood: $(summary < /tmp/segstore_flood_attack.txt)"
  local bytes tx reads refused
  bytes=$(( $(stat -c %s "$LOG") - log0 ))
  tx=$(( $(commits) - tx0 ))
  reads=$(python3 -c "print(int($(metric segstore_key_reads_total) - $reads0))")
  refused=$(python3 -c "print(int($(metric segstore_refused_requests_total) - $refused0))")
  python3 - "$elapsed" "$bytes" "$tx" "$reads" "$refused" <<'PY'
import sys
elapsed, log_bytes, tx, reads, refused = map(float, sys.argv[1:])
print(f"during {elapsed:.0f} s: {refused:,.0f} refused, {reads:,.0f} key reads, {tx:,.0f} database "
      f"transactions (every source), log {log_bytes:,.0f} bytes = {log_bytes / elapsed * 60 / 1e6:.3f} MB a minute")
PY
  kill "$server"; wait "$server" 2>/dev/null || true; server=
}

if [ -n "${BEFORE_BIN:-}" ]; then
  run_side before "$BEFORE_BIN"
fi
run_side after "$BIN"
