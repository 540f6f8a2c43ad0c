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

# A fresh database $DB holding the $DATA store of $ROWS customers, imported through the API
# of a release server started on it ($server, killed on exit); extra arguments go to `serve`.
# Needs ROWS, ADMIN_URL, DB, DB_URL, PORT, API and BIN. Sets CSV.
# DATA=segmented (default): customers with segment structure (benches/gen_segmented_customers.py);
# DATA=uniform: independent uniform columns (benches/gen_customers.py), K-Means's worst case.
serve_bench_store() {
  DATA=${DATA:-segmented}
  local gen
  case $DATA in
    segmented) CSV=${BENCH_CSV:-/tmp/segstore_customers_segmented_$ROWS.csv}; gen=benches/gen_segmented_customers.py ;;
    uniform) CSV=${BENCH_CSV:-/tmp/segstore_customers_$ROWS.csv}; gen=benches/gen_customers.py ;;
    *) echo "DATA is segmented or uniform" >&2; exit 2 ;;
  esac
  cargo build --release --quiet --bin segstore
  [ -s "$CSV" ] || python3 "$gen" "$ROWS" > "$CSV"
  echo "data: $DATA, $CSV"
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  # The server talks to PostgreSQL over loopback: no TLS (sslmode=prefer would encrypt every
  # round trip of the lookup path for nothing).
  "$BIN" --log warn serve --data-dir "$BENCH_DATA_DIR" --database-url "$DB_URL?sslmode=disable" \
    --bind "127.0.0.1:$PORT" "$@" &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -fs "$API/readyz" >/dev/null && break; sleep 0.1; done
  curl -fsS -X POST -H 'Content-Type: text/csv' --data-binary "@$CSV" "$API/v1/customers/import" >/dev/null
  psql -q "$DB_URL" -c "VACUUM ANALYZE customers"
}
