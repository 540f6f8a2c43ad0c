#!/usr/bin/env bash
# The default K-Means restarts, bisecting K-Means, DBSCAN and the Gaussian mixture against
# scikit-learn on the same data, same machine, same
# session, labels compared row for row:
#   bash benches/engine.sh [DIR]
# OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are unset for the scikit-learn run only (as in
# benches/kmeans.sh); the BLAS it then uses is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
DIR=${1:-/tmp/segstore-engine-bench}
mkdir -p "$DIR"
python3 -c 'import sklearn, threadpoolctl' 2>/dev/null || python3 -m pip install -q scikit-learn threadpoolctl
cargo bench --quiet --bench engine -- "$DIR" > "$DIR/segstore.json"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/sklearn_engine.py "$DIR" > "$DIR/sklearn.json"
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
s, k = json.load(open(d + "/segstore.json")), json.load(open(d + "/sklearn.json"))
print(f"scikit-learn {k['sklearn']}, numpy {k['numpy']}, BLAS {k['blas']}; segstore threads {s['threads']}")
for key, name in [("restarts_mall", "Mall"), ("restarts_wholesale", "Wholesale (log1p)")]:
    print(f"K-Means on {name}: segstore n_init auto against scikit-learn n_init=10 (random_state=42)")
    print(f"{'  k':6} {'restarts':>8} {'segstore s':>11} {'sklearn s':>10} {'speed-up':>9} "
          f"{'segstore inertia':>17} {'sklearn inertia':>16}")
    for a, b in zip(s[key]["per_k"], k[key]["per_k"]):
        print(f"  {a['k']:<4} {a['restarts']:>8} {a['seconds']:11.4f} {b['seconds']:10.4f} "
              f"{b['seconds'] / a['seconds']:8.2f}x {a['inertia']:17.6f} {b['inertia']:16.6f}"
              f"{'' if a['inertia'] <= b['inertia'] * (1 + 1e-9) else '  HIGHER'}")
print(f"{'':52} {'segstore':>10} {'scikit-learn':>13} {'speed-up':>9}")
for key, name in [
    ("dbscan_100k_8_separated", "DBSCAN 100k x 8 separated, eps 0.5, min 5"),
    ("dbscan_100k_8", "DBSCAN 100k x 8 overlapping, eps 0.5, min 5"),
    ("dbscan_1m_2", f"DBSCAN 1M x 2, eps {s['dbscan_1m_2']['eps']}, min {s['dbscan_1m_2']['min_points']}"),
]:
    a, b = s[key], k[key]
    print(f"{name + ': seconds':52} {a['seconds']:10.3f} {b['seconds']:13.3f} {b['seconds'] / a['seconds']:8.2f}x")
    print(f"{'  clusters / noise / core rows':52} {a['clusters']:>4}/{a['noise']}/{a['core_rows']} "
          f"  {b['clusters']}/{b['noise']}/{b['core_rows']}")
    print(f"{'  rows with the same label':52} {b['same_label_rows']:>10} of {b['rows']} (ARI {b['ari']:.6f})")
for key, name in [("bisecting_100k_8", "Bisecting K-Means 100k x 8, k 8"),
                  ("bisecting_1m_8", "Bisecting K-Means 1M x 8, k 8")]:
    a, b = s[key], k[key]
    print(f"{name + ': seconds':52} {a['seconds']:10.3f} {b['seconds']:13.3f} {b['seconds'] / a['seconds']:8.2f}x")
    print(f"{'  inertia (segstore / scikit-learn)':52} {a['inertia']:10.1f} {b['inertia']:13.1f} "
          f"{a['inertia'] / b['inertia']:9.4f}")
for key, name in [("gmm_100k_8_full", "Gaussian mixture 100k x 8, k 8, full"),
                  ("gmm_100k_8_diag", "Gaussian mixture 100k x 8, k 8, diag")]:
    a, b = s[key], k[key]
    print(f"{name + ': seconds':52} {a['seconds']:10.3f} {b['seconds']:13.3f} {b['seconds'] / a['seconds']:8.2f}x")
    print(f"{'  EM iterations':52} {a['n_iter']:10} {b['n_iter']:13}")
    rel = abs(a['mean_log_likelihood'] - b['mean_log_likelihood']) / abs(b['mean_log_likelihood'])
    print(f"{'  mean log-likelihood (relative difference)':52} {a['mean_log_likelihood']:10.6f} "
          f"{b['mean_log_likelihood']:13.6f} {rel:9.1e}")
print(f"peak RSS: segstore {s['memory']['peak_rss_mb']:.0f} MB, scikit-learn {k['peak_rss_mb']:.0f} MB")
PY
