"""pykeops' side of `cargo run --release --bin batch` (in `benches/`): batched Gaussian kernel
sums, x of batch shape (B1, 1), y and b of (B1, B2), D = 3, f32, on pykeops' CPU backend, in
the same two shapes. Median of 5 calls after a warm-up.

    OMP_NUM_THREADS=2 venv/bin/python benches/batch/pykeops_batch.py
"""
import time

import numpy as np
from pykeops.numpy import Genred

k = Genred("Exp(-SqDist(x, y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"], reduction_op="Sum", axis=1)
for b1, b2, m in [(4, 8, 5_000), (50, 20, 100)]:
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(b1, 1, m, 3)).astype(np.float32)
    y = rng.uniform(size=(b1, b2, m, 3)).astype(np.float32)
    b = rng.uniform(size=(b1, b2, m, 1)).astype(np.float32)
    k(x, y, b, backend="CPU")
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        k(x, y, b, backend="CPU")
        times.append(time.perf_counter() - t0)
    s = sorted(times)[2]
    print(f"{b1} x {b2} problems of M = N = {m}: {s:.4f} s ({b1 * b2 * m * m / s / 1e9:.2f} Gpairs/s)")
