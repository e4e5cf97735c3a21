//! Piecewise element-wise functions: rounding, modulo and clamping.
//!
//! They lower to comparisons and `select`, following KeOps' C ternaries exactly (including
//! which branch a NaN takes), so that generated code and the reference agree bit for bit on the
//! branch.

use super::{Attr, Derivative, Kind, OpSpec, TestCase, keep, no_partials, pick};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};
use crate::ops::Op;
use crate::prim::Prim;

pub(super) static FLOOR: OpSpec = OpSpec {
    name: "floor",
    keops: "Floor",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| a[0].floor(), lower: |p, a, _| p.prim(Prim::Floor, a) },
    derivative: Derivative::Partials(no_partials),
    simplify: keep,
    tests: &[TestCase { operands: &[(3, -4.0, 4.0)], attrs: &[] }],
    doc: "largest integer not greater than `a`",
};

pub(super) static ROUND: OpSpec = OpSpec {
    name: "round",
    keops: "Round",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("d")],
    commutative: false,
    kind: Kind::Elementwise {
        eval: |a, d| match d[0] {
            0 => a[0].round(),
            d => (a[0] * pow10(d)).round() / pow10(d),
        },
        lower: |p, a, d| match d[0] {
            0 => round_half_away(p, a[0]),
            d => {
                let s = p.constant(pow10(d));
                let x = p.mul(a[0], s);
                let r = round_half_away(p, x);
                p.div(r, s)
            }
        },
    },
    derivative: Derivative::Partials(no_partials),
    simplify: keep,
    tests: &[
        TestCase { operands: &[(3, -4.0, 4.0)], attrs: &[0] },
        TestCase { operands: &[(3, -4.0, 4.0)], attrs: &[2] },
    ],
    doc: "`a` rounded to `d` decimals, halves away from zero (C's `round`)",
};

/// `10^d`, correctly rounded (as the decimal literal KeOps writes into its C code).
fn pow10(d: i64) -> f64 {
    format!("1e{d}").parse().unwrap_or(f64::NAN)
}

/// C's `round`: to the nearest integer, halves away from zero. With `f = floor(|x|)`, the
/// fractional part `|x| - f` is exact, so comparing it with one half is exact too.
fn round_half_away(p: &mut Program, x: Val) -> Val {
    let ax = p.prim(Prim::Abs, &[x]);
    let f = p.prim(Prim::Floor, &[ax]);
    let frac = p.sub(ax, f);
    let half = p.constant(0.5);
    let up = p.prim(Prim::Le, &[half, frac]);
    let r = p.add(f, up);
    let neg = p.prim(Prim::Neg, &[r]);
    let zero = p.constant(0.0);
    let negative = p.prim(Prim::Lt, &[x, zero]);
    pick(p, negative, neg, r)
}

pub(super) static MOD: OpSpec = OpSpec {
    name: "mod",
    keops: "Mod",
    symbol: None,
    operands: &["a", "n", "offset"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise {
        eval: |a, _| a[0] - a[1] * ((a[0] - a[2]) / a[1]).floor(),
        lower: |p, a, _| {
            let s = p.sub(a[0], a[2]);
            let q = p.div(s, a[1]);
            let f = p.prim(Prim::Floor, &[q]);
            let m = p.mul(a[1], f);
            p.sub(a[0], m)
        },
    },
    derivative: Derivative::Partials(|g, a, _, _| {
        // The floor is piecewise constant: d/da = 1, d/dn = -floor((a - offset) / n).
        let s = g.sub(a[0], a[2])?;
        let q = g.div(s, a[1])?;
        let f = g.unary(Op::Floor, q)?;
        Ok(vec![g.constant(1.0), g.neg(f)?, g.zero(1)])
    }),
    simplify: keep,
    tests: &[
        TestCase { operands: &[(3, -5.0, 5.0), (3, 1.0, 3.0), (3, -1.0, 1.0)], attrs: &[] },
        TestCase { operands: &[(3, -5.0, 5.0), (1, 1.0, 3.0), (1, -1.0, 1.0)], attrs: &[] },
    ],
    doc: "`a - n * floor((a - offset) / n)`: `a` modulo `n`, in `[offset, offset + n)`",
};

pub(super) static CLAMP: OpSpec = OpSpec {
    name: "clamp",
    keops: "Clamp",
    symbol: None,
    operands: &["a", "lo", "hi"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise {
        eval: |a, _| clamp_ref(a[0], a[1], a[2]),
        lower: |p, a, _| clamp(p, a[0], a[1], a[2]),
    },
    derivative: Derivative::Partials(|g, a, _, _| {
        let below = g.op(Op::LessThan, &[a[0], a[1]], &[])?;
        let above = g.op(Op::LessThan, &[a[2], a[0]], &[])?;
        let (d_lo, d_hi, d_a) = clamp_partials(g, below, above)?;
        Ok(vec![d_a, d_lo, d_hi])
    }),
    simplify: keep,
    tests: &[
        TestCase { operands: &[(3, -2.0, 2.0), (3, -1.0, -0.2), (3, 0.2, 1.0)], attrs: &[] },
        TestCase { operands: &[(3, -2.0, 2.0), (1, -1.0, -0.2), (1, 0.2, 1.0)], attrs: &[] },
    ],
    doc: "`lo` where `a < lo`, else `hi` where `a > hi`, else `a`",
};

pub(super) static CLAMPINT: OpSpec = OpSpec {
    name: "clampint",
    keops: "ClampInt",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("lo"), Attr::int("hi")],
    commutative: false,
    kind: Kind::Elementwise {
        eval: |a, r| clamp_ref(a[0], r[0] as f64, r[1] as f64),
        lower: |p, a, r| {
            let (lo, hi) = (p.constant(r[0] as f64), p.constant(r[1] as f64));
            clamp(p, a[0], lo, hi)
        },
    },
    derivative: Derivative::Partials(|g, a, r, _| {
        let (lo, hi) = (g.constant(r[0] as f64), g.constant(r[1] as f64));
        let below = g.op(Op::LessThan, &[a[0], lo], &[])?;
        let above = g.op(Op::LessThan, &[hi, a[0]], &[])?;
        Ok(vec![clamp_partials(g, below, above)?.2])
    }),
    simplify: keep,
    tests: &[TestCase { operands: &[(4, -2.5, 2.5)], attrs: &[-1, 1] }],
    doc: "`clamp` with integer bounds `lo`, `hi`",
};

pub(super) static DIFFCLAMPINT: OpSpec = OpSpec {
    name: "diffclampint",
    keops: "DiffClampInt",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("lo"), Attr::int("hi")],
    commutative: false,
    kind: Kind::Elementwise {
        // KeOps' `x < lo ? 0 : (x > hi ? 0 : 1)`: 1 for NaN.
        eval: |a, r| if a[0] < r[0] as f64 || a[0] > r[1] as f64 { 0.0 } else { 1.0 },
        lower: |p, a, r| {
            let (lo, hi) = (p.constant(r[0] as f64), p.constant(r[1] as f64));
            let (zero, one) = (p.constant(0.0), p.constant(1.0));
            let above = p.prim(Prim::Lt, &[hi, a[0]]);
            let inner = pick(p, above, zero, one);
            let below = p.prim(Prim::Lt, &[a[0], lo]);
            pick(p, below, zero, inner)
        },
    },
    derivative: Derivative::Partials(no_partials),
    simplify: keep,
    tests: &[TestCase { operands: &[(4, -2.5, 2.5)], attrs: &[-1, 1] }],
    doc: "1 where `lo <= a <= hi`, else 0: the derivative of `clampint`",
};

/// KeOps' `x < lo ? lo : (x > hi ? hi : x)`.
fn clamp_ref(x: f64, lo: f64, hi: f64) -> f64 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

fn clamp(p: &mut Program, x: Val, lo: Val, hi: Val) -> Val {
    let above = p.prim(Prim::Lt, &[hi, x]);
    let inner = pick(p, above, hi, x);
    let below = p.prim(Prim::Lt, &[x, lo]);
    pick(p, below, lo, inner)
}

/// Partials of a clamp with respect to `lo`, `hi` and `x`, from the indicators `x < lo` and
/// `x > hi`: exactly one of them is 1, following the branch the clamp takes.
fn clamp_partials(g: &mut Graph, below: NodeId, above: NodeId) -> Result<(NodeId, NodeId, NodeId), DimError> {
    let one = g.constant(1.0);
    let not_below = g.sub(one, below)?;
    let d_hi = g.mul(not_below, above)?;
    let not_above = g.sub(one, above)?;
    let d_x = g.mul(not_below, not_above)?;
    Ok((below, d_hi, d_x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;

    /// Evaluates a one-input program (`x` is variable 0) in f64.
    fn run(build: impl Fn(&mut Program, Val) -> Val, x: f64) -> f64 {
        let mut p = Program::new(DType::F64);
        let v = p.load(0, 0);
        let out = build(&mut p, v);
        super::super::tests::run_program(&p, |_, _| x)[out.index()]
    }

    #[test]
    fn rounding_is_c_round() {
        for x in [0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994, 2.4, -2.6, 1e17, 0.0, -3.0] {
            assert_eq!(run(round_half_away, x), x.round(), "round({x})");
        }
        assert!(run(round_half_away, f64::NAN).is_nan());
        assert_eq!(pow10(2), 100.0);
        assert_eq!(pow10(-3), 0.001);
    }

    #[test]
    fn clamping_follows_the_c_ternaries() {
        let c = |x: f64| {
            run(
                |p, v| {
                    let (lo, hi) = (p.constant(-1.0), p.constant(2.0));
                    clamp(p, v, lo, hi)
                },
                x,
            )
        };
        for x in [-3.0, -1.0, 0.5, 2.0, 7.0] {
            assert_eq!(c(x), clamp_ref(x, -1.0, 2.0));
        }
        assert!(c(f64::NAN).is_nan(), "NaN takes the `x` branch, as in C");
        assert_eq!(clamp_ref(0.0, 1.0, -1.0), 1.0, "an empty interval gives `lo` below it");
    }
}
