"""pykeops' side of `cargo run --release --example cutoff -- N`: the same problem (N points
uniform in the unit square, the Gaussian whose terms are e^-4.5 at r = sqrt(0.01 / pi), clusters
of side r / 2 kept when their centroids are within r plus two cell diagonals), dense and with
pykeops' block-sparse ranges, on its CPU backend. Median of 3 calls after a warm-up.

    OMP_NUM_THREADS=2 venv/bin/python benches/ranges/pykeops_cutoff.py 20000
    OMP_NUM_THREADS=2 venv/bin/python benches/ranges/pykeops_cutoff.py 100000 sparse  # no dense
"""
import sys
import time

import numpy as np
from pykeops.numpy import Genred
from pykeops.numpy.cluster import cluster_ranges_centroids, from_matrix, grid_cluster, sort_clusters

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
rng = np.random.default_rng(3)
x = rng.uniform(size=(n, 2)).astype(np.float32)
b = rng.standard_normal((n, 1)).astype(np.float32)
r = np.sqrt(0.01 / np.pi)
g = np.array([4.5 / r**2], dtype=np.float32)
k = Genred("Exp(-g * SqDist(x, y)) * b", ["x = Vi(2)", "y = Vj(2)", "b = Vj(1)", "g = Pm(1)"], reduction_op="Sum", axis=1)


def median(f):
    f()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return sorted(times)[1], out


sparse_only = len(sys.argv) > 2 and sys.argv[2] == "sparse"
dense_s = float("nan") if sparse_only else median(lambda: k(x, x, b, g, backend="CPU"))[0]
cell = r / 2
labels = grid_cluster(x, cell)
ranges, centroids, _ = cluster_ranges_centroids(x, labels)
xs, _ = sort_clusters(x, labels)
bs, _ = sort_clusters(b, labels)
d2 = ((centroids[:, None, :] - centroids[None, :, :]) ** 2).sum(2)
keep = d2 <= (r + 2 * np.sqrt(2) * cell) ** 2
ranges_ij = from_matrix(ranges, ranges, keep)
sparse_s, _ = median(lambda: k(xs, xs, bs, g, backend="CPU", ranges=ranges_ij))
pairs = sum(
    (ranges[k_, 1] - ranges[k_, 0]) * (ranges[l, 1] - ranges[l, 0])
    for k_ in range(len(ranges))
    for l in range(len(ranges))
    if keep[k_, l]
)
print(f"pykeops, {n} points: pairs computed {100 * pairs / n**2:.2f} %; dense {dense_s:.3f} s, block-sparse {sparse_s:.3f} s: {dense_s / sparse_s:.1f} x")
