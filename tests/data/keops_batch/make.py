"""Batched reductions computed by pykeops: KeOps' batch dimensions, with broadcasting of batch
dimensions of size 1, on fixed random inputs (float64).

Made with pykeops 2.3 and numpy from PyPI (pykeops' CPU backend needs only g++):

    python3 -m venv venv && venv/bin/pip install pykeops==2.3 numpy
    venv/bin/python tests/data/keops_batch/make.py tests/data/keops_batch/cases.json

Every value and gradient below is a pykeops `Genred` call on batched arrays; a gradient with
respect to a broadcast input is pykeops' batched gradient summed over the batch dimensions that
input was broadcast along (what torch's autograd does in pykeops' own batch test), with numpy.
`tests/batch.rs` runs `keops::batch` on the same inputs and compares.
"""
import json
import sys

import numpy as np
from pykeops.numpy import Genred

B1, B2, M, N, D, DV = 3, 4, 20, 25, 3, 2  # test_lazytensor_gaussian_batch.py's sizes
rng = np.random.default_rng(11)


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def unbroadcast(g, shape):
    """Sums a batched gradient over the batch dimensions where `shape` is 1."""
    axes = tuple(k for k, s in enumerate(shape[:-2]) if s == 1 and g.shape[k] != 1)
    return g.sum(axis=axes, keepdims=True)


CASES = []

# test_lazytensor_gaussian_batch.py: x of batch shape (1, B2), y of (B1, B2), b of (B1, 1);
# out = sum_j exp(-|x_i - y_j|^2) b_j, and the gradients of sum(out^2) with respect to b and x.
x = rng.uniform(size=(1, B2, M, D)) / np.sqrt(D)
y = rng.uniform(size=(B1, B2, N, D)) / np.sqrt(D)
b = rng.standard_normal((B1, 1, N, DV))
aliases = ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)"]
f = "Exp(-SqDist(x, y)) * b"
out = Genred(f, aliases, reduction_op="Sum", axis=1)(x, y, b, backend="CPU")
e = 2 * out
grad_b = Genred(f"Grad({f}, b, e)", aliases + ["e = Vi(2)"], reduction_op="Sum", axis=0)(
    x, y, b, e, backend="CPU"
)
grad_x = Genred(f"Grad({f}, x, e)", aliases + ["e = Vi(2)"], reduction_op="Sum", axis=1)(
    x, y, b, e, backend="CPU"
)
CASES.append(
    dict(
        name="gaussian",
        shapes=[list(x.shape[:-2]), list(y.shape[:-2]), list(b.shape[:-2])],
        inputs=[floats(x), floats(y), floats(b)],
        out=floats(out),
        out_shape=list(out.shape),
        e=floats(e),
        grad_b=floats(unbroadcast(grad_b, b.shape)),
        grad_x=floats(unbroadcast(grad_x, x.shape)),
    )
)

# A log-sum-exp with a batched parameter s of batch shape (B1, 1): out_i = log sum_j
# exp(-s |x_i - y_j|^2), and the gradient of sum(w * out) with respect to s, the
# softmax-weighted mean of -|x_i - y_j|^2 over j (pykeops' SumSoftMaxWeight) times w_i,
# summed over i and over B2.
s = rng.uniform(0.5, 2.0, size=(B1, 1, 1))
aliases = ["x = Vi(3)", "y = Vj(3)", "s = Pm(1)"]
lse = Genred("-s * SqDist(x, y)", aliases, reduction_op="LogSumExp", axis=1)(x, y, s, backend="CPU")
w = rng.standard_normal(lse.shape)
soft = Genred(
    "-s * SqDist(x, y)", aliases, reduction_op="SumSoftMaxWeight", formula2="-SqDist(x, y)", axis=1
)(x, y, s, backend="CPU")
grad_s = (w * soft).sum(axis=(1, 2, 3)).reshape(B1, 1, 1)
CASES.append(
    dict(
        name="logsumexp",
        shapes=[list(x.shape[:-2]), list(y.shape[:-2]), list(s.shape[:-1])],
        inputs=[floats(x), floats(y), floats(s)],
        out=floats(lse),
        out_shape=list(lse.shape),
        e=floats(w),
        grad_s=floats(grad_s),
    )
)

# The 3 nearest y_j of each x_i within each batch, x of batch shape (B1, 1), y of (B1, B2):
# indices count within each batch, as in KeOps.
x3 = rng.uniform(size=(B1, 1, M, D))
knn = Genred("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], reduction_op="ArgKMin", opt_arg=3, axis=1)(
    x3, y, backend="CPU"
)
CASES.append(
    dict(
        name="argkmin",
        shapes=[list(x3.shape[:-2]), list(y.shape[:-2])],
        inputs=[floats(x3), floats(y)],
        out=floats(knn),
        out_shape=list(knn.shape),
    )
)

with open(sys.argv[1], "w") as fh:
    json.dump(CASES, fh)
    fh.write("\n")
