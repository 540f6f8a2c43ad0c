#!/usr/bin/env bash
# Mini-batch K-Means against full K-Means and against scikit-learn's MiniBatchKMeans, on the
# segmented synthetic store (N rows × 8 features, k = 8), same machine, same session:
#   bash benches/minibatch.sh [ROWS]        (default 1,000,000)
# segstore runs the offline `segstore cluster` (CSV read, standard scaling, fit, assignment);
# its fit time is the `fit` phase it reports, its peak RSS the process's (/usr/bin/time).
# scikit-learn's times are its fits alone; every inertia is computed on the same scaled
# matrix by benches/sklearn_minibatch.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
ROWS=${1:-1000000}
DIR=${DIR:-/tmp/segstore-minibatch-bench}
mkdir -p "$DIR"
python3 -c 'import sklearn, pandas' 2>/dev/null || python3 -m pip install -q scikit-learn pandas
CSV="$DIR/segmented_$ROWS.csv"
[ -s "$CSV" ] || python3 benches/gen_segmented_customers.py "$ROWS" > "$CSV"
cargo build --release --quiet --bin segstore
BIN="$CARGO_TARGET_DIR/release/segstore"
FEATURES=$(head -1 "$CSV" | cut -d, -f2- | tr 'A-Z' 'a-z')
for algorithm in minibatch-kmeans kmeans; do
  /usr/bin/time -f '%M' -o "$DIR/$algorithm.rss" \
    "$BIN" cluster "$CSV" --features "$FEATURES" --k 8 --algorithm "$algorithm" \
      --format json --assignments "$DIR/$algorithm.csv" > "$DIR/$algorithm.json"
done
python3 benches/sklearn_minibatch.py "$CSV" 8 "$DIR/minibatch-kmeans.csv" "$DIR/kmeans.csv" > "$DIR/sklearn.json"
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
sk = json.load(open(f"{d}/sklearn.json"))
def seg(name):
    out = json.load(open(f"{d}/{name}.json"))
    fit = next(p["ms"] for p in out["timings"] if p["phase"] == "fit") / 1e3
    rss = int(open(f"{d}/{name}.rss").read().split()[-1]) / 1024
    return fit, rss
mb, km = seg("minibatch-kmeans"), seg("kmeans")
print(f"{sk['rows']:,} rows x 8, k = {sk['k']}; scikit-learn {sk['sklearn']}")
print(f"{'':34} {'fit s':>8} {'inertia':>14} {'peak RSS MB':>12}")
print(f"{'segstore minibatch_kmeans':34} {mb[0]:8.3f} {sk['segstore_minibatch_inertia_of_means']:14.1f} {mb[1]:12.0f}")
print(f"{'scikit-learn MiniBatchKMeans':34} {sk['minibatch']['seconds']:8.3f} {sk['minibatch']['inertia']:14.1f} {sk['peak_rss_mb']:12.0f} (whole script)")
print(f"{'segstore kmeans (n_init auto = 3)':34} {km[0]:8.3f} {sk['segstore_kmeans_inertia_of_means']:14.1f} {km[1]:12.0f}")
print(f"{'scikit-learn KMeans (n_init 3)':34} {sk['kmeans']['seconds']:8.3f} {sk['kmeans']['inertia']:14.1f}")
print(f"speed-up over MiniBatchKMeans: {sk['minibatch']['seconds'] / mb[0]:.2f}x; "
      f"inertia ratio segstore/scikit-learn: {sk['segstore_minibatch_inertia_of_means'] / sk['minibatch']['inertia']:.4f}; "
      f"mini-batch/full inertia (segstore): {sk['segstore_minibatch_inertia_of_means'] / sk['segstore_kmeans_inertia_of_means']:.4f}; "
      f"fit time full/mini-batch (segstore): {km[0] / mb[0]:.1f}x")
PY
