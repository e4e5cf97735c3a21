"""Values and derivatives of KeOps operations at their singular points, computed by pykeops.

Made with pykeops 2.3 and numpy from PyPI, on pykeops' CPU backend, in float64:

    python3 -m venv venv && venv/bin/pip install pykeops==2.3 numpy
    venv/bin/python tests/data/keops_singular/make.py tests/data/keops_singular/cases.json

Each case is one `Genred` call (`Sum` over j, `axis=1`, on float64 arrays) of a formula that is either an
operation or `Grad(operation, v, e)`, on inputs that put its argument at the points where the
operation or its derivative is singular. Non-finite results are written as the strings "nan",
"inf" and "-inf" (JSON has no such numbers). `tests/keops_singular.rs` evaluates the same
formulas with `genred!` and compares.
"""
import json
import sys

import numpy as np
from pykeops.numpy import Genred


def col(values):
    return np.array(values, dtype=np.float64).reshape(-1, 1)


def number(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


CASES = []


def case(name, formula, aliases, **inputs):
    names = [a.split("=")[0].strip() for a in aliases]
    args = [np.ascontiguousarray(inputs[n], dtype=np.float64) for n in names]
    out = Genred(formula, aliases, reduction_op="Sum", axis=1)(*args, backend="CPU")
    CASES.append(
        dict(
            name=name,
            formula=formula,
            aliases=aliases,
            inputs={n: [float(v) for v in a.ravel()] for n, a in zip(names, args)},
            output=[number(v) for v in np.asarray(out).ravel()],
            output_shape=list(np.asarray(out).shape),
        )
    )


# One-argument operations at a point t: `Op(x - y)` with y = 0, so that x - y is exactly t.
UNARY = {
    "Sqrt": [0.0, 1.0, 4.0],
    "Rsqrt": [0.0, 1.0, 4.0],
    "Log": [0.0, 1.0],
    "Inv": [0.0, 2.0],
    "Abs": [0.0, -1.0, 1.0],
    "Sign": [0.0, -1.0, 1.0],
    "Step": [0.0, -1.0, 1.0],
    "ReLU": [0.0, -1.0, 1.0],
    "XLogX": [0.0, 1.0],
    "SinXDivX": [0.0, 1.0],
    "Acos": [1.0, -1.0, 0.0],
    "Asin": [1.0, -1.0, 0.0],
}
UNARY_ALIASES = ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"]
for op, points in UNARY.items():
    x, y, e = col(points), col([0.0]), col([1.0] * len(points))
    case(f"{op.lower()}_value", f"{op}(x - y)", UNARY_ALIASES[:2], x=x, y=y)
    case(f"{op.lower()}_grad", f"Grad({op}(x - y), x, e)", UNARY_ALIASES, x=x, y=y, e=e)

for m in [-1, 2, 3]:
    points = [0.0, -2.0, 2.0]
    x, y, e = col(points), col([0.0]), col([1.0] * len(points))
    tag = f"m{-m}" if m < 0 else str(m)
    case(f"pow{tag}_value", f"Pow(x - y, {m})", UNARY_ALIASES[:2], x=x, y=y)
    case(f"pow{tag}_grad", f"Grad(Pow(x - y, {m}), x, e)", UNARY_ALIASES, x=x, y=y, e=e)

# Two-argument operations at pairs (s, t): `Op(x - y, z)` with y = 0.
BINARY_ALIASES = ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"]
BINARY = {
    "Powf": [(0.0, 2.0), (0.0, 0.5), (0.0, 0.0), (0.0, -1.0), (-2.0, 2.0), (-2.0, 0.5), (2.0, 0.5)],
    "Atan2": [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, -1.0)],
}
for op, pairs in BINARY.items():
    x, z = col([p[0] for p in pairs]), col([p[1] for p in pairs])
    y, e = col([0.0]), col([1.0] * len(pairs))
    case(f"{op.lower()}_value", f"{op}(x - y, z)", BINARY_ALIASES[:3], x=x, z=z, y=y)
    for v in ["x", "z"]:
        case(f"{op.lower()}_grad_{v}", f"Grad({op}(x - y, z), {v}, e)", BINARY_ALIASES, x=x, z=z, y=y, e=e)

# Vector operations at 0: rows of x, one row of y = 0.
VECTOR_ALIASES = ["x = Vi(3)", "y = Vj(3)", "e = Vi({})"]
x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
y = np.zeros((1, 3))
case("norm2_value", "Norm2(x - y)", VECTOR_ALIASES[:2], x=x, y=y)
case("norm2_grad", "Grad(Norm2(x - y), x, e)", VECTOR_ALIASES[:2] + ["e = Vi(1)"], x=x, y=y, e=col([1.0, 1.0]))
case("normalize_value", "Normalize(x - y)", VECTOR_ALIASES[:2], x=x, y=y)
case(
    "normalize_grad",
    "Grad(Normalize(x - y), x, e)",
    VECTOR_ALIASES[:2] + ["e = Vi(3)"],
    x=x,
    y=y,
    e=np.array([[1.0, -2.0, 0.5], [1.0, -2.0, 0.5]]),
)

# KeOps issue 221: the Laplace kernel's gradient where x_i = y_j.
x = np.array([[0.0, 0.0, 0.0], [1.0, 0.5, -1.0], [0.25, 0.0, 1.0]])
y = np.array([[0.0, 0.0, 0.0], [1.0, 0.5, -1.0]])
b = col([1.0, 2.0])
case(
    "laplace_grad",
    "Grad(Exp(-Sqrt(SqDist(x, y))) * b, x, e)",
    ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "e = Vi(1)"],
    x=x,
    y=y,
    b=b,
    e=col([1.0, 1.0, 1.0]),
)

with open(sys.argv[1], "w") as out:
    made_by = "tests/data/keops_singular/make.py, pykeops 2.3, CPU backend"
    json.dump({"made_by": made_by, "cases": CASES}, out, indent=1)
    out.write("\n")
