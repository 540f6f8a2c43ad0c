#!/usr/bin/env bash
# Customer lookups on one replica and on three replicas of one database, same session:
#  1. the store of ROWS customers × 8 (imported through the API), one K-Means run (k = 8);
#  2. one replica, its cache warm: wrk, 64 connections;
#  3. two more replicas started cold: the first seconds of lookups on one of them while it
#     loads the run (answers, non-2xx, p99), then all three at once, each with its own wrk
#     (64 connections each): aggregate requests/s and each one's p99.
# Every process shares the machine's cores (2 here): the aggregate says what three replicas
# on one box give, not three boxes.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/replicas.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_replicas
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18192}
API="http://127.0.0.1:$PORT"
WRK_SECONDS=${WRK_SECONDS:-20}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

serve_bench_store --http-workers 1 --run-workers 1 --lookup-rate-limit 0 --rate-limit 0 \
  --metrics-bind "127.0.0.1:$((PORT + 1000))"
seg=$(curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" -d '{
  "name": "bench", "config": {
    "features": ["age", "annual_income_k", "spending_score", "orders", "avg_basket",
                 "tenure_days", "returns", "visits"],
    "algorithm": {"type": "kmeans", "k": 8, "n_init": 3, "seed": 42}}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "== one retrain, $ROWS customers"
retrain

cat > /tmp/segstore_replicas.lua <<LUA
math.randomseed(42)
wrk.headers["Authorization"] = "Bearer $(bench_key)"
request = function()
  return wrk.format("GET", string.format("/v1/segmentations/$seg/customers/C%07d", math.random(0, $ROWS - 1)))
end
LUA
summary() { grep -E "Requests/sec|  99%|Non-2xx|requests in" | tr -s ' ' | paste -sd ' ' -; }

# A replica is warm once a lookup has started its loads, its cache holds the run (at least
# 24 bytes a customer) and then every customer's change time, both polled on its metrics.
metric() {
  command curl -fsS "http://127.0.0.1:$(($1 + 1000))/metrics" | awk -v m="$2" '$1 == m {print int($2)}'
}
warm() {
  local p=$1 t0 t1
  t0=$(now)
  command curl -fsS -o /dev/null -H "Authorization: Bearer $(bench_key)" \
    "http://127.0.0.1:$p/v1/segmentations/$seg/customers/C0000000"
  until [ "$(metric "$p" segstore_lookup_cache_bytes)" -ge $((ROWS * 24)) ] 2>/dev/null; do
    sleep 0.5
  done
  t1=$(now)
  # The change times load after the run, on the next lookup.
  command curl -fsS -o /dev/null -H "Authorization: Bearer $(bench_key)" \
    "http://127.0.0.1:$p/v1/segmentations/$seg/customers/C0000000"
  until [ "$(metric "$p" segstore_lookup_change_times)" -ge "$ROWS" ] 2>/dev/null; do
    sleep 0.5
  done
  echo "replica :$p warm after $(secs "$t0" "$(now)") s (the run after $(secs "$t0" "$t1") s, then the change times in $(secs "$t1" "$(now)") s)"
}
warm "$PORT"
echo "== one replica, warm (RSS $(rss "$server") MB)"
wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency -s /tmp/segstore_replicas.lua "$API" | summary

# Two more, cold.
others=()
for p in $((PORT + 1)) $((PORT + 2)); do
  "$BIN" --log warn serve --data-dir "$BENCH_DATA_DIR" --database-url "$DB_URL?sslmode=disable" \
    --bind "127.0.0.1:$p" --http-workers 1 --run-workers 1 --lookup-rate-limit 0 --rate-limit 0 \
    --metrics-bind "127.0.0.1:$((p + 1000))" &
  others+=($!)
done
trap 'kill $server "${others[@]}" 2>/dev/null || true' EXIT
for p in $((PORT + 1)) $((PORT + 2)); do
  for _ in $(seq 100); do command curl -fs "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.1; done
done
echo "== a cold replica's first 10 s of lookups (it loads the run meanwhile)"
wrk -t1 -c64 -d10s --latency -s /tmp/segstore_replicas.lua "http://127.0.0.1:$((PORT + 1))" | summary
# Warm the other two, then all three at once.
warm $((PORT + 1))
warm $((PORT + 2))
echo "== three replicas at once, one wrk each (64 connections)"
loads=()
for p in $PORT $((PORT + 1)) $((PORT + 2)); do
  wrk -t1 -c64 -d"${WRK_SECONDS}s" --latency -s /tmp/segstore_replicas.lua "http://127.0.0.1:$p" \
    > "/tmp/segstore_replicas_$p.txt" &
  loads+=($!)
done
wait "${loads[@]}"
total=0
for p in $PORT $((PORT + 1)) $((PORT + 2)); do
  echo "replica :$p $(summary < "/tmp/segstore_replicas_$p.txt")"
  rps=$(awk '/Requests\/sec/ {print $2}' "/tmp/segstore_replicas_$p.txt")
  total=$(echo "$total + $rps" | bc)
done
echo "aggregate: $total requests/s; RSS $(rss "$server") / $(rss "${others[0]}") / $(rss "${others[1]}") MB"
