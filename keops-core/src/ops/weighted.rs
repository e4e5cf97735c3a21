//! Weighted squared norms and distances, `s`-weighted as in KeOps: by the dimension of the
//! weight `s`, isotropic (`s * |x|^2`), diagonal (`sum_k s_k x_k^2`) or a full symmetric
//! matrix stored row-major (`sum_kl s_{kl} x_k x_l`); and KeOps' spellings of each weighting,
//! `SqNormIso`, `SqNormDiag` and `SymSqNorm`, defined as KeOps defines them.

use super::{Derivative, Kind, OpSpec, TestCase, broadcast_dim, keep};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};
use crate::ops::Op;

/// Which weighting a weight of dimension `ds` gives for vectors of dimension `dx`.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Weight {
    Iso,
    Diagonal,
    Full,
}

fn weight(ds: usize, dx: usize) -> Option<Weight> {
    if ds == 1 {
        Some(Weight::Iso)
    } else if ds == dx {
        Some(Weight::Diagonal)
    } else if ds == dx * dx {
        Some(Weight::Full)
    } else {
        None
    }
}

/// [`weight`], or the dimension error of `name`.
fn checked_weight(name: &str, ds: usize, dx: usize) -> Result<Weight, DimError> {
    weight(ds, dx).ok_or_else(|| {
        format!(
            "dimension mismatch in `{name}`: the weight has dimension {ds}, but for vectors of dimension {dx} it must be 1 (isotropic), {dx} (diagonal) or {} (a full {dx}x{dx} matrix)",
            dx * dx
        )
    })
}

fn weighted_ref(s: &[f64], x: &[f64]) -> f64 {
    let n = x.len();
    match weight(s.len(), n) {
        Some(Weight::Iso) => s[0] * x.iter().map(|v| v * v).sum::<f64>(),
        Some(Weight::Diagonal) => s.iter().zip(x).map(|(s, v)| s * (v * v)).sum(),
        _ => (0..n * n).map(|k| s[k] * (x[k / n] * x[k % n])).sum(),
    }
}

fn weighted_lower(p: &mut Program, s: &[Val], x: &[Val]) -> Val {
    let n = x.len();
    match weight(s.len(), n) {
        Some(Weight::Iso) => {
            let sq = p.dot(x, x);
            p.mul(s[0], sq)
        }
        Some(Weight::Diagonal) => {
            let squares: Vec<Val> = x.iter().map(|&v| p.mul(v, v)).collect();
            p.dot(s, &squares)
        }
        _ => {
            let products: Vec<Val> = (0..n * n).map(|k| p.mul(x[k / n], x[k % n])).collect();
            p.dot(s, &products)
        }
    }
}

/// Gradients of `e * weighted(s, x)` with respect to `s` and `x`.
fn weighted_vjp(g: &mut Graph, s: NodeId, x: NodeId, e: NodeId) -> Result<(NodeId, NodeId), DimError> {
    match checked_weight("weightedsqnorm", g.dim(s), g.dim(x))? {
        Weight::Iso => {
            let sq = g.unary(Op::SqNorm2, x)?;
            let ds = g.mul(e, sq)?;
            let es = g.mul(e, s)?;
            let t = g.scale(2.0, es)?;
            Ok((ds, g.mul(t, x)?))
        }
        Weight::Diagonal => {
            let sq = g.unary(Op::Square, x)?;
            let ds = g.mul(e, sq)?;
            let sx = g.mul(s, x)?;
            let t = g.scale(2.0, e)?;
            Ok((ds, g.mul(t, sx)?))
        }
        Weight::Full => {
            let xx = g.op(Op::TensorProd, &[x, x], &[])?;
            let ds = g.mul(e, xx)?;
            let sx = g.op(Op::MatVecMult, &[s, x], &[])?;
            let xs = g.op(Op::VecMatMult, &[x, s], &[])?;
            let sym = g.add(sx, xs)?;
            Ok((ds, g.mul(e, sym)?))
        }
    }
}

pub(super) static WEIGHTEDSQNORM: OpSpec = OpSpec {
    name: "weightedsqnorm",
    keops: "WeightedSqNorm",
    symbol: None,
    operands: &["s", "a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| checked_weight("weightedsqnorm", d[0], d[1]).map(|_| 1),
        dim_doc: "1 (`s` of dimension 1, `dim(a)` or `dim(a)^2`)",
        eval: |a, _, o| o[0] = weighted_ref(a[0], a[1]),
        lower: |p, a, _| vec![weighted_lower(p, a[0], a[1])],
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let (ds, dx) = weighted_vjp(g, a[0], a[1], e)?;
        Ok(vec![ds, dx])
    }),
    simplify: |g, a, _, _| Ok((g.is_zero(a[0]) || g.is_zero(a[1])).then(|| g.zero(1))),
    tests: &[
        TestCase { operands: &[(1, 0.5, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(3, 0.5, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(9, -1.0, 1.0), (3, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "squared norm of `a` weighted by `s`: `s |a|^2`, `sum s_k a_k^2` or `sum s_kl a_k a_l`",
};

pub(super) static WEIGHTEDSQDIST: OpSpec = OpSpec {
    name: "weightedsqdist",
    keops: "WeightedSqDist",
    symbol: None,
    operands: &["s", "a", "b"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| {
            let dx = broadcast_dim("weightedsqdist", &d[1..])?;
            checked_weight("weightedsqdist", d[0], dx).map(|_| 1)
        },
        dim_doc: "1 (as `weightedsqnorm(s, a - b)`)",
        eval: |a, _, o| {
            let n = a[1].len().max(a[2].len());
            let at = |v: &[f64], k: usize| v[if v.len() == 1 { 0 } else { k }];
            let diff: Vec<f64> = (0..n).map(|k| at(a[1], k) - at(a[2], k)).collect();
            o[0] = weighted_ref(a[0], &diff);
        },
        lower: |p, a, _| {
            let n = a[1].len().max(a[2].len());
            let at = |v: &[Val], k: usize| v[if v.len() == 1 { 0 } else { k }];
            let diff: Vec<Val> = (0..n).map(|k| p.sub(at(a[1], k), at(a[2], k))).collect();
            vec![weighted_lower(p, a[0], &diff)]
        },
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let diff = g.sub(a[1], a[2])?;
        let (ds, dd) = weighted_vjp(g, a[0], diff, e)?;
        let neg = g.neg(dd)?;
        let (da, db) = (g.dim(a[1]), g.dim(a[2]));
        Ok(vec![ds, g.sum_to(dd, da)?, g.sum_to(neg, db)?])
    }),
    simplify: |g, a, _, _| Ok((g.is_zero(a[0]) || a[1] == a[2]).then(|| g.zero(1))),
    tests: &[
        TestCase { operands: &[(1, 0.5, 2.0), (3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(2, 0.5, 2.0), (2, -2.0, 2.0), (1, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(4, -1.0, 1.0), (2, -2.0, 2.0), (2, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "`weightedsqnorm(s, a - b)`",
};

/// Component `k` of a vector broadcast to a longer one (dimension-1 vectors repeat).
fn at(v: &[f64], k: usize) -> f64 {
    v[if v.len() == 1 { 0 } else { k }]
}

pub(super) static SQNORMISO: OpSpec = OpSpec {
    name: "sqnormiso",
    keops: "SqNormIso",
    symbol: None,
    operands: &["s", "a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Alias {
        dim: |d, _| Ok(d[0]),
        dim_doc: "`dim(s)` (`s` is meant to be of dimension 1)",
        eval: |a, _, o| {
            let sq: f64 = a[1].iter().map(|v| v * v).sum();
            o.iter_mut().zip(a[0]).for_each(|(o, s)| *o = s * sq);
        },
        expand: |g, a, _| {
            let sq = g.unary(Op::SqNorm2, a[1])?;
            g.mul(a[0], sq)
        },
    },
    derivative: Derivative::OfExpansion,
    simplify: keep,
    tests: &[
        TestCase { operands: &[(1, 0.5, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(2, -1.0, 1.0), (3, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "`s * sqnorm2(a)`, KeOps' isotropic squared norm",
};

pub(super) static SQNORMDIAG: OpSpec = OpSpec {
    name: "sqnormdiag",
    keops: "SqNormDiag",
    symbol: None,
    operands: &["s", "a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Alias {
        dim: |d, _| broadcast_dim("sqnormdiag", d).map(|_| 1),
        dim_doc: "1 (`s` and `a` of equal dimensions, or 1)",
        eval: |a, _, o| {
            let n = a[0].len().max(a[1].len());
            o[0] = (0..n).map(|k| at(a[0], k) * (at(a[1], k) * at(a[1], k))).sum();
        },
        expand: |g, a, _| {
            let sq = g.unary(Op::Square, a[1])?;
            let weighted = g.mul(a[0], sq)?;
            g.unary(Op::Sum, weighted)
        },
    },
    derivative: Derivative::OfExpansion,
    simplify: keep,
    tests: &[
        TestCase { operands: &[(3, 0.5, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(3, 0.5, 2.0), (1, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "`sum(s * square(a))`, KeOps' diagonal squared norm",
};

pub(super) static SYMSQNORM: OpSpec = OpSpec {
    name: "symsqnorm",
    keops: "SymSqNorm",
    symbol: None,
    operands: &["s", "a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Alias {
        dim: |d, _| broadcast_dim("symsqnorm", &[d[0], d[1] * d[1]]).map(|_| 1),
        dim_doc: "1 (`s` of dimension `dim(a)^2`, or 1)",
        eval: |a, _, o| {
            let n = a[1].len();
            let products: Vec<f64> = (0..n * n).map(|k| a[1][k / n] * a[1][k % n]).collect();
            let len = a[0].len().max(products.len());
            o[0] = (0..len).map(|k| at(a[0], k) * at(&products, k)).sum();
        },
        expand: |g, a, _| {
            let products = g.op(Op::TensorProd, &[a[1], a[1]], &[])?;
            let weighted = g.mul(a[0], products)?;
            g.unary(Op::Sum, weighted)
        },
    },
    derivative: Derivative::OfExpansion,
    simplify: keep,
    tests: &[
        TestCase { operands: &[(9, -1.0, 1.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(1, 0.5, 2.0), (2, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "`sum(s * tensorprod(a, a))`, KeOps' squared norm for a full matrix `s` stored row-major",
};
