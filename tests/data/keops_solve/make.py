"""pykeops' `KernelSolve` on a Gaussian system, for `tests/solve.rs`.

Made with pykeops 2.3 and numpy from PyPI, on pykeops' CPU backend, in float64:

    python3 -m venv venv && venv/bin/pip install pykeops==2.3 numpy
    venv/bin/python tests/data/keops_solve/make.py tests/data/keops_solve/gauss.json

It solves (alpha I + K) a = s b, K_ij = exp(-g |x_i - x_j|^2), with alpha = 0.5, g = 20, for
s = 1 and s = 1000, at pykeops' tolerance eps = 1e-6 (its stopping rule is absolute:
|r|^2 < n eps^2), and writes x, b and both solutions.
"""
import json
import sys

import numpy as np
from pykeops.numpy import KernelSolve

rng = np.random.default_rng(7)
n = 300
x = rng.uniform(0, 1, (n, 2))
b = rng.uniform(-1, 1, (n, 1))
g = np.array([20.0])
solve = KernelSolve(
    "Exp(-g * SqDist(x, y)) * b", ["x = Vi(2)", "y = Vj(2)", "b = Vj(1)", "g = Pm(1)"], "b", axis=1
)
solutions = {}
for scale in [1.0, 1e3]:
    a = solve(x, x, b * scale, g, alpha=0.5, eps=1e-6, backend="CPU")
    solutions[str(scale)] = [float(v) for v in np.asarray(a).ravel()]
with open(sys.argv[1], "w") as out:
    json.dump({"x": [float(v) for v in x.ravel()], "b": [float(v) for v in b.ravel()], "a": solutions}, out)
    out.write("\n")
