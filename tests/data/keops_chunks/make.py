"""pykeops' chunked modes, on the sizes of its own tests, computed by pykeops.

Made with pykeops 2.3 and numpy from PyPI, on pykeops' CPU backend, in float32:

    python3 -m venv venv && venv/bin/pip install pykeops==2.3 numpy
    venv/bin/python tests/data/keops_chunks/make.py tests/data/keops_chunks/cases.json

The cases are those of pykeops' `test_chunks.py` (a Gaussian kernel sum over D = 300) and
`test_torch.py::test_LazyTensor_min_chunked` (`Min_ArgMin` over i of a sum over D = 990), with
fewer points. The inputs are not stored:
component k of row r of the input number v is

    ((r * 37 + k * 11 + v * 5) % 101) / (101 * scale)

computed in float64 and rounded to float32 (a correctly rounded quotient of two integers, the
same in any language); `tests/large_dims.rs` makes them the same way.
"""
import json
import sys

import numpy as np
from pykeops.numpy import Genred


def inputs(rows, dim, number, scale):
    r = np.arange(rows).reshape(-1, 1)
    k = np.arange(dim).reshape(1, -1)
    return (((r * 37 + k * 11 + number * 5) % 101) / (101.0 * scale)).astype(np.float32)


CASES = []


def case(name, formula, aliases, axis, shapes, reduction="Sum"):
    args = [inputs(rows, dim, v, scale) for v, (rows, dim, scale) in enumerate(shapes)]
    out = Genred(formula, aliases, reduction_op=reduction, axis=axis, dtype="float32")(*args, backend="CPU")
    if isinstance(out, tuple):
        # Min_ArgMin: each output row is its value, then its index.
        out = np.concatenate([np.asarray(o, dtype=np.float32).reshape(len(o), -1) for o in out], axis=1)
    CASES.append(
        dict(
            name=name,
            formula=formula,
            aliases=aliases,
            reduction=reduction,
            axis=axis,
            shapes=[list(s) for s in shapes],
            # Each float32 value in its shortest decimal form.
            output=[float(np.format_float_positional(v, unique=True)) for v in np.asarray(out).ravel()],
        )
    )


# test_chunks.py: M, N = 200, 300 there; x and y divided by sqrt(D) = 17.3.
case("chunks", "Exp(-SqDist(x, y)) * b", ["x = Vi(300)", "y = Vj(300)", "b = Vj(1)"], 1,
     [(50, 300, 17.3), (80, 300, 17.3), (80, 1, 1.0)])
# test_torch.py::test_LazyTensor_min_chunked: Min_ArgMin over i of sum_k exp(-(x_k + y_k)^2).
case("min_argmin_990", "Sum(Exp(-Square(x + y)))", ["x = Vi(990)", "y = Vj(990)"], 0,
     [(30, 990, 1.0), (40, 990, 1.0)], reduction="Min_ArgMin")

json.dump(dict(made_by="tests/data/keops_chunks/make.py, pykeops 2.3", cases=CASES), open(sys.argv[1], "w"))
