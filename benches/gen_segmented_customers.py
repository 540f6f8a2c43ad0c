#!/usr/bin/env python3
"""Writes a synthetic customer CSV with segment structure, as real customer bases have:
eight latent personas (bargain hunters, VIPs, dormant buyers, ...) in unequal shares, each
with its own distributions of the 8 numeric attributes (normal ages and scores, log-normal
incomes and baskets, Poisson counts), overlapping. Same columns as gen_customers.py (whose
independent uniform columns are the worst case for K-Means: no structure, slow convergence).
Seeded: every run writes the same file.

    python3 benches/gen_segmented_customers.py 1000000 > /tmp/customers_segmented_1m.csv
"""
import sys

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = np.random.default_rng(42)
# share, age, income k$, spending score, orders, basket $, tenure days, returns, visits
personas = np.array([
    (0.22, 34, 45, 35, 4, 30, 400, 0.3, 20),     # occasional bargain hunters
    (0.18, 45, 60, 50, 10, 60, 1200, 0.8, 60),   # loyal regulars
    (0.08, 41, 140, 88, 28, 180, 2000, 1.5, 180),  # VIPs
    (0.15, 58, 70, 20, 2, 45, 2600, 0.2, 8),     # dormant
    (0.12, 25, 30, 80, 15, 25, 300, 2.5, 140),   # impulsive young
    (0.10, 38, 110, 25, 6, 120, 900, 0.4, 30),   # careful affluent
    (0.09, 30, 55, 65, 20, 40, 700, 4.0, 220),   # heavy returners
    (0.06, 66, 50, 45, 8, 70, 3200, 0.5, 25),    # retired regulars
])
share = personas[:, 0] / personas[:, 0].sum()
p = rng.choice(len(personas), size=n, p=share)
m = personas[p]
age = np.clip(rng.normal(m[:, 1], 6), 18, 90).round()
income = np.clip(m[:, 2] * rng.lognormal(0, 0.25, n), 8, 400).round()
score = np.clip(rng.normal(m[:, 3], 9), 1, 100).round()
orders = rng.poisson(m[:, 4])
basket = (m[:, 5] * rng.lognormal(0, 0.35, n)).round(2)
tenure = np.clip(rng.normal(m[:, 6], 250), 0, 3650).round()
returns = rng.poisson(m[:, 7])
visits = rng.poisson(m[:, 8])

out = sys.stdout
out.write("customer_id,age,annual_income_k,spending_score,orders,avg_basket,tenure_days,returns,visits\n")
lines = (
    f"C{i:07d},{int(a)},{int(b)},{int(c)},{d},{e:.2f},{int(f)},{g},{h}\n"
    for i, (a, b, c, d, e, f, g, h) in enumerate(
        zip(age, income, score, orders, basket, tenure, returns, visits)
    )
)
out.writelines(lines)
