#!/usr/bin/env python3
"""Writes a Tableau extract (.hyper) of segstore's flat tables, for Tableau Desktop, Server or
Cloud (publish it as a data source, or schedule this script and republish).

Three tables, pulled with a read key by stable addresses (no run id):
  Extract.customers         GET /v1/customers.csv: one row per customer, every attribute and
                            each segmentation's active segment id and label;
  Extract.segments          GET /v1/segmentations/{id}/active/segments.csv: one row per segment;
  Extract.segment_features  GET /v1/segmentations/{id}/active/segment_features.csv: one row per
                            segment and feature (or categorical level).

Column types come from the API: customer ids and categorical attributes are text (`0042`
stays `0042`), numeric attributes decimals, segment ids integers.

    pip install tableauhyperapi requests
    SEGSTORE_API_KEY=segk_… python3 examples/tableau_hyper.py \\
        --segmentation "Income and spend" --out segstore.hyper

The files stream to a temporary directory and Hyper reads them with COPY, so a million
customers take seconds and little memory.
"""

import argparse
import csv
import os
import sys
import tempfile

import requests
from tableauhyperapi import (
    Connection,
    CreateMode,
    HyperProcess,
    NOT_NULLABLE,
    NULLABLE,
    SqlType,
    TableDefinition,
    TableName,
    Telemetry,
    escape_string_literal,
)


def api(args):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {args.key}"
    return session


def download(session, url, path):
    """Streams a CSV answer to `path`; its header."""
    with session.get(url, stream=True, timeout=(10, 600)) as response:
        if response.status_code != 200:
            sys.exit(f"GET {url}: {response.status_code} {response.text}")
        with open(path, "wb") as out:
            for chunk in response.iter_content(chunk_size=1 << 20):
                out.write(chunk)
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def segmentation_id(session, base, wanted):
    """The id of the segmentation named `wanted` (or `wanted` itself, when it is an id)."""
    response = session.get(f"{base}/v1/segmentations", timeout=30)
    response.raise_for_status()
    for s in response.json()["segmentations"]:
        if wanted in (s["id"], s["name"]):
            return s["id"]
    sys.exit(f"no segmentation named {wanted!r}")


def customers_types(session, base, header):
    """customers.csv's column types: text ids, attribute kinds from the catalogue."""
    response = session.get(f"{base}/v1/attributes", timeout=30)
    response.raise_for_status()
    kinds = {a["name"]: a["kind"] for a in response.json()["attributes"]}
    types = []
    for name in header:
        attribute = name[len("attribute."):] if name.startswith("attribute.") else name
        if name == "customer_id":
            types.append(SqlType.text())
        elif name.endswith(" segment_id"):
            types.append(SqlType.int())
        elif name.endswith(" segment_label"):
            types.append(SqlType.text())
        elif kinds.get(attribute) == "numeric":
            types.append(SqlType.double())
        else:
            types.append(SqlType.text())
    return types


TEXT = {"label", "persona", "colour", "computed_label", "feature", "level"}


def table_types(header):
    """segments.csv and segment_features.csv: integers, text, and decimals for the rest."""
    types = []
    for name in header:
        if name == "segment_id":
            types.append(SqlType.int())
        elif name == "size":
            types.append(SqlType.big_int())
        elif name in TEXT:
            types.append(SqlType.text())
        else:
            types.append(SqlType.double())
    return types


def load(connection, name, header, types, path):
    table = TableName("Extract", name)
    definition = TableDefinition(
        table,
        [
            TableDefinition.Column(column, kind, NOT_NULLABLE if i == 0 else NULLABLE)
            for i, (column, kind) in enumerate(zip(header, types))
        ],
    )
    connection.catalog.create_table(definition)
    # CSV as PostgreSQL writes it: an empty unquoted field is NULL.
    return connection.execute_command(
        f"COPY {table} FROM {escape_string_literal(path)} WITH (format csv, header, null '')"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SEGSTORE_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--key", default=os.environ.get("SEGSTORE_API_KEY"),
                        help="an API key with the read scope (default: $SEGSTORE_API_KEY)")
    parser.add_argument("--segmentation", required=True, help="its name or id")
    parser.add_argument("--out", default="segstore.hyper")
    args = parser.parse_args()
    if not args.key:
        sys.exit("an API key is needed: --key or SEGSTORE_API_KEY")
    base = args.url.rstrip("/")
    session = api(args)
    seg = segmentation_id(session, base, args.segmentation)
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "customers": f"{base}/v1/customers.csv",
            "segments": f"{base}/v1/segmentations/{seg}/active/segments.csv",
            "segment_features": f"{base}/v1/segmentations/{seg}/active/segment_features.csv",
        }
        headers = {}
        for name, url in files.items():
            headers[name] = download(session, url, os.path.join(tmp, f"{name}.csv"))
        types = {
            "customers": customers_types(session, base, headers["customers"]),
            "segments": table_types(headers["segments"]),
            "segment_features": table_types(headers["segment_features"]),
        }
        with HyperProcess(telemetry=Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU) as hyper:
            with Connection(hyper.endpoint, args.out, CreateMode.CREATE_AND_REPLACE) as connection:
                connection.catalog.create_schema("Extract")
                for name in files:
                    rows = load(connection, name, headers[name], types[name],
                                os.path.join(tmp, f"{name}.csv"))
                    print(f"Extract.{name}: {rows} rows", file=sys.stderr)
    print(args.out)


if __name__ == "__main__":
    main()
