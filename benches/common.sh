# Sourced by the benchmark scripts. The server they start keeps its first key in a data
# directory of the benchmark's own (never the checkout's .segstore/), and `curl` sends it.
# Against a server without keys (an older build) the header is ignored.
BENCH_DATA_DIR=$(mktemp -d /tmp/segstore-bench.XXXXXX)
bench_key() { cat "$BENCH_DATA_DIR/admin.key" 2>/dev/null || true; }
curl() { command curl -H "Authorization: Bearer $(bench_key)" "$@"; }
