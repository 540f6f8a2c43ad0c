# Sourced by the benchmark scripts. The server they start keeps its first key in a data
# directory of the benchmark's own (never the checkout's .segstore/), and `curl` sends it.
# Against a server without keys (an older build) the header is ignored.
BENCH_DATA_DIR=$(mktemp -d /tmp/segstore-bench.XXXXXX)
bench_key() { cat "$BENCH_DATA_DIR/admin.key" 2>/dev/null || true; }
curl() { command curl -H "Authorization: Bearer $(bench_key)" "$@"; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

# One retrain: POST, poll every 50 ms; prints the run id, the wall time and the run's timings.
retrain() {
  local t0 t1 run status
  t0=$(now)
  run=$(curl -fsS -X POST "$API/v1/segmentations/$seg/runs?queue=true" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  while :; do
    status=$(curl -fsS "$API/v1/runs/$run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    case $status in queued|running) sleep 0.05 ;; *) break ;; esac
  done
  t1=$(now)
  [ "$status" = succeeded ] || { echo "run $run: $status" >&2; curl -s "$API/v1/runs/$run" >&2; exit 1; }
  LAST_RUN=$run
  curl -fsS "$API/v1/runs/$run" | python3 -c '
import json, sys
r = json.load(sys.stdin)
wall = float(sys.argv[1])
fmt = lambda ts: ", ".join("{} {:.2f}".format(t["phase"], t["ms"] / 1e3) for t in ts)
print("retrain {:.2f} s (POST to success seen): {}; engine: {}; k={} ({}), iterations={}, used={}".format(
    wall, fmt(r["timings"]), fmt(r["engine_timings"]), r["k"], r["k_rule"], r["fit"]["n_iter"],
    r["customers"]["used"]))
' "$(secs "$t0" "$t1")"
}
