//! Extrema of a vector's components and one-hot encoding.
//!
//! `max`, `min`, `argmax`, `argmin` scan the components in order with KeOps' strict
//! comparisons, so ties resolve to the first component and the index is returned as a number.

use super::{Attr, Derivative, Kind, OpSpec, TestCase, from_scalar, keep};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};
use crate::ops::Op;
use crate::prim::Prim;

fn scalar_out(_: &[usize], _: &[i64]) -> Result<usize, DimError> {
    Ok(1)
}

const FIVE: &[TestCase] = &[
    TestCase { operands: &[(5, -2.0, 2.0)], attrs: &[] },
    TestCase { operands: &[(1, -2.0, 2.0)], attrs: &[] },
];

/// The reference scan: the first component `k` such that no later one is `better` than it.
fn scan(a: &[f64], better: fn(f64, f64) -> bool) -> (f64, usize) {
    let mut best = (a[0], 0);
    for (k, &x) in a.iter().enumerate().skip(1) {
        if better(x, best.0) {
            best = (x, k);
        }
    }
    best
}

/// The lowered scan: `(value, index)` as scalar values; `better(p, x, best)` is 1 when `x`
/// replaces `best`.
fn scan_lower(p: &mut Program, a: &[Val], better: fn(&mut Program, Val, Val) -> Val) -> (Val, Val) {
    let mut best = a[0];
    let mut index = p.constant(0.0);
    for (k, &x) in a.iter().enumerate().skip(1) {
        let b = better(p, x, best);
        let kv = p.constant(k as f64);
        index = super::pick(p, b, kv, index);
        best = super::pick(p, b, x, best);
    }
    (best, index)
}

fn greater(x: f64, best: f64) -> bool {
    x > best
}

fn less(x: f64, best: f64) -> bool {
    x < best
}

fn greater_lower(p: &mut Program, x: Val, best: Val) -> Val {
    p.prim(Prim::Lt, &[best, x])
}

fn less_lower(p: &mut Program, x: Val, best: Val) -> Val {
    p.prim(Prim::Lt, &[x, best])
}

/// The gradient of an extremum (as KeOps): `e` at the component that `arg` selects.
fn at_selected(g: &mut Graph, arg: Op, a: NodeId, e: NodeId) -> Result<Vec<NodeId>, DimError> {
    let index = g.unary(arg, a)?;
    let dim = g.dim(a) as i64;
    let hot = g.op(Op::OneHot, &[index], &[dim])?;
    Ok(vec![g.mul(hot, e)?])
}

pub(super) static MAX: OpSpec = OpSpec {
    name: "max",
    keops: "Max",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: scalar_out,
        dim_doc: "1",
        eval: |a, _, o| o[0] = scan(a[0], greater).0,
        lower: |p, a, _| vec![scan_lower(p, a[0], greater_lower).0],
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| at_selected(g, Op::ArgMax, a[0], e)),
    simplify: |g, a, _, _| Ok((g.dim(a[0]) == 1).then_some(a[0])),
    tests: FIVE,
    doc: "largest component (the first one on ties)",
};

pub(super) static MIN: OpSpec = OpSpec {
    name: "min",
    keops: "Min",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: scalar_out,
        dim_doc: "1",
        eval: |a, _, o| o[0] = scan(a[0], less).0,
        lower: |p, a, _| vec![scan_lower(p, a[0], less_lower).0],
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| at_selected(g, Op::ArgMin, a[0], e)),
    simplify: |g, a, _, _| Ok((g.dim(a[0]) == 1).then_some(a[0])),
    tests: FIVE,
    doc: "smallest component (the first one on ties)",
};

pub(super) static ARGMAX: OpSpec = OpSpec {
    name: "argmax",
    keops: "ArgMax",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: scalar_out,
        dim_doc: "1",
        eval: |a, _, o| o[0] = scan(a[0], greater).1 as f64,
        lower: |p, a, _| vec![scan_lower(p, a[0], greater_lower).1],
    },
    derivative: Derivative::Vjp(|g, a, _, _, _| Ok(vec![g.zero(g.dim(a[0]))])),
    simplify: |g, a, _, _| Ok((g.dim(a[0]) == 1).then(|| g.zero(1))),
    tests: FIVE,
    doc: "index of the largest component, as a number",
};

pub(super) static ARGMIN: OpSpec = OpSpec {
    name: "argmin",
    keops: "ArgMin",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: scalar_out,
        dim_doc: "1",
        eval: |a, _, o| o[0] = scan(a[0], less).1 as f64,
        lower: |p, a, _| vec![scan_lower(p, a[0], less_lower).1],
    },
    derivative: Derivative::Vjp(|g, a, _, _, _| Ok(vec![g.zero(g.dim(a[0]))])),
    simplify: |g, a, _, _| Ok((g.dim(a[0]) == 1).then(|| g.zero(1))),
    tests: FIVE,
    doc: "index of the smallest component, as a number",
};

pub(super) static ONEHOT: OpSpec = OpSpec {
    name: "onehot",
    keops: "OneHot",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("dim")],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, n| from_scalar("onehot", d, n),
        dim_doc: "`dim` (`a` scalar)",
        eval: |a, _, o| {
            let x = a[0][0];
            for (k, o) in o.iter_mut().enumerate() {
                let (lo, hi) = bin(k);
                let above = if k == 0 { lo < x } else { lo <= x };
                *o = f64::from(u8::from(above && x < hi));
            }
        },
        lower: |p, a, n| {
            let x = a[0][0];
            (0..n[0] as usize)
                .map(|k| {
                    let (lo, hi) = bin(k);
                    let (lo, hi) = (p.constant(lo), p.constant(hi));
                    // Component 0 excludes its lower end: (int)(x + 0.5) truncates towards 0.
                    let above = if k == 0 { p.prim(Prim::Lt, &[lo, x]) } else { p.prim(Prim::Le, &[lo, x]) };
                    let below = p.prim(Prim::Lt, &[x, hi]);
                    p.mul(above, below)
                })
                .collect()
        },
    },
    derivative: Derivative::Vjp(|g, a, _, _, _| Ok(vec![g.zero(g.dim(a[0]))])),
    simplify: keep,
    tests: &[TestCase { operands: &[(1, -0.4, 3.4)], attrs: &[4] }],
    doc: "1 at component `(int)(a + 0.5)` (KeOps' rounding), 0 elsewhere; all zeros out of range",
};

/// The values of `a` that select component `k` of a one-hot vector, as KeOps' C code
/// `out[(int)(a + .5)] = 1` does: `[k - 0.5, k + 0.5)`, and `(-1.5, 0.5)` for component 0.
fn bin(k: usize) -> (f64, f64) {
    if k == 0 { (-1.5, 0.5) } else { (k as f64 - 0.5, k as f64 + 0.5) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_keep_the_first_extremum() {
        assert_eq!(scan(&[1.0, 3.0, 3.0, -1.0], greater), (3.0, 1));
        assert_eq!(scan(&[1.0, -1.0, 0.0, -1.0], less), (-1.0, 1));
        assert_eq!(scan(&[2.0], less), (2.0, 0));
    }

    #[test]
    fn one_hot_bins() {
        let hot = |x: f64| {
            let mut o = [0.0; 3];
            ONEHOT.evaluate(&[&[x]], &[3], &mut o);
            o
        };
        assert_eq!(hot(0.0), [1.0, 0.0, 0.0]);
        assert_eq!(hot(-0.9), [1.0, 0.0, 0.0], "(int)(-0.4) is 0");
        assert_eq!(hot(-1.5), [0.0; 3]);
        assert_eq!(hot(0.5), [0.0, 1.0, 0.0]);
        assert_eq!(hot(2.49), [0.0, 0.0, 1.0]);
        assert_eq!(hot(2.5), [0.0; 3]);
    }
}
