#!/usr/bin/env python3
"""scikit-learn on the bytes `cargo bench --bench engine -- DIR` wrote, with the same settings:
DBSCAN (100k x 8 overlapping and separated, eps 0.5, min_samples 5; 1M x 2, eps and
min_samples as segstore's run reports them) and GaussianMixture (100k x 8, 8 components, full
and diagonal, random_state=42), and KMeans(n_init=10, random_state=42) at k = 2..8 on Mall and
Wholesale as segstore's default restarts ran them, and BisectingKMeans(8, random_state=42) on
100k x 8 and 1M x 8. Compares the labels with segstore's row for row. Prints one
JSON object.

    python3 benches/sklearn_engine.py DIR
"""
import json
import resource
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN, BisectingKMeans, KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_info

d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/segstore-engine-bench"
ours = json.load(open(f"{d}/segstore.json"))


def load(name, cols):
    return np.fromfile(f"{d}/{name}.f64", dtype="<f8").reshape(-1, cols)


def best_of(runs, f):
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def dbscan(data, cols, labels, case, runs):
    x = load(data, cols)
    eps, min_points = ours[case]["eps"], ours[case]["min_points"]
    seconds, m = best_of(runs, lambda: DBSCAN(eps=eps, min_samples=min_points, n_jobs=-1).fit(x))
    mine = np.fromfile(f"{d}/{labels}.labels", dtype="<i4")
    return {"seconds": seconds, "clusters": int(m.labels_.max() + 1),
            "noise": int((m.labels_ < 0).sum()), "core_rows": int(len(m.core_sample_indices_)),
            "same_label_rows": int((mine == m.labels_).sum()), "rows": int(len(x)),
            "ari": float(adjusted_rand_score(m.labels_, mine))}


def gmm(covariance):
    x = load("x_100k_8", 8)
    seconds, m = best_of(3, lambda: GaussianMixture(8, covariance_type=covariance, random_state=42).fit(x))
    n_iter = int(m.n_iter_)
    return {"seconds": seconds, "n_iter": n_iter, "converged": bool(m.converged_),
            "mean_log_likelihood": float(m.score(x)), "bic": float(m.bic(x)),
            "seconds_per_iter": seconds / (n_iter + 1)}


def restarts(case):
    x = load(case, ours[case]["cols"])
    per_k = []
    for k in range(2, 9):
        seconds, m = best_of(5, lambda: KMeans(k, n_init=10, random_state=42).fit(x))
        per_k.append({"k": k, "seconds": seconds, "inertia": float(m.inertia_)})
    return {"per_k": per_k}


def bisecting(name, runs):
    x = load(name, 8)
    seconds, m = best_of(runs, lambda: BisectingKMeans(8, random_state=42).fit(x))
    return {"seconds": seconds, "inertia": float(m.inertia_)}


out = {"sklearn": sklearn.__version__, "numpy": np.__version__,
       "blas": [(i.get("internal_api"), i.get("num_threads")) for i in threadpool_info()]}
out["restarts_mall"] = restarts("restarts_mall")
out["restarts_wholesale"] = restarts("restarts_wholesale")
out["bisecting_100k_8"] = bisecting("x_100k_8", 3)
out["bisecting_1m_8"] = bisecting("x_1m_8", 2)
out["gmm_100k_8_full"] = gmm("full")
out["gmm_100k_8_diag"] = gmm("diag")
out["dbscan_100k_8_separated"] = dbscan("x_100k_8_separated", 8, "dbscan_100k_8_separated",
                                        "dbscan_100k_8_separated", 2)
out["dbscan_100k_8"] = dbscan("x_100k_8", 8, "dbscan_100k_8", "dbscan_100k_8", 1)
out["dbscan_1m_2"] = dbscan("x_1m_2", 2, "dbscan_1m_2", "dbscan_1m_2", 1)
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
print(json.dumps(out))
