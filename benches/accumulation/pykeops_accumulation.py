"""pykeops' side of `cargo run --release --bin accumulation` (in `benches/`): the f32 sum over j
of b_j = 0.1 for N = 10^7 (4 output rows) in each `sum_scheme` and `dtype_acc`, and the time of a
Gaussian kernel sum (D = 3, M = N = 20,000, f32) per scheme, median of 5 calls after a warm-up, on
pykeops' CPU backend.

    OMP_NUM_THREADS=2 venv/bin/python benches/accumulation/pykeops_accumulation.py
"""
import time

import numpy as np
from pykeops.numpy import Genred


def median(f):
    f()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return sorted(times)[2]


n = 10**7
b = np.full((n, 1), 0.1, dtype=np.float32)
x = np.zeros((4, 1), dtype=np.float32)
exact = n * float(np.float32(0.1))
print(f"sum of 0.1 (f32) over N = {n}: exact {exact}")
for scheme, acc in [("direct_sum", "auto"), ("direct_sum", "float64"), ("block_sum", "auto"),
                    ("block_sum", "float64"), ("kahan_scheme", "auto")]:
    g = Genred("0 * x + b", ["x = Vi(1)", "b = Vj(1)"], reduction_op="Sum", axis=1,
               sum_scheme=scheme, dtype_acc=acc)
    got = float(g(x, b, backend="CPU")[0, 0])
    print(f"  {scheme:12} dtype_acc={acc:8} {got:.4f}  relative error {abs(got - exact) / exact:.1e}")

m = 20_000
rng = np.random.default_rng(1)
xs = rng.uniform(size=(m, 3)).astype(np.float32)
ys = rng.uniform(size=(m, 3)).astype(np.float32)
w = rng.uniform(-1, 1, size=(m, 1)).astype(np.float32)
gam = np.array([2.0], dtype=np.float32)
print(f"Gaussian kernel sum, D = 3, M = N = {m}, f32 (median of 5):")
for scheme, acc in [("block_sum", "auto"), ("kahan_scheme", "auto"), ("block_sum", "float64")]:
    k = Genred("Exp(-g * SqDist(x, y)) * b", ["g = Pm(1)", "x = Vi(3)", "y = Vj(3)", "b = Vj(1)"],
               reduction_op="Sum", axis=1, sum_scheme=scheme, dtype_acc=acc)
    print(f"  {scheme:12} dtype_acc={acc:8} {median(lambda: k(gam, xs, ys, w, backend='CPU')):.3f} s")
