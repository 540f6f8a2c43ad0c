#!/usr/bin/env bash
# Runs benchmark (issue: runs over HTTP), on one PostgreSQL database, in one session:
#  1. a generated 1,000,000-customer × 8-attribute store (imported through the API);
#  2. full retrains over HTTP (snapshot, K-Means k = 8 with n_init = 3 on 8 standardised
#     features, 1M assignments and profiles written, activation), timed from the POST to the
#     poll that sees `succeeded`, with the run's own phase timings;
#  3. the references: `psql` COPY of the same snapshot (binary, out) and of the same
#     assignments (binary, in, into a fresh table then indexed like segstore's partition);
#  4. the CSV export of the 1M assignments (rows/s, the server's RSS before and after);
#  5. the run's charts (scatter of its 20,000-customer sample, segments), SVG and PNG;
#  6. the customer lookup under wrk (64 connections, 30 s), idle and during retrains.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres [DATA=segmented|uniform] bash benches/retrain.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_runs
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18182}
API="http://127.0.0.1:$PORT"
WRK_SECONDS=${WRK_SECONDS:-30}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$server/status"; }
hwm() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$server/status"; }

# DATA=segmented|uniform (see serve_bench_store in common.sh).
# SERVE_ARGS="--metrics-bind 127.0.0.1:0" measures with the metrics on.
# shellcheck disable=SC2086
serve_bench_store ${SERVE_ARGS:-}
seg=$(curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" -d '{
  "name": "bench", "config": {
    "features": ["age", "annual_income_k", "spending_score", "orders", "avg_basket",
                 "tenure_days", "returns", "visits"],
    "algorithm": {"type": "kmeans", "k": 8, "n_init": 3, "seed": 42}}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

echo "== retrains, $ROWS customers x 8 features, k = 8, n_init = 3"
retrain; retrain; retrain
RUN=$LAST_RUN

# References: psql COPY of the same data.
best() {
  local best=
  for _ in 1 2 3; do
    local a b d; a=$(now); psql -q -v ON_ERROR_STOP=1 "$DB_URL" "$@" > /dev/null || exit 1; b=$(now); d=$(secs "$a" "$b")
    if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then best=$d; fi
  done
  echo "$best"
}
read_s=$(best -c "COPY (SELECT external_id, numeric_values[1], numeric_values[2], numeric_values[3],
  numeric_values[4], numeric_values[5], numeric_values[6], numeric_values[7], numeric_values[8]
  FROM customers) TO STDOUT (FORMAT binary)")
psql -q "$DB_URL" -c "\\copy (SELECT run_id, external_id, segment, score FROM assignments WHERE run_id = '$RUN') TO '/tmp/segstore_assignments.bin' WITH (FORMAT binary)"
write_s=$(best -c "DROP TABLE IF EXISTS ref_assignments" \
  -c "CREATE TABLE ref_assignments (LIKE assignments)" \
  -c "\\copy ref_assignments FROM '/tmp/segstore_assignments.bin' WITH (FORMAT binary)" \
  -c "ALTER TABLE ref_assignments ADD PRIMARY KEY (run_id, external_id)")
psql -q "$DB_URL" -c "DROP TABLE ref_assignments"
echo "psql COPY out of the snapshot (best of 3): ${read_s} s"
echo "psql COPY in of the assignments + primary key (best of 3): ${write_s} s"

# CSV export.
echo "== CSV export of run $RUN"
before=$(rss)
for _ in 1 2 3; do
  curl -fsS -o /tmp/segstore_export.csv -w '%{time_total} %{size_download}\n' \
    -H 'Accept: text/csv' "$API/v1/runs/$RUN/assignments" | awk -v rows="$ROWS" \
    '{printf "export %.2f s, %.1f MB, %.0f rows/s\n", $1, $2/1e6, rows/$1}'
done
echo "server RSS before $before MB, after $(rss) MB, peak so far $(hwm) MB; lines: $(wc -l < /tmp/segstore_export.csv)"

# Charts of the 1M run: the scatter draws the run's 20,000-customer sample (PCA of 8 features).
echo "== charts of run $RUN (3 requests each; time, size)"
for chart in "charts/scatter.svg" "charts/scatter.svg?format=png" "charts/segments.svg" \
             "charts/segments.svg?format=png"; do
  for _ in 1 2 3; do
    curl -fsS -o /tmp/segstore_chart -w "$chart %{time_total} s %{size_download} bytes\n" "$API/v1/runs/$RUN/$chart"
  done
done

# Lookups.
cat > /tmp/segstore_lookup.lua <<LUA
math.randomseed(42)
wrk.headers["Authorization"] = "Bearer $(bench_key)"
request = function()
  return wrk.format("GET", string.format("/v1/segmentations/$seg/customers/C%07d", math.random(0, $ROWS - 1)))
end
LUA
# Warm-up (discarded): the first lookups of a run read PostgreSQL while the replica loads the
# run into memory (about a second per million assignments).
wrk -t2 -c64 -d10s -s /tmp/segstore_lookup.lua "$API" > /dev/null
echo "server RSS with the lookup cache warm: $(rss) MB"
echo "== lookups, idle"
wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency -s /tmp/segstore_lookup.lua "$API" | grep -E "Requests/sec|Latency|  50%|  99%|Non-2xx|requests in"
echo "== lookups during back-to-back retrains"
( for _ in 1 2 3 4 5 6; do retrain; done ) > /tmp/segstore_retrains_during.txt &
retrains=$!
sleep 1
wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency -s /tmp/segstore_lookup.lua "$API" | grep -E "Requests/sec|Latency|  50%|  99%|Non-2xx|requests in"
wait $retrains || true
cat /tmp/segstore_retrains_during.txt
