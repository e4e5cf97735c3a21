#!/usr/bin/env python
"""pykeops timings of the cases that ../shared/bench/pykeops_bench.py lacks, measured the same
way (first call, warm-up, then the median of REPS runs), for BENCHMARKS.md.

Usage: python pykeops_cases.py TASK N [REPS]   with TASK in {gauss64, gauss_f64}
Env: OMP_NUM_THREADS sets the threads. Prints one JSON line.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
from pykeops.numpy import Genred

task, n = sys.argv[1], int(float(sys.argv[2]))
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
rng = np.random.default_rng(0)

if task == "gauss64":
    dim, dtype, g = 64, np.float32, 0.05
elif task == "gauss_f64":
    dim, dtype, g = 3, np.float64, 2.0
else:
    raise SystemExit("unknown task " + task)

x = rng.standard_normal((n, dim)).astype(dtype)
y = rng.standard_normal((n, dim)).astype(dtype)
b = rng.standard_normal((n, 1)).astype(dtype)
gp = np.array([g], dtype=dtype)
fn = Genred(
    "Exp(-G*SqDist(X,Y))*B",
    ["G=Pm(1)", f"X=Vi({dim})", f"Y=Vj({dim})", "B=Vj(1)"],
    reduction_op="Sum",
    axis=1,
    dtype="float64" if dtype == np.float64 else "float32",
)


def call():
    return fn(gp, x, y, b, backend="CPU")


t0 = time.perf_counter()
call()
first = time.perf_counter() - t0
call()
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    call()
    times.append(time.perf_counter() - t0)
median = statistics.median(times)
print(json.dumps(dict(
    task=task,
    N=n,
    D=dim,
    threads=os.environ.get("OMP_NUM_THREADS", "unset"),
    first_call_s=round(first, 3),
    median_s=round(median, 4),
    gpairs_per_s_median=round(n * n / median / 1e9, 3),
)))
