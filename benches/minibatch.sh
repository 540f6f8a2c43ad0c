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
run() {
  local name=$1
  shift
  /usr/bin/time -f '%M' -o "$DIR/$name.rss" \
    "$BIN" cluster "$CSV" --features "$FEATURES" --k 8 "$@" \
      --format json --assignments "$DIR/$name.csv" > "$DIR/$name.json"
}
run minibatch-kmeans --algorithm minibatch-kmeans
run one-pass --algorithm minibatch-kmeans --minibatch-max-iter 1 --max-no-improvement 0
run kmeans --algorithm kmeans
python3 benches/sklearn_minibatch.py "$CSV" 8 "$DIR/minibatch-kmeans.csv" "$DIR/kmeans.csv" \
  "$DIR/one-pass.csv" > "$DIR/sklearn.json"
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
sk = json.load(open(f"{d}/sklearn.json"))
def seg(name):
    out = json.load(open(f"{d}/{name}.json"))
    fit = next(p["ms"] for p in out["timings"] if p["phase"] == "fit") / 1e3
    rss = int(open(f"{d}/{name}.rss").read().split()[-1]) / 1024
    return fit, rss, out["n_iter"]
mb, one, km = seg("minibatch-kmeans"), seg("one-pass"), seg("kmeans")
print(f"{sk['rows']:,} rows x 8, k = {sk['k']}; scikit-learn {sk['sklearn']}. Inertia: every row to the mean of its segment, scaled space.")
print(f"{'':44} {'fit s':>8} {'steps/iter':>10} {'inertia':>12} {'peak RSS MB':>12}")
rows = [
    ("segstore minibatch_kmeans (defaults)", mb[0], mb[2], sk["segstore_minibatch_inertia_of_means"], f"{mb[1]:.0f}"),
    ("scikit-learn MiniBatchKMeans (defaults)", sk["minibatch"]["seconds"], sk["minibatch"]["steps_or_iter"], sk["minibatch"]["inertia"], ""),
    ("segstore, one pass of steps, no early stop", one[0], one[2], sk["segstore_one_pass_inertia_of_means"], f"{one[1]:.0f}"),
    ("scikit-learn, one pass of steps, no early stop", sk["minibatch_one_pass"]["seconds"], sk["minibatch_one_pass"]["steps_or_iter"], sk["minibatch_one_pass"]["inertia"], ""),
    ("segstore kmeans (n_init auto = 3)", km[0], km[2], sk["segstore_kmeans_inertia_of_means"], f"{km[1]:.0f}"),
    ("scikit-learn KMeans (n_init 3)", sk["kmeans"]["seconds"], sk["kmeans"]["steps_or_iter"], sk["kmeans"]["inertia"], ""),
]
for name, s, steps, inertia, rss in rows:
    print(f"{name:44} {s:8.3f} {steps:>10} {inertia:12.1f} {rss:>12}")
print(f"scikit-learn's script peak RSS (data, three fits): {sk['peak_rss_mb']:.0f} MB")
print(f"one pass of steps: speed-up {sk['minibatch_one_pass']['seconds'] / one[0]:.1f}x, inertia ratio "
      f"{sk['segstore_one_pass_inertia_of_means'] / sk['minibatch_one_pass']['inertia']:.4f}; defaults: speed-up "
      f"{sk['minibatch']['seconds'] / mb[0]:.1f}x, inertia ratio {sk['segstore_minibatch_inertia_of_means'] / sk['minibatch']['inertia']:.4f}")
print(f"segstore mini-batch against its full K-Means: inertia x{sk['segstore_minibatch_inertia_of_means'] / sk['segstore_kmeans_inertia_of_means']:.4f}, "
      f"fit {km[0] / mb[0]:.1f}x faster (one pass of steps: x{sk['segstore_one_pass_inertia_of_means'] / sk['segstore_kmeans_inertia_of_means']:.4f}, {km[0] / one[0]:.1f}x)")
PY
