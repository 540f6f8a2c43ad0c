#!/usr/bin/env python3
"""Writes a synthetic customer CSV: an id column and 8 numeric attributes (seeded, so every run
writes the same file); with --categorical, also two categorical ones (country, channel).

    python3 benches/gen_customers.py 1000000 > /tmp/customers_1m.csv
    python3 benches/gen_customers.py 1000000 --categorical > /tmp/customers_1m_10.csv
"""
import random
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
categorical = "--categorical" in sys.argv[1:]
n = int(args[0]) if args else 1_000_000
rng = random.Random(42)
out = sys.stdout
COUNTRIES = ["United Kingdom", "Germany", "France", "Spain", "Netherlands", "Ireland", "Italy", "Portugal"]
CHANNELS = ["web", "app", "store", "phone"]
out.write("customer_id,age,annual_income_k,spending_score,orders,avg_basket,tenure_days,returns,visits"
          + (",country,channel\n" if categorical else "\n"))
for i in range(n):
    out.write(
        f"C{i:07d},{rng.randint(18, 80)},{rng.randint(10, 200)},{rng.randint(1, 100)},"
        f"{rng.randint(0, 60)},{rng.uniform(5, 500):.2f},{rng.randint(0, 3650)},"
        f"{rng.randint(0, 10)},{rng.randint(0, 400)}"
        + (f",{rng.choice(COUNTRIES)},{rng.choice(CHANNELS)}\n" if categorical else "\n")
    )
