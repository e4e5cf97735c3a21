//! Operations on whole vectors: reductions over components, norms, products, indexing.

use super::{Attr, Derivative, Kind, OpSpec, TestCase, broadcast_dim, from_scalar, keep, zero_if_any_zero};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::Val;
use crate::ops::Op;
use crate::prim::Prim;

type Rewrite = Result<Option<NodeId>, DimError>;

fn scalar_out(_: &[usize], _: &[i64]) -> Result<usize, DimError> {
    Ok(1)
}

fn same_dim(d: &[usize], _: &[i64]) -> Result<usize, DimError> {
    Ok(d[0])
}

fn zero_scalar_if_zero(g: &mut Graph, a: &[NodeId], _: &[i64], _: usize) -> Rewrite {
    Ok(a.iter().any(|&x| g.is_zero(x)).then(|| g.zero(1)))
}

fn sqnorm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum()
}

pub(super) static SUM: OpSpec = OpSpec {
    name: "sum",
    keops: "Sum",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: scalar_out,
        dim_doc: "1",
        eval: |a, _, o| o[0] = a[0].iter().sum(),
        lower: |p, a, _| vec![p.sum(a[0])],
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| Ok(vec![g.broadcast(e, g.dim(a[0]))?])),
    simplify: |g, a, _, _| Ok(if g.dim(a[0]) == 1 { Some(a[0]) } else { zero_scalar_if_zero(g, a, &[], 1)? }),
    tests: &[TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[] }],
    doc: "sum of the components",
};

pub(super) static SUMT: OpSpec = OpSpec {
    name: "sumt",
    keops: "SumT",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("dim")],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, n| from_scalar("sumt", d, n),
        dim_doc: "`dim` (`a` a scalar)",
        eval: |a, _, o| o.fill(a[0][0]),
        lower: |_, a, n| vec![a[0][0]; n[0] as usize],
    },
    derivative: Derivative::Vjp(|g, _, _, _, e| Ok(vec![g.unary(Op::Sum, e)?])),
    simplify: |g, a, n, d| Ok(if n[0] == 1 { Some(a[0]) } else { zero_if_any_zero(g, a, n, d)? }),
    tests: &[TestCase { operands: &[(1, -2.0, 2.0)], attrs: &[4] }],
    doc: "the scalar `a` repeated to dimension `dim` (the adjoint of `sum`)",
};

pub(super) static SQNORM2: OpSpec = OpSpec {
    name: "sqnorm2",
    keops: "SqNorm2",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: scalar_out,
        dim_doc: "1",
        eval: |a, _, o| o[0] = sqnorm(a[0]),
        lower: |p, a, _| vec![p.dot(a[0], a[0])],
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let e2 = g.scale(2.0, e)?;
        Ok(vec![g.mul(e2, a[0])?])
    }),
    simplify: zero_scalar_if_zero,
    tests: &[TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[] }],
    doc: "squared Euclidean norm",
};

pub(super) static NORM2: OpSpec = OpSpec {
    name: "norm2",
    keops: "Norm2",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: scalar_out,
        dim_doc: "1",
        eval: |a, _, o| o[0] = sqnorm(a[0]).sqrt(),
        lower: |p, a, _| {
            let s = p.dot(a[0], a[0]);
            vec![p.prim(Prim::Sqrt, &[s])]
        },
    },
    // `e rsqrt(|a|^2) a`: as in KeOps (`Sqrt(SqNorm2(a))` differentiated), 0 at `a = 0`.
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let sq = g.unary(Op::SqNorm2, a[0])?;
        let r = g.unary(Op::Rsqrt, sq)?;
        let er = g.mul(e, r)?;
        Ok(vec![g.mul(er, a[0])?])
    }),
    simplify: zero_scalar_if_zero,
    tests: &[TestCase { operands: &[(3, 0.5, 2.0)], attrs: &[] }],
    doc: "Euclidean norm",
};

pub(super) static NORMALIZE: OpSpec = OpSpec {
    name: "normalize",
    keops: "Normalize",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: same_dim,
        dim_doc: "`dim(a)`",
        eval: |a, _, o| {
            let r = crate::prim::rsqrt(sqnorm(a[0]));
            for (o, x) in o.iter_mut().zip(a[0]) {
                *o = x * r;
            }
        },
        lower: |p, a, _| {
            let s = p.dot(a[0], a[0]);
            let r = p.prim(Prim::Rsqrt, &[s]);
            a[0].iter().map(|&x| p.mul(x, r)).collect()
        },
    },
    derivative: Derivative::Vjp(|g, a, _, out, e| {
        // With y = r x and r = |x|^-1: the gradient is r (e - (e.y) y).
        let sq = g.unary(Op::SqNorm2, a[0])?;
        let r = g.unary(Op::Rsqrt, sq)?;
        let ey = g.op(Op::Dot, &[e, out], &[])?;
        let proj = g.mul(ey, out)?;
        let d = g.sub(e, proj)?;
        Ok(vec![g.mul(r, d)?])
    }),
    simplify: |g, a, _, d| Ok(g.is_zero(a[0]).then(|| g.zero(d))),
    tests: &[
        TestCase { operands: &[(3, 0.5, 2.0)], attrs: &[] },
        TestCase { operands: &[(2, -2.0, -0.5)], attrs: &[] },
    ],
    doc: "`a / |a|` (`rsqrt(|a|^2) * a`, so zero stays zero)",
};

pub(super) static DOT: OpSpec = OpSpec {
    name: "dot",
    keops: "Scalprod",
    symbol: None,
    operands: &["a", "b"],
    attrs: &[],
    commutative: true,
    kind: Kind::Vector {
        dim: |d, _| {
            if d[0] == d[1] {
                Ok(1)
            } else {
                Err(format!(
                    "dimension mismatch in `dot`: operands have dimensions {} and {} (they must be equal)",
                    d[0], d[1]
                ))
            }
        },
        dim_doc: "1",
        eval: |a, _, o| o[0] = a[0].iter().zip(a[1]).map(|(x, y)| x * y).sum(),
        lower: |p, a, _| vec![p.dot(a[0], a[1])],
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| Ok(vec![g.mul(e, a[1])?, g.mul(e, a[0])?])),
    simplify: zero_scalar_if_zero,
    tests: &[TestCase { operands: &[(3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] }],
    doc: "scalar product (KeOps also writes it `(a|b)`)",
};

pub(super) static SQDIST: OpSpec = OpSpec {
    name: "sqdist",
    keops: "SqDist",
    symbol: None,
    operands: &["a", "b"],
    attrs: &[],
    commutative: true,
    kind: Kind::Vector {
        dim: |d, _| broadcast_dim("sqdist", d).map(|_| 1),
        dim_doc: "1",
        eval: |a, _, o| {
            let n = a[0].len().max(a[1].len());
            let at = |v: &[f64], k: usize| v[if v.len() == 1 { 0 } else { k }];
            o[0] = (0..n).map(|k| (at(a[0], k) - at(a[1], k)).powi(2)).sum();
        },
        lower: |p, a, _| {
            let n = a[0].len().max(a[1].len());
            let at = |v: &[Val], k: usize| v[if v.len() == 1 { 0 } else { k }];
            let diffs: Vec<Val> = (0..n).map(|k| p.sub(at(a[0], k), at(a[1], k))).collect();
            vec![p.dot(&diffs, &diffs)]
        },
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let d = g.sub(a[0], a[1])?;
        let e2 = g.scale(2.0, e)?;
        let t = g.mul(e2, d)?;
        let nt = g.neg(t)?;
        let (da, db) = (g.dim(a[0]), g.dim(a[1]));
        Ok(vec![g.sum_to(t, da)?, g.sum_to(nt, db)?])
    }),
    simplify: |g, a, _, _| Ok((a[0] == a[1]).then(|| g.zero(1))),
    tests: &[
        TestCase { operands: &[(3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(3, -2.0, 2.0), (1, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "squared Euclidean distance `|a - b|^2`",
};

pub(super) static ELEM: OpSpec = OpSpec {
    name: "elem",
    keops: "Elem",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("m")],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, m| {
            if (0..d[0] as i64).contains(&m[0]) {
                Ok(1)
            } else {
                Err(format!("index {} is out of range for a vector of dimension {}", m[0], d[0]))
            }
        },
        dim_doc: "1",
        eval: |a, m, o| o[0] = a[0][m[0] as usize],
        lower: |_, a, m| vec![a[0][m[0] as usize]],
    },
    derivative: Derivative::Vjp(|g, a, m, _, e| {
        let d = g.dim(a[0]);
        Ok(vec![place(g, e, m[0] as usize, d)?])
    }),
    simplify: |g, a, m, _| {
        Ok(if g.is_zero(a[0]) {
            Some(g.zero(1))
        } else if g.dim(a[0]) == 1 && m[0] == 0 {
            Some(a[0])
        } else {
            None
        })
    },
    tests: &[TestCase { operands: &[(4, -2.0, 2.0)], attrs: &[2] }],
    doc: "component `m` of `a` (math syntax: `a[m]`)",
};

pub(super) static EXTRACT: OpSpec = OpSpec {
    name: "extract",
    keops: "Extract",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("start"), Attr::int("len")],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, a| {
            let (start, len) = (a[0], a[1]);
            if start >= 0 && len >= 1 && start.saturating_add(len) <= d[0] as i64 {
                Ok(len as usize)
            } else {
                Err(format!(
                    "components {start}..{} are out of range for a vector of dimension {} (a slice needs 0 <= start < end <= dimension)",
                    start.saturating_add(len),
                    d[0]
                ))
            }
        },
        dim_doc: "`len`",
        eval: |a, r, o| o.copy_from_slice(&a[0][r[0] as usize..(r[0] + r[1]) as usize]),
        lower: |_, a, r| a[0][r[0] as usize..(r[0] + r[1]) as usize].to_vec(),
    },
    derivative: Derivative::Vjp(|g, a, r, _, e| {
        let d = g.dim(a[0]);
        Ok(vec![place(g, e, r[0] as usize, d)?])
    }),
    simplify: |g, a, r, d| {
        Ok(if g.is_zero(a[0]) {
            Some(g.zero(d))
        } else if r[0] == 0 && d == g.dim(a[0]) {
            Some(a[0])
        } else {
            None
        })
    },
    tests: &[TestCase { operands: &[(5, -2.0, 2.0)], attrs: &[1, 3] }],
    doc: "components `start..start+len` of `a` (math syntax: `a[start..end]`)",
};

pub(super) static ELEMT: OpSpec = OpSpec {
    name: "elemt",
    keops: "ElemT",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("dim"), Attr::int("m")],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, a| {
            if d[0] != 1 {
                Err(format!("`elemt` places a scalar, but its operand has dimension {}", d[0]))
            } else if a[0] < 1 || !(0..a[0]).contains(&a[1]) {
                Err(format!("`elemt`: component {} is out of range for a vector of dimension {}", a[1], a[0]))
            } else {
                Ok(a[0] as usize)
            }
        },
        dim_doc: "`dim` (`a` scalar)",
        eval: |a, m, o| {
            o.fill(0.0);
            o[m[1] as usize] = a[0][0];
        },
        lower: |p, a, m| {
            let zero = p.constant(0.0);
            (0..m[0]).map(|k| if k == m[1] { a[0][0] } else { zero }).collect()
        },
    },
    derivative: Derivative::Vjp(|g, _, m, _, e| Ok(vec![g.op(Op::Elem, &[e], &[m[1]])?])),
    simplify: |g, a, _, d| Ok(g.is_zero(a[0]).then(|| g.zero(d))),
    tests: &[TestCase { operands: &[(1, -2.0, 2.0)], attrs: &[5, 3] }],
    doc: "the vector of dimension `dim` with `a` at component `m`, zeros elsewhere (the adjoint of `elem`)",
};

pub(super) static EXTRACTT: OpSpec = OpSpec {
    name: "extractt",
    keops: "ExtractT",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("start"), Attr::int("dim")],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, a| {
            let (start, dim) = (a[0], a[1]);
            if start >= 0 && start.saturating_add(d[0] as i64) <= dim {
                Ok(dim as usize)
            } else {
                Err(format!(
                    "`extractt`: a vector of dimension {} does not fit at component {start} of a vector of dimension {dim}",
                    d[0]
                ))
            }
        },
        dim_doc: "`dim`",
        eval: |a, r, o| {
            o.fill(0.0);
            let start = r[0] as usize;
            o[start..start + a[0].len()].copy_from_slice(a[0]);
        },
        lower: |p, a, r| {
            let zero = p.constant(0.0);
            let start = r[0] as usize;
            (0..r[1] as usize)
                .map(|k| if (start..start + a[0].len()).contains(&k) { a[0][k - start] } else { zero })
                .collect()
        },
    },
    derivative: Derivative::Vjp(|g, a, r, _, e| {
        let len = g.dim(a[0]) as i64;
        Ok(vec![g.op(Op::Extract, &[e], &[r[0], len])?])
    }),
    simplify: |g, a, _, d| Ok(g.is_zero(a[0]).then(|| g.zero(d))),
    tests: &[TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[2, 7] }],
    doc: "the vector of dimension `dim` with `a` at components `start..`, zeros elsewhere (the adjoint of `extract`)",
};

pub(super) static CONCAT: OpSpec = OpSpec {
    name: "concat",
    keops: "Concat",
    symbol: None,
    operands: &["a", "b"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| Ok(d[0] + d[1]),
        dim_doc: "`dim(a) + dim(b)`",
        eval: |a, _, o| {
            o[..a[0].len()].copy_from_slice(a[0]);
            o[a[0].len()..].copy_from_slice(a[1]);
        },
        lower: |_, a, _| [a[0], a[1]].concat(),
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let (da, db) = (g.dim(a[0]), g.dim(a[1]));
        Ok(vec![g.op(Op::Extract, &[e], &[0, da as i64])?, g.op(Op::Extract, &[e], &[da as i64, db as i64])?])
    }),
    simplify: keep,
    tests: &[TestCase { operands: &[(2, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] }],
    doc: "concatenation (math syntax: `[a, b, ...]`)",
};

/// `v` placed at components `start..` of a zero vector of dimension `dim` (the adjoint of
/// extracting those components).
fn place(g: &mut Graph, v: NodeId, start: usize, dim: usize) -> Result<NodeId, DimError> {
    let len = g.dim(v);
    let mut out = v;
    if start > 0 {
        let z = g.zero(start);
        out = g.op(Op::Concat, &[z, out], &[])?;
    }
    if start + len < dim {
        let z = g.zero(dim - start - len);
        out = g.op(Op::Concat, &[out, z], &[])?;
    }
    Ok(out)
}
