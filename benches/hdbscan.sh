#!/usr/bin/env bash
# HDBSCAN against scikit-learn and fast_hdbscan on the same data, same machine, same session,
# labels compared row for row:
#   bash benches/hdbscan.sh [DIR] [TIMEOUT_SECONDS]
# The Python side runs in the virtual environment SEGSTORE_BENCH_VENV (default
# ~/.cache/segstore/bench-venv), created with scikit-learn and fast_hdbscan when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
DIR=${1:-/tmp/segstore-hdbscan-bench}
TIMEOUT=${2:-1800}
VENV="${SEGSTORE_BENCH_VENV:-$HOME/.cache/segstore/bench-venv}"
mkdir -p "$DIR"
if ! "$VENV/bin/python" -c 'import sklearn, fast_hdbscan' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q scikit-learn fast_hdbscan
fi
cargo bench --quiet --bench hdbscan -- "$DIR" > "$DIR/segstore.json"
"$VENV/bin/python" benches/sklearn_hdbscan.py "$DIR" "$TIMEOUT" > "$DIR/reference.json"
"$VENV/bin/python" - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
s, r = json.load(open(d + "/segstore.json")), json.load(open(d + "/reference.json"))
print(f"scikit-learn {r['sklearn']}, fast_hdbscan {r['fast_hdbscan']}, numpy {r['numpy']}; "
      f"segstore threads {s['threads']}, peak RSS {s['peak_rss_mb']:.0f} MB")
for key in ["hdbscan_100k_8", "hdbscan_1m_2"]:
    a = s[key]
    print(f"{key}: {a['rows']:,} x {a['cols']}, min_cluster_size {a['min_cluster_size']}, "
          f"min_samples {a['min_samples']}")
    print(f"  {'':14} {'seconds':>9} {'vs segstore':>12} {'clusters':>9} {'noise':>8} "
          f"{'agreeing':>11} {'ARI':>9}")
    print(f"  {'segstore':14} {a['seconds']:9.2f} {'':>12} {a['clusters']:9} {a['noise']:8}")
    for name in ["fast_hdbscan", "sklearn"]:
        b = r[key][name]
        if b["seconds"] is None:
            print(f"  {name:14} {'> ' + str(int(b['timeout'])):>9} {'> ' + format(b['timeout'] / a['seconds'], '.0f') + 'x':>12}"
                  f"  (stopped)")
            continue
        print(f"  {name:14} {b['seconds']:9.2f} {b['seconds'] / a['seconds']:11.2f}x "
              f"{b['clusters']:9} {b['noise']:8} {b['agreeing_rows']:11} {b['ari']:9.6f}")
PY
