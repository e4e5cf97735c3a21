"""pykeops' block-sparse helpers on fixed inputs: grid clusters, cluster ranges and centroids,
and the ranges `from_matrix` makes of a cluster-to-cluster mask.

Made with pykeops 2.3 and numpy from PyPI (the helpers are numpy code, nothing is compiled):

    python3 -m venv venv && venv/bin/pip install pykeops==2.3 numpy
    venv/bin/python tests/data/keops_ranges/make.py tests/data/keops_ranges/cases.json

`tests/ranges.rs` runs `keops::ranges` on the same inputs and compares.
"""
import json
import sys

import numpy as np
from pykeops.numpy.cluster import (
    cluster_ranges_centroids,
    from_matrix,
    grid_cluster,
    sort_clusters,
)


def ints(a):
    return [int(v) for v in np.asarray(a).ravel()]


def floats(a):
    return [float(v) for v in np.asarray(a).ravel()]


rng = np.random.default_rng(7)
CASES = []
for dim, n, size in [(1, 40, 0.25), (2, 300, 0.2), (3, 500, 0.3)]:
    x = rng.standard_normal((n, dim))
    w = rng.uniform(0.5, 2.0, n)
    labels = grid_cluster(x, size)
    ranges, centroids, weights = cluster_ranges_centroids(x, labels, weights=w)
    x_sorted, labels_sorted = sort_clusters(x, labels)
    CASES.append(
        dict(
            kind="clusters",
            dim=dim,
            size=size,
            x=floats(x),
            weights=floats(w),
            labels=ints(labels),
            ranges=ints(ranges),
            centroids=floats(centroids),
            cluster_weights=floats(weights),
            sorted_labels=ints(labels_sorted),
            sorted_x=floats(x_sorted),
        )
    )

# from_matrix: pykeops' own example, and a random mask with an empty row and an empty column.
examples = [
    (np.array([[2, 5], [7, 12]]), np.array([[1, 4], [4, 9], [20, 30]]), np.array([[True, True, False], [False, True, False]])),
]
keep = rng.uniform(size=(6, 5)) < 0.4
keep[2, :] = False
keep[:, 3] = False
starts_i = np.cumsum([0, 3, 1, 4, 2, 5, 2])
starts_j = np.cumsum([0, 2, 6, 1, 3, 4])
examples.append(
    (np.stack([starts_i[:-1], starts_i[1:]], 1), np.stack([starts_j[:-1], starts_j[1:]], 1), keep)
)
for ranges_i, ranges_j, keep in examples:
    r_i, s_i, red_j, r_j, s_j, red_i = from_matrix(ranges_i, ranges_j, keep)
    CASES.append(
        dict(
            kind="from_matrix",
            ranges_i=ints(ranges_i),
            ranges_j=ints(ranges_j),
            keep=[bool(v) for v in keep.ravel()],
            rows=int(keep.shape[0]),
            cols=int(keep.shape[1]),
            over_j=dict(ranges=ints(r_i), slices=ints(s_i), redranges=ints(red_j)),
            over_i=dict(ranges=ints(r_j), slices=ints(s_j), redranges=ints(red_i)),
        )
    )

with open(sys.argv[1], "w") as f:
    json.dump(CASES, f, separators=(",", ":"))
    f.write("\n")
