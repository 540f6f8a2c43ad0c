#!/usr/bin/env python3
"""scikit-learn's side of benches/minibatch.sh: reads the CSV, scales it as segstore does
(StandardScaler), fits MiniBatchKMeans (its defaults: batch_size 1024, max_iter 100,
n_init 'auto' = 1 with k-means++) and KMeans (n_init 3, as segstore's auto on large tables),
timing each fit alone; scores segstore's labels (its assignments CSV) on the same scaled
matrix, so that every inertia is computed the same way. Prints JSON.

    python3 benches/sklearn_minibatch.py FILE K SEGSTORE_MINIBATCH_CSV SEGSTORE_KMEANS_CSV \\
        SEGSTORE_ONE_PASS_CSV
"""
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
import sklearn
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.preprocessing import StandardScaler

path, k = sys.argv[1], int(sys.argv[2])
df = pd.read_csv(path)
ids = df.iloc[:, 0].astype(str).to_numpy()
x = StandardScaler().fit_transform(df.iloc[:, 1:].to_numpy(dtype=np.float64))


def inertia(labels):
    """Sum of squared distances of the rows to the mean of their segment."""
    total = 0.0
    for j in np.unique(labels):
        rows = x[labels == j]
        total += float(((rows - rows.mean(axis=0)) ** 2).sum())
    return total


def segstore_labels(csv):
    a = pd.read_csv(csv, dtype={"id": str})
    pos = pd.Series(np.arange(len(ids)), index=ids)
    labels = np.empty(len(ids), dtype=np.int64)
    labels[pos[a["id"].to_numpy()].to_numpy()] = a["segment"].astype(int).to_numpy()
    return labels


out = {"sklearn": sklearn.__version__, "rows": int(x.shape[0]), "k": k}
for name, model in [
    ("minibatch", MiniBatchKMeans(n_clusters=k, random_state=42)),
    # One pass's worth of steps, every one of them (no early stop): the same work as
    # segstore's run with --minibatch-max-iter 1 --max-no-improvement 0.
    ("minibatch_one_pass", MiniBatchKMeans(n_clusters=k, random_state=42, max_iter=1,
                                           max_no_improvement=None)),
    ("kmeans", KMeans(n_clusters=k, n_init=3, random_state=42)),
]:
    started = time.perf_counter()
    model.fit(x)
    seconds = time.perf_counter() - started
    out[name] = {
        "seconds": seconds,
        # Scored as segstore's labels are: against the means of the segments.
        "inertia": inertia(model.labels_),
        "own_inertia": float(model.inertia_),
        "steps_or_iter": int(model.n_steps_ if name != "kmeans" else model.n_iter_),
    }
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
# segstore's labels, scored here: its centroids are the means of its segments after the last
# assignment pass (the inertia the CLI prints is measured against its own centroids).
out["segstore_minibatch_inertia_of_means"] = inertia(segstore_labels(sys.argv[3]))
out["segstore_kmeans_inertia_of_means"] = inertia(segstore_labels(sys.argv[4]))
out["segstore_one_pass_inertia_of_means"] = inertia(segstore_labels(sys.argv[5]))
print(json.dumps(out))
