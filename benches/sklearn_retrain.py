#!/usr/bin/env python3
"""scikit-learn on the retrain benchmark's data: the same CSV, standardised, KMeans(k=8,
n_init=3) with k-means++ (lloyd), timed per phase (read with pandas, scale, fit, predict).

    python3 benches/sklearn_retrain.py /tmp/segstore_customers_1000000.csv
"""
import json
import sys
import time

import pandas as pd
import sklearn
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

path = sys.argv[1]
t0 = time.perf_counter()
df = pd.read_csv(path)
t1 = time.perf_counter()
x = StandardScaler().fit_transform(df.drop(columns=[df.columns[0]]).to_numpy(dtype="float64"))
t2 = time.perf_counter()
km = KMeans(n_clusters=8, n_init=3, random_state=42, algorithm="lloyd").fit(x)
t3 = time.perf_counter()
print(json.dumps({
    "sklearn": sklearn.__version__, "rows": len(df),
    "read_csv_s": round(t1 - t0, 3), "scale_s": round(t2 - t1, 3), "fit_s": round(t3 - t2, 3),
    "n_iter_kept": int(km.n_iter_), "inertia": float(km.inertia_),
}))
