"""KeOps' raw log-sum-exp reductions, `Max_SumShiftExp` and `Max_SumShiftExpWeight`, computed
by pykeops.

Made with pykeops 2.3 and numpy from PyPI, on pykeops' CPU backend:

    python3 -m venv venv && venv/bin/pip install pykeops==2.3 numpy
    venv/bin/python tests/data/keops_reductions/make.py tests/data/keops_reductions/cases.json

Each case is one `Genred` call with the reduction, axis and float type it names, on fixed random
inputs; `tests/reductions.rs` compiles the same formulas with `genred!` and compares.
"""
import json
import sys

import numpy as np
from pykeops.numpy import Genred

CASES = []


def case(name, formula, aliases, reduction, axis, dtype, formula2=None, **inputs):
    names = [a.split("=")[0].strip() for a in aliases]
    args = [np.ascontiguousarray(inputs[n], dtype=dtype) for n in names]
    routine = Genred(formula, aliases, reduction_op=reduction, axis=axis, formula2=formula2)
    out = routine(*args, backend="CPU")
    CASES.append(
        dict(
            name=name,
            dtype=np.dtype(dtype).name,
            formula=formula,
            formula2=formula2,
            aliases=aliases,
            reduction=reduction,
            axis=axis,
            inputs={n: [float(v) for v in a.ravel()] for n, a in zip(names, args)},
            output=[float(v) for v in np.asarray(out).ravel()],
        )
    )


rng = np.random.default_rng(1)
x = rng.uniform(-1, 1, (6, 3))
y = rng.uniform(-1, 1, (9, 3))
b = rng.uniform(0.5, 2, (9, 2))
a = rng.uniform(0.5, 2, (6, 2))
xy = ["x = Vi(3)", "y = Vj(3)"]

case("max_sumshiftexp_j", "-SqDist(x, y) * 4", xy, "Max_SumShiftExp", 1, np.float64, x=x, y=y)
case("max_sumshiftexp_i", "-SqDist(x, y) * 4", xy, "Max_SumShiftExp", 0, np.float64, x=x, y=y)
case("max_sumshiftexp_j_f32", "-SqDist(x, y) * 4", xy, "Max_SumShiftExp", 1, np.float32, x=x, y=y)
case(
    "max_sumshiftexpweight_j",
    "-SqDist(x, y) * 4",
    xy + ["b = Vj(2)"],
    "Max_SumShiftExpWeight",
    1,
    np.float64,
    formula2="b",
    x=x,
    y=y,
    b=b,
)
case(
    "max_sumshiftexpweight_i",
    "-SqDist(x, y) * 4",
    xy + ["a = Vi(2)"],
    "Max_SumShiftExpWeight",
    0,
    np.float64,
    formula2="a",
    x=x,
    y=y,
    a=a,
)

with open(sys.argv[1], "w") as f:
    json.dump(dict(cases=CASES), f, indent=1)
    f.write("\n")
