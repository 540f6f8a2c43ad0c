#!/usr/bin/env python3
"""scikit-learn's HDBSCAN and the fast_hdbscan package on the bytes `cargo bench --bench
hdbscan -- DIR` wrote, with the same min_cluster_size and min_samples; labels compared with
segstore's row for row: rows that agree once clusters are matched one to one (noise to noise;
the numbering of clusters differs between implementations), and the adjusted Rand index.
A run that outlives TIMEOUT seconds (default 1800) is stopped and reported as such.

    python3 benches/sklearn_hdbscan.py DIR [TIMEOUT]
"""
import json
import multiprocessing as mp
import sys
import time

import numpy as np

d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/segstore-hdbscan-bench"
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 1800.0
ours = json.load(open(f"{d}/segstore.json"))


def fit(which, name, cols, mcs, ms, out):
    x = np.fromfile(f"{d}/{name}.f64", dtype="<f8").reshape(-1, cols)
    if which == "sklearn":
        from sklearn.cluster import HDBSCAN
        model = HDBSCAN(min_cluster_size=mcs, min_samples=ms, copy=True)
    else:
        import fast_hdbscan
        model = fast_hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms)
    t = time.perf_counter()
    labels = model.fit_predict(x)
    out.put((time.perf_counter() - t, np.asarray(labels, dtype=np.int32).tobytes()))


def run(which, name, case, warm):
    """Best of `warm + 1` runs (the first of fast_hdbscan's compiles its numba code, so it is
    run once more and the later run kept), each in a process of its own, bounded by TIMEOUT."""
    from sklearn.metrics import adjusted_rand_score
    best, labels = None, None
    for _ in range(warm + 1):
        q = mp.Queue()
        p = mp.Process(target=fit, args=(which, name, case["cols"], case["min_cluster_size"],
                                         case["min_samples"], q))
        p.start()
        try:
            seconds, raw = q.get(timeout=timeout)
        except Exception:
            p.kill()
            return {"seconds": None, "timeout": timeout}
        p.join()
        if best is None or seconds < best:
            best, labels = seconds, np.frombuffer(raw, dtype=np.int32)
    mine = np.fromfile(f"{d}/{name}.labels", dtype="<i4")
    return {"seconds": best, "clusters": int(labels.max() + 1), "noise": int((labels < 0).sum()),
            "agreeing_rows": agreeing(mine, labels), "rows": int(len(labels)),
            "ari": float(adjusted_rand_score(labels, mine))}


def agreeing(a, b):
    """Rows whose clusters correspond under the best one-to-one matching of the two
    clusterings' clusters, plus rows both call noise."""
    from scipy.optimize import linear_sum_assignment
    ka, kb = int(a.max() + 1), int(b.max() + 1)
    table = np.zeros((ka, kb), dtype=np.int64)
    both = (a >= 0) & (b >= 0)
    np.add.at(table, (a[both], b[both]), 1)
    rows, cols = linear_sum_assignment(-table) if ka and kb else ([], [])
    return int(table[rows, cols].sum() + ((a < 0) & (b < 0)).sum())


def main():
    from importlib.metadata import version

    import sklearn
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__,
           "fast_hdbscan": version("fast_hdbscan")}
    for name in ["hdbscan_100k_8", "hdbscan_1m_2"]:
        case = ours[name]
        out[name] = {
            "fast_hdbscan": run("fast_hdbscan", name, case, warm=1),
            "sklearn": run("sklearn", name, case, warm=0),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
