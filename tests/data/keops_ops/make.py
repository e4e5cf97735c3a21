"""Values and gradients of the KeOps operations added to the op table last, computed by pykeops.

Made with pykeops 2.3 and numpy from PyPI, on pykeops' CPU backend, in float64:

    python3 -m venv venv && venv/bin/pip install pykeops==2.3 numpy
    venv/bin/python tests/data/keops_ops/make.py tests/data/keops_ops/cases.json

Each case is one `Genred` call (`Sum` over j, `axis=1`, on float64 arrays, float32 for BSpline) of a formula string,
on fixed inputs; SoftDTW_SqDist, which pykeops 2.3 computes wrongly on the CPU, is computed in
numpy instead (see below); `sinc` exists only as pykeops' `LazyTensor.sinc()`, which is evaluated instead
and given with the formula that keops for Rust compiles for it. `tests/keops_ops.rs` evaluates
the same formulas with `genred!` and compares.
"""
import json
import sys

import numpy as np
from pykeops.numpy import Genred, LazyTensor

CASES = []


def rows(values, dim):
    return np.array(values, dtype=np.float64).reshape(-1, dim)


def record(name, formula, aliases, args, out):
    names = [a.split("=")[0].strip() for a in aliases]
    CASES.append(
        dict(
            name=name,
            dtype=str(args[0].dtype),
            formula=formula,
            aliases=aliases,
            inputs={n: [float(v) for v in a.ravel()] for n, a in zip(names, args)},
            output=[float(v) for v in np.asarray(out).ravel()],
        )
    )


def case(name, formula, aliases, dtype=np.float64, **inputs):
    names = [a.split("=")[0].strip() for a in aliases]
    args = [np.ascontiguousarray(inputs[n], dtype=dtype) for n in names]
    out = Genred(formula, aliases, reduction_op="Sum", axis=1)(*args, backend="CPU")
    record(name, formula, aliases, args, out)


rng = np.random.default_rng(0)
x3 = rows(rng.uniform(-1, 1, 4 * 3), 3)
y3 = rows(rng.uniform(-1, 1, 5 * 3), 3)
e1 = rows(rng.uniform(-1, 1, 4), 1)
e3 = rows(rng.uniform(-1, 1, 4 * 3), 3)
base = ["x = Vi(3)", "y = Vj(3)"]

# The weighted squared norms, as KeOps expands them.
weights = {
    "SqNormIso": rows([1.7], 1),
    "SqNormDiag": rows([0.5, 1.5, 2.5], 3),
    "SymSqNorm": rows([2.0, 0.3, -0.2, 0.3, 1.0, 0.4, -0.2, 0.4, 1.5], 9),
}
for op, s in weights.items():
    aliases = base + [f"s = Pm({s.size})"]
    f = f"{op}(s, x - y)"
    case(f"{op.lower()}_value", f, aliases, x=x3, y=y3, s=s)
    case(f"{op.lower()}_grad_x", f"Grad({f}, x, e)", aliases + ["e = Vi(1)"], x=x3, y=y3, s=s, e=e1)
    case(f"{op.lower()}_grad_s", f"Grad({f}, s, e)", aliases + ["e = Vi(1)"], x=x3, y=y3, s=s, e=e1)

# SumT: a scalar repeated, and its adjoint, Sum, in the gradient.
f = "SumT(SqDist(x, y), 3)"
case("sumt_value", f, base, x=x3, y=y3)
case("sumt_grad_x", f"Grad({f}, x, e)", base + ["e = Vi(3)"], x=x3, y=y3, e=e3)

# DiffClampInt at its bounds, inside and outside.
pts = rows([-2.0, -1.0, -0.5, 0.0, 1.0, 1.5], 1)
case("diffclampint_value", "DiffClampInt(x - y, -1, 1)", ["x = Vi(1)", "y = Vj(1)"], x=pts, y=rows([0.0], 1))

# B-splines: knots with a repeated one, sampled on and between the knots, orders 0 to 3. In
# float32: pykeops 2.3 compiles BSpline for float32 only.
knots = rows([0.0, 0.5, 1.0, 1.0, 2.0, 3.5, 4.0], 7)
xs = rows([-0.5, 0.0, 0.25, 0.5, 0.9, 1.0, 1.7, 2.0, 3.0, 3.99, 4.0], 1)
for order in range(4):
    case(f"bspline{order}_value", f"BSpline(t, x - y, {order})", ["t = Pm(7)", "x = Vi(1)", "y = Vj(1)"],
         dtype=np.float32, t=knots, x=xs, y=rows([0.0], 1))

# Soft-DTW between series of lengths 4 and 3, and its gradients. pykeops 2.3's CPU backend gets
# this operation wrong (x = y = (0, 1, 2), gamma = 0.5 gives -1.2825, where the recursion below
# gives -0.2508; lengths 4 and 3 give NaN, and float32 inf), so these cases are computed here
# instead: the soft-DTW recursion of Cuturi and Blondel (2017) with KeOps' conventions (plain
# sums along the first row and column), and its gradient by central finite differences.
def softdtw(x, y, gamma):
    n, m = len(x), len(y)
    r = np.zeros((m, n))
    for j in range(m):
        for i in range(n):
            d = (x[i] - y[j]) ** 2
            if i == 0 and j == 0:
                r[j, i] = d
            elif j == 0:
                r[j, i] = d + r[0, i - 1]
            elif i == 0:
                r[j, i] = d + r[j - 1, 0]
            else:
                prev = np.array([r[j - 1, i - 1], r[j - 1, i], r[j, i - 1]])
                low = prev.min()
                r[j, i] = d + low - gamma * np.log(np.exp((low - prev) / gamma).sum())
    return r[m - 1, n - 1]


def softdtw_case(name, wrt, x, y, gamma, e):
    aliases = ["x = Vi(4)", "y = Vj(3)", "g = Pm(1)"]
    f = "SoftDTW_SqDist(x, y, g)"
    if wrt is None:
        out = [[softdtw(xi, yj, gamma) for yj in y] for xi in x]
        out = np.array(out).sum(1)
    else:
        aliases = aliases + ["e = Vi(1)"]
        f = f"Grad({f}, {wrt}, e)"
        h = 1e-6
        rows_out = []
        for a, xi in enumerate(x):
            total = np.zeros(x.shape[1] if wrt == "x" else y.shape[1])
            for yj in y:
                v = (xi if wrt == "x" else yj).copy()
                for k in range(len(v)):
                    plus, minus = v.copy(), v.copy()
                    plus[k] += h
                    minus[k] -= h
                    fp = softdtw(plus, yj, gamma) if wrt == "x" else softdtw(xi, plus, gamma)
                    fm = softdtw(minus, yj, gamma) if wrt == "x" else softdtw(xi, minus, gamma)
                    total[k] += e[a, 0] * (fp - fm) / (2 * h)
            rows_out.append(total)
        out = np.array(rows_out)
    args = [x, y, np.array([[gamma]])] + ([] if wrt is None else [e])
    record(name, f, aliases, args, out)
    CASES[-1]["reference"] = "numpy recursion (pykeops 2.3 is wrong here)"


x4 = rows(rng.uniform(-1, 1, 3 * 4), 4)
y3s = rows(rng.uniform(-1, 1, 2 * 3), 3)
e3r = rows(rng.uniform(-1, 1, 3), 1)
for tag, gamma in [("", 0.5), ("_small", 0.05)]:
    softdtw_case(f"softdtw{tag}_value", None, x4, y3s, gamma, None)
    softdtw_case(f"softdtw{tag}_grad_x", "x", x4, y3s, gamma, e3r)
    softdtw_case(f"softdtw{tag}_grad_y", "y", x4, y3s, gamma, e3r)

# The linear operators, on formulas linear in x (KeOps implements them for a few operations:
# sums, products, quotients, Sum, SumT, Elem and Extract; MatVecMult is not one of them).
lin = ["x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Vj(3)"]
u3 = rows(rng.uniform(-1, 1, 4 * 3), 3)
w3 = rows(rng.uniform(-1, 1, 5 * 3), 3)
ins = dict(x=x3, y=y3, u=u3, w=w3)
case("trace_diagonal", "TraceOperator(x * SqDist(y, w) - 2 * x, x)", lin, **ins)
case("trace_weighted", "TraceOperator(x * y, x, w)", lin, **ins)
case("trace_scalar", "TraceOperator((x | y), x, w)", lin, **ins)
case("trace_sumt", "TraceOperator(SumT(Sum(x * y), 3), x)", lin, **ins)
case("adjoint_diagonal", "AdjointOperator(x * y - SumT(Sum(x), 3), x, u)", lin, **ins)
case("adjoint_elem", "AdjointOperator(Elem(x, 1) * y, x, u)", lin, **ins)

# sinc, from LazyTensor.sinc(); keops for Rust compiles `Sinc(x - y)`.
xl, yl = LazyTensor(x3[:, None, :]), LazyTensor(y3[None, :, :])
record("sinc_value", "Sinc(x - y)", base, [x3, y3], (xl - yl).sinc().sum(1))

json.dump(dict(made_by="tests/data/keops_ops/make.py, pykeops 2.3", cases=CASES), open(sys.argv[1], "w"), indent=1)
