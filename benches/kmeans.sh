#!/usr/bin/env bash
# K-Means against scikit-learn on the same data, same machine, same session:
#   bash benches/kmeans.sh
# OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are unset for the scikit-learn run only (they slow a
# current numpy on this machine); the BLAS it then uses is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
DIR=${1:-/tmp/segstore-kmeans-bench}
python3 -c 'import sklearn, threadpoolctl' 2>/dev/null || python3 -m pip install -q scikit-learn threadpoolctl
cargo bench --quiet --bench kmeans -- "$DIR" > "$DIR.segstore.json"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/sklearn_kmeans.py "$DIR" > "$DIR.sklearn.json"
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
s, k = json.load(open(d + ".segstore.json")), json.load(open(d + ".sklearn.json"))
print(f"scikit-learn {k['sklearn']}, numpy {k['numpy']}, BLAS {k['blas']}; segstore threads {s['threads']}")
print(f"streaming bandwidth {s['bandwidth_gb_s']:.1f} GB/s -> floor {s['floor_ms_per_iter']:.2f} ms per pass over {s['data_mb']:.0f} MB")
rows = [
  ("Lloyd 1M x 8, k=8, same init: seconds", s["lloyd"]["seconds"], k["lloyd"]["seconds"]),
  ("  iterations", s["lloyd"]["n_iter"], k["lloyd"]["n_iter"]),
  ("  ms per iteration", s["lloyd"]["ms_per_iter"], k["lloyd"]["ms_per_iter"]),
  ("  inertia", s["lloyd"]["inertia"], k["lloyd"]["inertia"]),
  ("k-means++, n_init=10: seconds", s["end_to_end"]["seconds"], k["end_to_end"]["seconds"]),
  ("  inertia", s["end_to_end"]["inertia"], k["end_to_end"]["inertia"]),
  ("sweep k=2..10 + metrics, 100k x 8: seconds", s["sweep_100k"]["seconds"], k["sweep_100k"]["seconds"]),
]
print(f"{'':44} {'segstore':>16} {'scikit-learn':>16} {'speed-up':>9}")
for name, a, b in rows:
    ratio = f"{b / a:8.2f}x" if "seconds" in name or "ms per" in name else ""
    print(f"{name:44} {a:16.6g} {b:16.6g} {ratio}")
print(f"per iteration / floor: {s['lloyd']['per_iter_over_floor']:.2f}x; "
      f"peak RSS {s['memory']['peak_rss_mb']:.0f} MB = {s['memory']['peak_over_data']:.2f}x the data")
PY
