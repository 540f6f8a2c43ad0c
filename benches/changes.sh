#!/usr/bin/env bash
# Membership changes at scale (the activation issue): a 1M-customer store retrained after ~10%
# of the customers changed, then rolled back.
#   - the time the activation takes to record the changes (the run's `activate` timing), and
#     to measure drift (`drift`: who moved, the ARI);
#   - the change feed's read rate (JSON pages of 10,000, and CSV);
#   - webhook delivery throughput to a receiver on this machine (Python, answering 204):
#     `segment.membership_changed` in batches of 1,000 (the retrain) and of 100 (the rollback),
#     deliveries/s and changes/s, from the first attempt to the last answer; right after the
#     activation (as a CRM sees it: the lookup cache is loading the new run meanwhile), then
#     the same deliveries again on a quiet server.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/changes.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
ROWS=${1:-1000000}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_changes
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18186}
HOOK_PORT=${BENCH_HOOK_PORT:-18187}
API="http://127.0.0.1:$PORT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
FEATURES='"age", "annual_income_k", "spending_score", "orders", "avg_basket", "tenure_days", "returns", "visits"'

serve_bench_store --webhook-allow loopback
# The receiver: counts, answers 204 (nothing kept: the figure is segstore's side).
python3 - "$HOOK_PORT" <<'EOF' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
receiver=$!
trap 'kill $server $receiver 2>/dev/null || true' EXIT

seg=$(curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/segmentations" \
  -d "{\"name\": \"changes\", \"config\": {\"features\": [$FEATURES], \"algorithm\": {\"type\": \"kmeans\", \"k\": 8}}}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "== the first run: every customer enters"
retrain
first=$LAST_RUN

hook() {
  curl -fsS -X POST -H 'Content-Type: application/json' "$API/v1/webhooks" \
    -d "{\"url\": \"http://127.0.0.1:$HOOK_PORT/\", \"events\": [\"segment.membership_changed\"], \"batch_size\": $1}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
# Waits until the webhook has nothing pending, then prints its throughput.
delivered() {
  local pending
  while :; do
    pending=$(psql -qtA "$DB_URL" -c "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '$1' AND state = 'pending'")
    [ "$pending" = 0 ] && break
    sleep 0.2
  done
  psql -qtA "$DB_URL" -F ' ' -c "
    SELECT count(DISTINCT d.delivery_id), sum(d.last_ord - d.first_ord + 1) FILTER (WHERE a.attempt = 1),
           extract(epoch FROM max(a.attempted_at + a.latency_ms * interval '1 ms') - min(a.attempted_at)),
           count(*) FILTER (WHERE a.status_code <> 204 OR a.status_code IS NULL)
      FROM webhook_deliveries d JOIN webhook_attempts a USING (delivery_id)
     WHERE d.webhook_id = '$1'" | while read -r n changes s failed; do
    python3 -c 'import sys; n, c, s, f = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"webhook: {n} deliveries, {c} changes in {s:.2f} s: {n / s:.0f} deliveries/s, {c / s:.0f} changes/s ({f} failed attempts)")' \
      "$n" "$changes" "$s" "$failed"
  done
}
# The activation's counts, and how long the run's write took to record and measure them.
activation() {
  curl -fsS "$API/v1/segmentations/$seg/activations?limit=1" | python3 -c '
import json, sys
a = json.load(sys.stdin)["activations"][0]
print("activation {activation} ({cause}): entered {entered}, moved {moved}, left {left}".format(**a))'
  curl -fsS "$API/v1/runs/$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)
t = {x["phase"]: x["ms"] / 1e3 for x in r["timings"]}
d = r.get("drift") or {}
print("write {:.2f} s, of which drift {:.2f} s and activate (record the changes) {} s; moved {} ({:.1%}), ARI {}".format(
    t.get("write", 0), t.get("drift", 0), "{:.2f}".format(t["activate"]) if "activate" in t else "-",
    d.get("moved"), d.get("moved_share") or 0, d.get("adjusted_rand_index")))'
}
# Reads every change of an activation from the feed: JSON pages of 10,000, then CSV.
read_feed() {
  python3 - "$API" "$seg" "$1" "$(bench_key)" <<'EOF'
import sys, time, urllib.request, json
api, seg, activation, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def get(url):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}", "Accept": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read(), r.headers
for fmt in ("json", "csv"):
    cursor, n, t0 = f"c1_{activation}_0", 0, time.perf_counter()
    while True:
        body, headers = get(f"{api}/v1/segmentations/{seg}/changes?limit=10000&after={cursor}&format={fmt}")
        if fmt == "json":
            page = json.loads(body)
            n += len(page["changes"]); cursor = page["next_cursor"]; more = page["has_more"]
        else:
            n += body.count(b"\n") - 1; cursor = headers["segstore-next-cursor"]; more = headers["segstore-has-more"] == "true"
        if not more:
            break
    s = time.perf_counter() - t0
    print(f"feed ({fmt}, pages of 10,000): {n} changes in {s:.2f} s, {n / s:,.0f} changes/s")
EOF
}

echo "== ~10% of the customers change (each takes the values of the customer 5 rows on)"
python3 - "$CSV" "$API" "$(bench_key)" <<'EOF'
import csv, json, sys, time, urllib.request
path, api, key = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.reader(open(path)))
header, rows = rows[0], rows[1:]
changed = [{"id": rows[i][0], "attributes": {h: float(v) for h, v in zip(header[1:], rows[i + 5][1:])}}
           for i in range(0, len(rows) - 5, 10)]
t0 = time.perf_counter()
for b in range(0, len(changed), 10000):
    req = urllib.request.Request(f"{api}/v1/customers", data=json.dumps({"customers": changed[b:b + 10000]}).encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
print(f"{len(changed)} customers changed in {time.perf_counter() - t0:.1f} s")
EOF
big=$(hook 1000)
echo "== the retrain: the changes recorded, measured, read and delivered (batches of 1,000)"
retrain
second=$LAST_RUN
activation "$second"
read_feed 2
delivered "$big"

echo "== the rollback (POST activate the first run): the reverse moves, delivered in batches of 100"
curl -fsS -X PATCH -H 'Content-Type: application/merge-patch+json' "$API/v1/webhooks/$big" -d '{"enabled": false}' >/dev/null
small=$(hook 100)
t0=$(now)
curl -fsS -X POST "$API/v1/runs/$first/activate" >/dev/null
echo "rollback: POST activate answered in $(secs "$t0" "$(now)") s (recording the changes in its transaction)"
curl -fsS "$API/v1/segmentations/$seg/activations?limit=1" | python3 -c '
import json, sys
a = json.load(sys.stdin)["activations"][0]
print("activation {activation} ({cause}): entered {entered}, moved {moved}, left {left}".format(**a))'
delivered "$small"

echo "== the same 866 deliveries again on a quiet server (the lookup cache loaded, autovacuum done)"
sleep 5
for _ in $(seq 240); do
  busy=$(psql -qtA "$ADMIN_URL" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
  [ "$busy" = 0 ] && break
  sleep 0.5
done
psql -q "$DB_URL" -c "DELETE FROM webhook_attempts a USING webhook_deliveries d
                       WHERE a.delivery_id = d.delivery_id AND d.webhook_id = '$small'" \
  -c "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now()
       WHERE webhook_id = '$small'"
delivered "$small"
