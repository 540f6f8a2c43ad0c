#!/usr/bin/env python3
"""scikit-learn on the bytes `cargo bench --bench kmeans -- DIR` wrote, with the same settings:
Lloyd from the same initial centroids, k-means++ with n_init=10, and the k sweep 2..10 with
silhouette (sample of 10,000), Davies-Bouldin and Calinski-Harabasz. Prints one JSON object.

    python3 benches/sklearn_kmeans.py DIR
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from threadpoolctl import threadpool_info

d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/segstore-kmeans-bench"
x = np.fromfile(f"{d}/x_1m.f64", dtype="<f8").reshape(-1, 8)
init = np.fromfile(f"{d}/init_1m.f64", dtype="<f8").reshape(8, 8)
x100 = np.fromfile(f"{d}/x_100k.f64", dtype="<f8").reshape(-1, 8)


def best_of(runs, f):
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


lloyd_s, m = best_of(5, lambda: KMeans(8, init=init, n_init=1, algorithm="lloyd", tol=1e-4, max_iter=300).fit(x))
e2e_s, e = best_of(3, lambda: KMeans(8, init="k-means++", n_init=10, algorithm="lloyd", random_state=42).fit(x))


def sweep():
    out = []
    for k in range(2, 11):
        km = KMeans(k, n_init=10, algorithm="lloyd", random_state=42).fit(x100)
        out.append((k, km.inertia_, silhouette_score(x100, km.labels_, sample_size=10_000, random_state=42),
                    davies_bouldin_score(x100, km.labels_), calinski_harabasz_score(x100, km.labels_)))
    return out


sweep_s, sw = best_of(3, sweep)
print(json.dumps({
    "sklearn": sklearn.__version__, "numpy": np.__version__,
    "blas": [(i.get("internal_api"), i.get("num_threads"), i.get("architecture")) for i in threadpool_info()],
    "lloyd": {"seconds": lloyd_s, "n_iter": int(m.n_iter_), "ms_per_iter": lloyd_s * 1e3 / m.n_iter_, "inertia": float(m.inertia_)},
    "end_to_end": {"seconds": e2e_s, "inertia": float(e.inertia_), "n_iter": int(e.n_iter_)},
    "sweep_100k": {"seconds": sweep_s, "best_silhouette_k": max(sw, key=lambda r: r[2])[0], "curve": sw},
}))
