"""Keep a CRM's copy of customer segments in sync with segstore, two ways.

`receive` runs a webhook endpoint: segstore POSTs each batch of membership changes as it
happens, signed (Standard Webhooks); the endpoint checks the signature, applies the batch
and answers 204. `pull` is for a cron job instead: it reads the change feed from where it
stopped last time. Both write the same table, here SQLite standing in for the CRM, and both
are idempotent: a batch delivered twice, or a feed page read twice, changes nothing more.

    python examples/crm_sync.py receive --port 8090 --db crm.sqlite      # SEGSTORE_WEBHOOK_SECRET=whsec_…
    python examples/crm_sync.py pull --db crm.sqlite --segmentation <id>  # SEGSTORE_URL, SEGSTORE_KEY
    python examples/crm_sync.py show --db crm.sqlite                      # the CRM's table as JSON

Needs `requests` and `standardwebhooks` (examples/requirements.txt).
"""

import argparse
import json
import os
import sqlite3
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SCHEMA = """
CREATE TABLE IF NOT EXISTS customer_segment (
    customer_id TEXT PRIMARY KEY,
    segment_id INTEGER NOT NULL,
    label TEXT
);
CREATE TABLE IF NOT EXISTS seen_delivery (webhook_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS feed_cursor (segmentation_id TEXT PRIMARY KEY, cursor TEXT NOT NULL);
"""


def connect(path):
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.executescript(SCHEMA)
    return db


def apply(db, changes):
    """Applies membership changes (feed items or a webhook batch's `changes`): a customer who
    entered or moved gets their new segment, one who left loses theirs."""
    for change in changes:
        to = change.get("to")
        if to is None:
            db.execute("DELETE FROM customer_segment WHERE customer_id = ?", (change["customer_id"],))
        else:
            db.execute(
                "INSERT INTO customer_segment (customer_id, segment_id, label) VALUES (?, ?, ?) "
                "ON CONFLICT (customer_id) DO UPDATE SET segment_id = excluded.segment_id, "
                "label = excluded.label",
                (change["customer_id"], to["segment_id"], to.get("label")),
            )


def receive(args):
    secret = os.environ["SEGSTORE_WEBHOOK_SECRET"]
    verifier = Webhook(secret)
    db = connect(args.db)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                # Checks the signature and refuses timestamps more than five minutes off.
                event = verifier.verify(body, headers)
            except WebhookVerificationError:
                self.send_response(401)
                self.end_headers()
                return
            delivery = headers["webhook-id"]
            db.execute("BEGIN IMMEDIATE")
            try:
                seen = db.execute(
                    "INSERT INTO seen_delivery VALUES (?) ON CONFLICT DO NOTHING", (delivery,)
                ).rowcount == 0
                if not seen and event["type"] == "segment.membership_changed":
                    apply(db, event["data"]["changes"])
                db.execute("COMMIT")
            except Exception:
                db.execute("ROLLBACK")
                raise
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()


def pull(args):
    base = os.environ.get("SEGSTORE_URL", "http://127.0.0.1:8080")
    headers = {"Authorization": f"Bearer {os.environ['SEGSTORE_KEY']}"}
    db = connect(args.db)
    row = db.execute(
        "SELECT cursor FROM feed_cursor WHERE segmentation_id = ?", (args.segmentation,)
    ).fetchone()
    cursor = row[0] if row else ""
    applied = 0
    while True:
        page = requests.get(
            f"{base}/v1/segmentations/{args.segmentation}/changes",
            params={"after": cursor, "limit": 1000},
            headers=headers,
            timeout=30,
        )
        page.raise_for_status()
        page = page.json()
        # The changes and the cursor after them are written together: a crash in between
        # reads the page again, and applying it again changes nothing.
        db.execute("BEGIN IMMEDIATE")
        apply(db, page["changes"])
        cursor = page["next_cursor"]
        db.execute(
            "INSERT INTO feed_cursor VALUES (?, ?) ON CONFLICT (segmentation_id) "
            "DO UPDATE SET cursor = excluded.cursor",
            (args.segmentation, cursor),
        )
        db.execute("COMMIT")
        applied += len(page["changes"])
        if not page["has_more"]:
            break
    print(json.dumps({"applied": applied, "cursor": cursor}))


def show(args):
    db = connect(args.db)
    rows = db.execute("SELECT customer_id, segment_id FROM customer_segment ORDER BY customer_id")
    json.dump(dict(rows.fetchall()), sys.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("receive", help="run a webhook endpoint")
    r.add_argument("--port", type=int, default=8090)
    r.add_argument("--db", required=True)
    p = commands.add_parser("pull", help="read the change feed from the stored cursor")
    p.add_argument("--db", required=True)
    p.add_argument("--segmentation", required=True)
    s = commands.add_parser("show", help="print the CRM's customer -> segment table")
    s.add_argument("--db", required=True)
    args = parser.parse_args()
    {"receive": receive, "pull": pull, "show": show}[args.command](args)


if __name__ == "__main__":
    main()
