#!/usr/bin/env bash
# One node at scale (scale-out issue): every phase of the store's life at ROWS customers × 8
# features, each retrain's peak memory against the feature matrix (ROWS × 8 × 8 bytes).
#  1. the import of the generated segmented store through the API (timed, rows/s);
#  2. retrains over HTTP, each with its own peak RSS (the server's VmHWM, reset before the run
#     through /proc/PID/clear_refs): K-Means k = 8 (n_init 3), twice; the default `k: auto`;
#     `minibatch_kmeans` k = 8;
#  3. the CSV export of the last K-Means run (rows/s).
# The run's phases (snapshot, train, drift, write, activate) and the engine's come from the
# run itself. Run at 1M and 10M in one session for the scaling table in BENCHMARKS.md.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/scale.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_scale
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18186}
API="http://127.0.0.1:$PORT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
FEATURES='"age", "annual_income_k", "spending_score", "orders", "avg_basket", "tenure_days", "returns", "visits"'
MATRIX_MIB=$(echo "$ROWS * 8 * 8 / 1048576" | bc -l)
mb() { awk -v k="$1" '$1 == k":" {printf "%.0f", $2/1024}' "/proc/$server/status"; }

cargo build --release --quiet --bin segstore # not timed with the import
t0=$(now)
serve_bench_store
t1=$(now)
echo "import (generated CSV through the API, then VACUUM ANALYZE): $(secs "$t0" "$t1") s," \
  "$(echo "$ROWS / $(secs "$t0" "$t1")" | bc) rows/s; server RSS $(mb VmRSS) MiB, peak $(mb VmHWM) MiB"
printf 'feature matrix: %.0f MiB\n' "$MATRIX_MIB"

segmentation() {
  curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" \
    -d "{\"name\": \"$1\", \"config\": {\"features\": [$FEATURES], \"algorithm\": $2}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# A retrain of $seg with its own peak: the high-water mark is reset to the current RSS first.
measured() {
  local before peak
  before=$(mb VmRSS)
  echo 5 > "/proc/$server/clear_refs"
  retrain
  peak=$(mb VmHWM)
  printf '  server RSS before %s MiB, peak during the run %s MiB: %.2f× the matrix (growth %.2f×); after %s MiB\n' \
    "$before" "$peak" "$(echo "$peak / $MATRIX_MIB" | bc -l)" \
    "$(echo "($peak - $before) / $MATRIX_MIB" | bc -l)" "$(mb VmRSS)"
}

echo "== K-Means k = 8, n_init 3"
seg=$(segmentation kmeans '{"type": "kmeans", "k": 8, "n_init": 3, "seed": 42}')
measured
measured
KMEANS_RUN=$LAST_RUN
echo "== K-Means, k: auto (the default 2..10)"
seg=$(segmentation auto '{"type": "kmeans", "k": "auto", "seed": 42}')
measured
echo "== mini-batch K-Means k = 8"
seg=$(segmentation minibatch '{"type": "minibatch_kmeans", "k": 8, "seed": 42}')
measured

echo "== CSV export of run $KMEANS_RUN"
for _ in 1 2; do
  curl -fsS -o /tmp/segstore_export.csv -w '%{time_total} %{size_download}\n' \
    -H 'Accept: text/csv' "$API/v1/runs/$KMEANS_RUN/assignments" | awk -v rows="$ROWS" \
    '{printf "export %.2f s, %.1f MB, %.0f rows/s\n", $1, $2/1e6, rows/$1}'
done
echo "lines: $(wc -l < /tmp/segstore_export.csv); server RSS $(mb VmRSS) MiB"
