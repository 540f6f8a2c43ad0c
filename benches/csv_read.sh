#!/usr/bin/env bash
# Reading a customer CSV into feature columns (engine issue, second step): `segstore cluster`'s
# parse of the file (its `read_ms`, bytes already in memory) against pandas' `read_csv` of the
# same file, best of 5 each, same session:
#   bash benches/csv_read.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-500000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
CSV=${BENCH_CSV:-/tmp/segstore_customers_segmented_$ROWS.csv}
python3 -c 'import pandas' 2>/dev/null || python3 -m pip install -q pandas
cargo build --release --quiet --bin segstore
[ -s "$CSV" ] || python3 benches/gen_segmented_customers.py "$ROWS" > "$CSV"
echo "file: $CSV, $(wc -l < "$CSV") lines, $(du -m "$CSV" | cut -f1) MB"
best=
for _ in 1 2 3 4 5; do
  ms=$("$BIN" cluster "$CSV" --features age --k 2 --n-init 1 --format json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["read_ms"])')
  if [ -z "$best" ] || [ "$(echo "$ms < $best" | bc)" = 1 ]; then best=$ms; fi
done
pandas_ms=$(python3 - "$CSV" <<'PY'
import sys, time
import pandas as pd
with open(sys.argv[1], "rb") as f:
    data = f.read()
import io
best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    pd.read_csv(io.BytesIO(data))
    best = min(best, time.perf_counter() - t)
print(best * 1e3)
PY
)
python3 -c "import sys; s, p = float(sys.argv[1]), float(sys.argv[2]); print(f'segstore {s:.0f} ms, pandas {p:.0f} ms (pandas {__import__(\"pandas\").__version__}): segstore {p / s:.2f}x as fast')" "$best" "$pandas_ms"
