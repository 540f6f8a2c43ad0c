#!/usr/bin/env python3
"""Order lines for the predicted-value benchmark (benches/clv.sh), drawn from BG/NBD and
Gamma-Gamma with known parameters, as COPY text for order_lines; and lifetimes' summary of
them, for timing the fits alone.

    python3 benches/gen_clv_orders.py CUSTOMERS LINES.tsv SUMMARY.csv [SEED]

Each customer's first purchase falls on one of the 730 days before 2011-12-31 (the end);
repeat purchase days follow a Poisson process at rate λ ~ Gamma(r, α) per day, the customer
dropping out after each with probability π ~ Beta(a, b); each purchase day is an order of
1 + Poisson(1.2) lines whose amounts ~ Gamma(p, ν)/lines, ν ~ Gamma(q, v) per customer. At 1M
customers this is about 10M lines.
"""
import sys

import numpy as np

R, ALPHA, A, B = 0.9, 60.0, 0.4, 2.5
P, Q, V = 5.0, 3.5, 40.0
DAYS = 730
END = np.datetime64("2011-12-31")

n = int(sys.argv[1])
lines_path, summary_path = sys.argv[2], sys.argv[3]
rng = np.random.default_rng(int(sys.argv[4]) if len(sys.argv) > 4 else 7)

first = rng.integers(0, DAYS, size=n)  # days from the start
T = (DAYS - 1 - first).astype(float)
lam = rng.gamma(R, 1.0 / ALPHA, size=n)
drop = rng.beta(A, B, size=n)
nu = rng.gamma(Q, 1.0 / V, size=n)

# Purchase times (continuous), all customers at once, step by step.
customers = [np.arange(n)]
times = [np.zeros(n)]
t = np.zeros(n)
active = np.arange(n)
while active.size:
    t[active] += rng.exponential(1.0 / lam[active])
    bought = active[t[active] < T[active]]
    customers.append(bought)
    times.append(t[bought].copy())
    stays = bought[rng.random(bought.size) >= drop[bought]]
    active = stays
customer = np.concatenate(customers)
day = first[customer] + np.floor(np.concatenate(times)).astype(np.int64)
# One order per customer-day.
key = np.unique(customer * DAYS + day)
customer, day = key // DAYS, key % DAYS
order_value = rng.gamma(P, 1.0 / nu[customer])
per_order = 1 + rng.poisson(1.2, size=customer.size)

order = np.repeat(np.arange(customer.size), per_order)
line_no = np.arange(order.size) - np.repeat(np.cumsum(per_order) - per_order, per_order) + 1
# The order's value split evenly over its lines, in cents.
amount = np.round(np.repeat(order_value / per_order, per_order), 2) + 0.01
start = END - np.timedelta64(DAYS - 1, "D")
stamp = (start + day[order].astype("timedelta64[D]")).astype(str)

with open(lines_path, "w") as f:
    # order_id, line_no, external_id, ordered_at, quantity, unit_price, amount
    chunk = 1_000_000
    for s in range(0, order.size, chunk):
        e = min(order.size, s + chunk)
        o = order[s:e]
        rows = np.char.add(np.char.add("o", o.astype(str)), "\t")
        rows = np.char.add(rows, line_no[s:e].astype(str))
        rows = np.char.add(rows, "\tc")
        rows = np.char.add(rows, customer[o].astype(str))
        rows = np.char.add(rows, "\t")
        rows = np.char.add(rows, stamp[s:e])
        rows = np.char.add(rows, " 12:00:00+00\t1\t")
        a = np.char.mod("%.2f", amount[s:e])
        rows = np.char.add(np.char.add(np.char.add(rows, a), "\t"), a)
        f.write("\n".join(rows.tolist()))
        f.write("\n")

# lifetimes' summary of the same lines (days; monetary = mean of the repeat days' totals).
totals = np.bincount(order, weights=amount, minlength=customer.size)
counts = np.bincount(customer, minlength=n)
first_day = np.full(n, DAYS)
np.minimum.at(first_day, customer, day)
last_day = np.zeros(n, dtype=np.int64)
np.maximum.at(last_day, customer, day)
first_total = np.zeros(n)
is_first = day == first_day[customer]
first_total[customer[is_first]] = totals[is_first]
sum_total = np.bincount(customer, weights=totals, minlength=n)
frequency = counts - 1
with np.errstate(invalid="ignore", divide="ignore"):
    monetary = np.where(frequency > 0, (sum_total - first_total) / np.maximum(frequency, 1), 0.0)
np.savetxt(summary_path, np.column_stack([frequency, last_day - first_day, DAYS - 1 - first_day, monetary]),
           delimiter=",", header="frequency,recency,T,monetary_value", comments="", fmt=["%d", "%d", "%d", "%.17g"])
print(f"{n} customers, {customer.size} orders, {order.size} lines, "
      f"{int((frequency > 0).sum())} repeat purchasers", file=sys.stderr)
