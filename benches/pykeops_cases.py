#!/usr/bin/env python
"""pykeops timings of the cases that ../shared/bench/pykeops_bench.py lacks, measured the same
way (first call, warm-up, then the median of REPS runs), for BENCHMARKS.md. The tasks are those
of examples/bench.rs, with the same formulas, parameters and input distributions.

Usage: python pykeops_cases.py TASK N [REPS]
  TASK in {gauss, grad, argkmin, lse, gauss64, gauss_f64} (the standard cases; the first four
  are also ../shared/bench/pykeops_bench.py's, with the same parameters) or one of bench.rs'
  --extra cases:
  {laplace, cauchy, matern32, periodic, gauss_vec, gauss_vec16, gauss_i, grad_y, grad64, grad_y64,
  nbody, argmin, softmax, attention, gauss_sharp, grad_sharp, softmax_sharp}
Env: OMP_NUM_THREADS sets the threads; KEOPS_BACKEND=GPU times pykeops' GPU backend instead of
its CPU one (numpy inputs, so each call includes the transfers, as bench.rs' host calls do).
Prints one JSON line.
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
f32 = np.float32


def normal(dim, dtype=f32):
    return rng.standard_normal((n, dim)).astype(dtype)


def cst(value, dtype=f32):
    return np.array([value], dtype=dtype)


XYB = ["X=Vi(3)", "Y=Vj(3)", "B=Vj(1)"]
XYB3 = ["X=Vi(3)", "Y=Vj(3)", "B=Vj(3)"]
GAUSS = ["G=Pm(1)"] + XYB
dim, dtype = 3, f32
# Each task: formula, aliases, reduction, axis, inputs, and optional Genred keywords.
if task == "gauss":
    spec = ("Exp(-G*SqDist(X,Y))*B", GAUSS, "Sum", 1,
            lambda: [cst(2.0), normal(3), normal(3), normal(1)])
elif task == "grad":
    spec = ("Grad(Exp(-G*SqDist(X,Y))*B, X, E)", GAUSS + ["E=Vi(1)"], "Sum", 1,
            lambda: [cst(2.0), normal(3), normal(3), normal(1), normal(1)])
elif task == "argkmin":
    spec = ("SqDist(X,Y)", ["X=Vi(3)", "Y=Vj(3)"], "ArgKMin", 1, lambda: [normal(3), normal(3)],
            dict(opt_arg=10))
elif task == "lse":
    spec = ("H - IE*SqDist(X,Y)", ["IE=Pm(1)", "X=Vi(3)", "Y=Vj(3)", "H=Vj(1)"], "LogSumExp", 1,
            lambda: [cst(10.0), normal(3), normal(3), normal(1)])
elif task == "gauss64":
    dim = 64
    spec = ("Exp(-G*SqDist(X,Y))*B", ["G=Pm(1)", "X=Vi(64)", "Y=Vj(64)", "B=Vj(1)"], "Sum", 1,
            lambda: [cst(0.05), normal(64), normal(64), normal(1)])
elif task == "gauss_f64":
    dtype = np.float64
    spec = ("Exp(-G*SqDist(X,Y))*B", GAUSS, "Sum", 1,
            lambda: [cst(2.0, dtype), normal(3, dtype), normal(3, dtype), normal(1, dtype)])
elif task == "laplace":
    spec = ("Exp(-Norm2(X-Y))*B", XYB, "Sum", 1, lambda: [normal(3), normal(3), normal(1)])
elif task == "cauchy":
    spec = ("Inv(IntCst(1)+SqDist(X,Y))*B", XYB, "Sum", 1,
            lambda: [normal(3), normal(3), normal(1)])
elif task == "matern32":
    spec = ("(IntCst(1)+Norm2(X-Y))*Exp(-Norm2(X-Y))*B", XYB, "Sum", 1,
            lambda: [normal(3), normal(3), normal(1)])
elif task == "periodic":
    spec = ("Exp(-IntCst(2)*SqNorm2(Sin(X-Y)))*B", XYB, "Sum", 1,
            lambda: [normal(3), normal(3), normal(1)])
elif task == "gauss_vec":
    spec = ("Exp(-G*SqDist(X,Y))*B", ["G=Pm(1)"] + XYB3, "Sum", 1,
            lambda: [cst(2.0), normal(3), normal(3), normal(3)])
elif task == "gauss_vec16":
    spec = ("Exp(-G*SqDist(X,Y))*B", ["G=Pm(1)", "X=Vi(3)", "Y=Vj(3)", "B=Vj(16)"], "Sum", 1,
            lambda: [cst(2.0), normal(3), normal(3), normal(16)])
elif task == "gauss_i":
    spec = ("Exp(-G*SqDist(X,Y))*B", ["G=Pm(1)", "X=Vi(3)", "Y=Vj(3)", "B=Vi(1)"], "Sum", 0,
            lambda: [cst(2.0), normal(3), normal(3), normal(1)])
elif task == "grad_y":
    spec = ("Grad(Exp(-G*SqDist(X,Y))*B, Y, E)", GAUSS + ["E=Vi(1)"], "Sum", 0,
            lambda: [cst(2.0), normal(3), normal(3), normal(1), normal(1)])
elif task in ("grad64", "grad_y64"):
    dim = 64
    wrt, axis = ("X", 1) if task == "grad64" else ("Y", 0)
    spec = ("Grad(Exp(-G*SqDist(X,Y))*B, " + wrt + ", E)",
            ["G=Pm(1)", "X=Vi(64)", "Y=Vj(64)", "B=Vj(1)", "E=Vi(1)"], "Sum", axis,
            lambda: [cst(0.05), normal(64), normal(64), normal(1), normal(1)])
elif task == "nbody":
    spec = ("(Y-X)*M*Pow(Rsqrt(SqDist(X,Y)+E2),3)", ["X=Vi(3)", "Y=Vj(3)", "M=Vj(1)", "E2=Pm(1)"],
            "Sum", 1, lambda: [normal(3), normal(3), np.abs(normal(1)), cst(0.01)])
elif task == "argmin":
    spec = ("SqDist(X,Y)", ["X=Vi(3)", "Y=Vj(3)"], "ArgMin", 1, lambda: [normal(3), normal(3)])
elif task == "softmax":
    spec = ("-IntCst(2)*SqDist(X,Y)", XYB3, "SumSoftMaxWeight", 1,
            lambda: [normal(3), normal(3), normal(3)], dict(formula2="B"))
elif task == "attention":
    dim = 16
    spec = ("S*(Q|K)", ["Q=Vi(16)", "K=Vj(16)", "V=Vj(16)", "S=Pm(1)"], "SumSoftMaxWeight", 1,
            lambda: [normal(16), normal(16), normal(16), cst(0.25)], dict(formula2="V"))
elif task == "gauss_sharp":
    spec = ("Exp(-G*SqDist(X,Y))*B", GAUSS, "Sum", 1,
            lambda: [cst(20.0), normal(3), normal(3), normal(1)])
elif task == "grad_sharp":
    spec = ("Grad(Exp(-G*SqDist(X,Y))*B, X, E)", GAUSS + ["E=Vi(1)"], "Sum", 1,
            lambda: [cst(20.0), normal(3), normal(3), normal(1), normal(1)])
elif task == "softmax_sharp":
    spec = ("-IntCst(20)*SqDist(X,Y)", XYB3, "SumSoftMaxWeight", 1,
            lambda: [normal(3), normal(3), normal(3)], dict(formula2="B"))
else:
    raise SystemExit("unknown task " + task)

formula, aliases, reduction, axis, inputs = spec[:5]
options = spec[5] if len(spec) > 5 else {}
args = inputs()
fn = Genred(formula, aliases, reduction_op=reduction, axis=axis,
            dtype="float64" if dtype == np.float64 else "float32", **options)


backend = os.environ.get("KEOPS_BACKEND", "CPU")


def call():
    return fn(*args, backend=backend)


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
    backend=backend,
    N=n,
    D=dim,
    threads=os.environ.get("OMP_NUM_THREADS", "unset"),
    first_call_s=round(first, 3),
    median_s=round(median, 4),
    gpairs_per_s_median=round(n * n / median / 1e9, 3),
)))
