#!/usr/bin/env bash
# The default configuration (`k: auto`, 2..10, silhouette, n_init auto: 10 at this size) on a 1M-customer store,
# end to end over HTTP (engine issue, second step): POST → succeeded, three retrains, with
# the run's phases, the k chosen and the rows its sweep fitted. Then, with FULL_SWEEP=1, the
# same data through `segstore cluster` twice, sweeping the default sample and every row, to
# show the two choose the same k.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres [DATA=segmented|uniform] [FULL_SWEEP=1] \
#     bash benches/k_auto.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_k_auto
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18185}
API="http://127.0.0.1:$PORT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
FEATURES='"age", "annual_income_k", "spending_score", "orders", "avg_basket", "tenure_days", "returns", "visits"'

serve_bench_store
# The default configuration: only the features are given.
seg=$(curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" \
  -d "{\"name\": \"k auto\", \"config\": {\"features\": [$FEATURES]}}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fsS "$API/v1/segmentations/$seg" | python3 -c 'import json,sys; print("algorithm:", json.load(sys.stdin)["config"]["algorithm"])'
echo "== retrains, $ROWS customers x 8 features, the default k: auto"
retrain; retrain; retrain
curl -fsS "$API/v1/runs/$LAST_RUN/elbow" | python3 -c '
import json, sys
e = json.load(sys.stdin)
print("sweep rows", e["sweep_rows"], "sampled", e["sweep_sampled"], "elbow_k", e["elbow_k"],
      "best_silhouette_k", e["best_silhouette_k"])
print("silhouette by k:", {p["k"]: round(p["silhouette"], 4) for p in e["curve"] if p.get("silhouette") is not None})'

if [ "${FULL_SWEEP:-0}" = 1 ]; then
  cols=$(echo "$FEATURES" | tr -d '" ')
  for sample in 50000 "$ROWS"; do
    t0=$(now)
    "$BIN" cluster "$CSV" --features "$cols" --sweep-sample "$sample" --format json |
      python3 -c 'import json,sys; r = json.load(sys.stdin); s = r["k_selection"]
print("segstore cluster --sweep-sample", sys.argv[1], "-> k", r["k"], "(" + r["k_rule"] + ");",
      "silhouette by k:", {p["k"]: round(p["silhouette"], 4) for p in s["curve"] if p.get("silhouette") is not None})' "$sample"
    echo "  $(secs "$t0" "$(now)") s"
  done
fi
