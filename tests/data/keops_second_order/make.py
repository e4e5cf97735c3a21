"""Second-order derivatives through a reduction, as pykeops' `test_lazytensor_grad.py` and
`test_lazytensor_gaussian_cpu.py` take them, for `tests/gradients.rs`.

Made with pykeops 2.3 and numpy from PyPI, on pykeops' CPU backend, in float64:

    python3 -m venv venv && venv/bin/pip install pykeops==2.3 numpy
    venv/bin/python tests/data/keops_second_order/make.py tests/data/keops_second_order/cases.json

pykeops' tests differentiate with torch's autograd; its numpy `Genred` has no autograd, so the
same derivatives are written here with KeOps' `Grad` formulas and the chain rule, each term a
`Genred` call (and checked against numpy's dense evaluation of the same expressions):

- `cos`: out_i = sum_j F_ij, F = Sum(Cos(x_i) - y_j) * b_j (x: M x 3, y: N x 1, b: N x 1).
  g1 = d/dx sum_i out_i^2 = Grad(F, x, e) summed over j, with e = 2 out;
  g2 = d/dx sum_i |g1_i|^2 = Grad(Grad(F, x, e), x, v) + 2 Grad(F, x, s), with v = 2 g1 and
  s = Grad(Grad(F, x, e), e, v), each summed over j (the second term is the path through e).
- `gauss`: out_i = sum_j exp(-|x_i - y_j|^2) b_j, differentiated with respect to b:
  g1 = d/db sum_i out_i^2 = Grad(F, b, e) summed over i; g2 = d/db sum_j g1_j^2 = 2 Grad(F, b, s)
  summed over i, with s = Grad(Grad(F, b, e), e, 2 g1) summed over j (g1 depends on b through e
  only).
"""
import json
import sys

import numpy as np
from pykeops.numpy import Genred

rng = np.random.default_rng(0)
CPU = {"backend": "CPU"}


def genred(formula, aliases, axis):
    return Genred(formula, aliases, reduction_op="Sum", axis=axis, dtype="float64")


def cos_case(m=100, n=100):
    x = rng.uniform(0, 1, (m, 3))
    y = rng.uniform(0, 1, (n, 1))
    b = rng.normal(size=(n, 1))
    f = "Sum(Cos(x) - y) * b"
    base = ["x = Vi(3)", "y = Vj(1)", "b = Vj(1)"]
    out = genred(f, base, 1)(x, y, b, **CPU)
    e = 2 * out
    g1 = genred(f"Grad({f}, x, e)", base + ["e = Vi(1)"], 1)(x, y, b, e, **CPU)
    v = 2 * g1
    aliases = base + ["e = Vi(1)", "v = Vi(3)"]
    direct = genred(f"Grad(Grad({f}, x, e), x, v)", aliases, 1)(x, y, b, e, v, **CPU)
    s = genred(f"Grad(Grad({f}, x, e), e, v)", aliases, 1)(x, y, b, e, v, **CPU)
    through_e = genred(f"Grad({f}, x, s)", base + ["s = Vi(1)"], 1)(x, y, b, s, **CPU)
    g2 = direct + 2 * through_e
    # numpy, densely: K_ij = sum_d cos(x_id) - 3 y_j; out = K b.
    k = np.cos(x).sum(1)[:, None] - 3 * y[:, 0][None, :]
    out_np = k @ b
    g1_np = -np.sin(x) * (2 * out_np) * b.sum()
    # g1 = -sin(x) c_i with c_i = 2 sum(b) out_i; d/dx sum |g1|^2, through sin and through out.
    c = 2 * b.sum() * out_np
    direct_np = 2 * g1_np * (-np.cos(x)) * c
    through_np = (2 * g1_np * -np.sin(x)).sum(1, keepdims=True) * 2 * b.sum() * (-np.sin(x)) * b.sum()
    check(out, out_np, g1, g1_np, g2, direct_np + through_np)
    return {"x": x, "y": y, "b": b, "out": out, "g1": g1, "g2": g2}


def gauss_case(m=300, n=300):
    x = rng.uniform(0, 1, (m, 3)) / np.sqrt(3)
    y = rng.uniform(0, 1, (n, 3)) / np.sqrt(3)
    b = rng.normal(size=(n, 1))
    f = "Exp(-SqDist(x, y)) * b"
    base = ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"]
    out = genred(f, base, 1)(x, y, b, **CPU)
    e = 2 * out
    g1 = genred(f"Grad({f}, b, e)", base + ["e = Vi(1)"], 0)(x, y, b, e, **CPU)
    aliases = base + ["e = Vi(1)", "v = Vj(1)"]
    s = genred(f"Grad(Grad({f}, b, e), e, v)", aliases, 1)(x, y, b, e, 2 * g1, **CPU)
    g2 = 2 * genred(f"Grad({f}, b, s)", base + ["s = Vi(1)"], 0)(x, y, b, s, **CPU)
    k = np.exp(-((x[:, None, :] - y[None, :, :]) ** 2).sum(2))
    out_np = k @ b
    g1_np = k.T @ (2 * out_np)
    g2_np = 2 * (2 * k.T @ k).T @ g1_np
    check(out, out_np, g1, g1_np, g2, g2_np)
    return {"x": x, "y": y, "b": b, "out": out, "g1": g1, "g2": g2}


def check(*pairs):
    for got, want in zip(pairs[::2], pairs[1::2]):
        assert np.allclose(got, want, rtol=1e-10, atol=1e-10), np.abs(got - want).max()


cases = {"cos": cos_case(), "gauss": gauss_case()}
flat = {name: {k: [float(v) for v in np.asarray(a).ravel()] for k, a in case.items()} for name, case in cases.items()}
with open(sys.argv[1], "w") as f:
    json.dump(flat, f)
