#!/usr/bin/env bash
# Predicted value (issue: predicted customer value): 1M customers with about 10M order lines
# drawn from BG/NBD and Gamma-Gamma (benches/gen_clv_orders.py), loaded with COPY into a fresh
# database; `POST /v1/clv/refresh` of a release server three times (each answer's own `ms`:
# summary, fit, score, write), the first reading every line, the next the kept purchase days;
# then a day's orders imported (1% of the customers buy again) and a fourth refresh, which
# reads those customers' lines again; the server's peak RSS and, as a yardstick of the machine's
# speed that day, `psql` sending the counted lines out. Then the fits alone on the
# generator's summary: segstore's engine (`cargo bench --bench clv`) and lifetimes 0.11
# (benches/lifetimes_fit.py), one process each, printed for comparison.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres PYTHON=python3 bash benches/clv.sh [CUSTOMERS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
CUSTOMERS=${1:-1000000}
PYTHON=${PYTHON:-python3}
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=segstore_bench_clv
DB_URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18186}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/segstore/target}"
BIN="$CARGO_TARGET_DIR/release/segstore"
LINES=/tmp/segstore_clv_lines.tsv
SUMMARY=/tmp/segstore_clv_summary.csv

cargo build --release --quiet --bin segstore
[ -s "$LINES" ] && [ -s "$SUMMARY" ] && [ "$(wc -l < "$SUMMARY")" = "$((CUSTOMERS + 1))" ] ||
  "$PYTHON" benches/gen_clv_orders.py "$CUSTOMERS" "$LINES" "$SUMMARY"

psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
"$BIN" --log warn migrate --database-url "$DB_URL?sslmode=disable"
t0=$(now)
psql -q "$DB_URL" \
  -c "\\copy order_lines (order_id, line_no, external_id, ordered_at, quantity, unit_price, amount) FROM '$LINES'" \
  -c "INSERT INTO customers (external_id) SELECT DISTINCT external_id FROM order_lines" \
  -c "VACUUM ANALYZE order_lines" -c "VACUUM ANALYZE customers"
echo "loaded $(psql -tA "$DB_URL" -c 'SELECT count(*) FROM order_lines') lines, $(psql -tA "$DB_URL" -c 'SELECT count(*) FROM customers') customers in $(secs "$t0" "$(now)") s"

"$BIN" --log warn serve --data-dir "$BENCH_DATA_DIR" --database-url "$DB_URL?sslmode=disable" --bind "127.0.0.1:$PORT" --run-workers 0 --rate-limit 0 --lookup-rate-limit 0 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
refresh() {
  t0=$(now)
  curl -fsS -X POST "http://127.0.0.1:$PORT/v1/clv/refresh" -o /tmp/segstore_clv_answer.json
  t1=$(now)
  printf 'refresh, %-34s %6.2f s  ' "$1:" "$(secs "$t0" "$t1")"
  "$PYTHON" -c 'import json,sys; a=json.load(open(sys.argv[1])); print({k: round(v) for k, v in a["ms"].items()}, "ms;", a["customers_with_clv"], "customers; r", round(a["bgnbd"]["r"], 4), "p", round(a["gamma_gamma"]["p"], 4))' /tmp/segstore_clv_answer.json
}
# The first reads every line (nothing is kept yet) and keeps the purchase days; the next read
# those back.
refresh "every line read (none kept)"
refresh "kept days, nothing changed"
refresh "kept days, nothing changed"
# A day's orders through the import: every 100th customer buys again (their last order's
# lines) on the day after the end. The refresh reads their lines again, the others' kept days.
DAY=/tmp/segstore_clv_day.csv
psql -XAq "$DB_URL" -c "COPY (SELECT 'n' || l.order_id AS \"InvoiceNo\", l.quantity AS \"Quantity\",
    '2012-01-01 10:00:00' AS \"InvoiceDate\", l.unit_price AS \"UnitPrice\", l.external_id AS \"CustomerID\"
  FROM order_lines l JOIN (SELECT external_id, max(order_id) AS order_id FROM order_lines
                           WHERE hashtext(external_id) % 100 = 0 GROUP BY external_id) o
    ON l.order_id = o.order_id ORDER BY l.order_id, l.line_no) TO STDOUT (FORMAT csv, HEADER)" > "$DAY"
t0=$(now)
curl -fsS -X POST -H 'Content-Type: text/csv' --data-binary "@$DAY" "http://127.0.0.1:$PORT/v1/orders/import" -o /tmp/segstore_clv_import.json
printf "import of a day's orders: %6.2f s  " "$(secs "$t0" "$(now)")"
"$PYTHON" -c 'import json,sys; a=json.load(open(sys.argv[1])); print({k: a[k] for k in ("lines","inserted","customers_created")})' /tmp/segstore_clv_import.json
refresh "kept days, $(psql -XAt "$DB_URL" -c 'SELECT count(*) FROM purchase_days_stale') customers' lines again"
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$server/status") MB"
kill $server

# The machine's speed that day: what PostgreSQL alone takes to send the counted lines out.
t0=$(now)
psql -XAtq "$DB_URL" -c "COPY (SELECT external_id, ordered_at, amount FROM order_lines WHERE order_id NOT LIKE 'C%' AND quantity > 0 AND amount > 0 AND (unit_price IS NULL OR unit_price > 0)) TO STDOUT (FORMAT binary)" > /dev/null
echo "yardstick: psql COPY of the counted lines to /dev/null $(secs "$t0" "$(now)") s"

echo "== the fits alone, on the generator's summary"
cargo bench --quiet --bench clv -- "$SUMMARY"
"$PYTHON" benches/lifetimes_fit.py "$SUMMARY"
