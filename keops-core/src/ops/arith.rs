//! Arithmetic: `+ - * /`, negation, squares, inverses and integer powers.

use super::{Attr, Derivative, Kind, OpSpec, TestCase, keep, zero_if_any_zero};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};
use crate::ops::Op;
use crate::prim::Prim;

type Rewrite = Result<Option<NodeId>, DimError>;

pub(super) static ADD: OpSpec = OpSpec {
    name: "add",
    keops: "Add",
    symbol: Some("+"),
    operands: &["a", "b"],
    attrs: &[],
    commutative: true,
    kind: Kind::Elementwise { eval: |a, _| a[0] + a[1], lower: |p, a, _| p.add(a[0], a[1]) },
    derivative: Derivative::Partials(|g, _, _, _| Ok(vec![g.constant(1.0), g.constant(1.0)])),
    simplify: simplify_add,
    tests: &[
        TestCase { operands: &[(3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(1, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "sum, `a + b`",
};

fn simplify_add(g: &mut Graph, a: &[NodeId], _: &[i64], dim: usize) -> Rewrite {
    Ok(if g.is_zero(a[0]) && g.dim(a[1]) == dim {
        Some(a[1])
    } else if g.is_zero(a[1]) && g.dim(a[0]) == dim {
        Some(a[0])
    } else {
        None
    })
}

pub(super) static SUB: OpSpec = OpSpec {
    name: "sub",
    keops: "Subtract",
    symbol: Some("-"),
    operands: &["a", "b"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| a[0] - a[1], lower: |p, a, _| p.sub(a[0], a[1]) },
    derivative: Derivative::Partials(|g, _, _, _| Ok(vec![g.constant(1.0), g.constant(-1.0)])),
    simplify: simplify_sub,
    tests: &[
        TestCase { operands: &[(3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(1, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "difference, `a - b`",
};

fn simplify_sub(g: &mut Graph, a: &[NodeId], _: &[i64], dim: usize) -> Rewrite {
    Ok(if a[0] == a[1] {
        Some(g.zero(dim))
    } else if g.is_zero(a[1]) && g.dim(a[0]) == dim {
        Some(a[0])
    } else if g.is_zero(a[0]) && g.dim(a[1]) == dim {
        Some(g.op(Op::Neg, &[a[1]], &[])?)
    } else {
        None
    })
}

pub(super) static MUL: OpSpec = OpSpec {
    name: "mul",
    keops: "Mult",
    symbol: Some("*"),
    operands: &["a", "b"],
    attrs: &[],
    commutative: true,
    kind: Kind::Elementwise { eval: |a, _| a[0] * a[1], lower: |p, a, _| p.mul(a[0], a[1]) },
    derivative: Derivative::Partials(|_, a, _, _| Ok(vec![a[1], a[0]])),
    simplify: simplify_mul,
    tests: &[
        TestCase { operands: &[(3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(1, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "product, `a * b`",
};

fn simplify_mul(g: &mut Graph, a: &[NodeId], _: &[i64], dim: usize) -> Rewrite {
    if g.is_zero(a[0]) || g.is_zero(a[1]) {
        return Ok(Some(g.zero(dim)));
    }
    for (c, other) in [(a[0], a[1]), (a[1], a[0])] {
        if g.dim(other) != dim {
            continue;
        }
        match g.as_const(c) {
            Some(1.0) => return Ok(Some(other)),
            Some(-1.0) => return Ok(Some(g.op(Op::Neg, &[other], &[])?)),
            _ => {}
        }
    }
    Ok(None)
}

pub(super) static DIV: OpSpec = OpSpec {
    name: "div",
    keops: "Divide",
    symbol: Some("/"),
    operands: &["a", "b"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| a[0] / a[1], lower: |p, a, _| p.div(a[0], a[1]) },
    derivative: Derivative::Partials(|g, a, _, out| {
        let inv = g.unary(Op::Inv, a[1])?;
        let q = g.div(out, a[1])?;
        Ok(vec![inv, g.neg(q)?])
    }),
    simplify: simplify_div,
    tests: &[
        TestCase { operands: &[(3, -2.0, 2.0), (3, 0.5, 2.0)], attrs: &[] },
        TestCase { operands: &[(3, -2.0, 2.0), (1, -2.0, -0.5)], attrs: &[] },
    ],
    doc: "quotient, `a / b`",
};

fn simplify_div(g: &mut Graph, a: &[NodeId], _: &[i64], dim: usize) -> Rewrite {
    Ok(if g.is_zero(a[0]) {
        Some(g.zero(dim))
    } else if g.as_const(a[1]) == Some(1.0) && g.dim(a[0]) == dim {
        Some(a[0])
    } else {
        None
    })
}

pub(super) static NEG: OpSpec = OpSpec {
    name: "neg",
    keops: "Minus",
    symbol: Some("unary -"),
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| -a[0], lower: |p, a, _| p.prim(Prim::Neg, a) },
    derivative: Derivative::Partials(|g, _, _, _| Ok(vec![g.constant(-1.0)])),
    simplify: simplify_neg,
    tests: &[TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[] }],
    doc: "negation, `-a`",
};

fn simplify_neg(g: &mut Graph, a: &[NodeId], _: &[i64], dim: usize) -> Rewrite {
    if g.is_zero(a[0]) {
        return Ok(Some(g.zero(dim)));
    }
    if let crate::ir::Node::Op(Op::Neg, inner, _) = g.node(a[0]) {
        return Ok(Some(inner[0]));
    }
    Ok(None)
}

pub(super) static SQUARE: OpSpec = OpSpec {
    name: "square",
    keops: "Square",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| a[0] * a[0], lower: |p, a, _| p.mul(a[0], a[0]) },
    derivative: Derivative::Partials(|g, a, _, _| Ok(vec![g.scale(2.0, a[0])?])),
    simplify: zero_if_any_zero,
    tests: &[TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[] }],
    doc: "`a * a`",
};

pub(super) static INV: OpSpec = OpSpec {
    name: "inv",
    keops: "Inv",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise {
        eval: |a, _| 1.0 / a[0],
        lower: |p, a, _| {
            let one = p.constant(1.0);
            p.div(one, a[0])
        },
    },
    derivative: Derivative::Partials(|g, _, _, out| {
        let sq = g.unary(Op::Square, out)?;
        Ok(vec![g.neg(sq)?])
    }),
    simplify: keep,
    tests: &[
        TestCase { operands: &[(3, 0.5, 2.0)], attrs: &[] },
        TestCase { operands: &[(2, -2.0, -0.5)], attrs: &[] },
    ],
    doc: "`1 / a`",
};

pub(super) static POW: OpSpec = OpSpec {
    name: "pow",
    keops: "Pow",
    symbol: None,
    operands: &["a"],
    attrs: &[Attr::int("n")],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, n| powi(a[0], n[0]), lower: |p, a, n| lower_powi(p, a[0], n[0]) },
    derivative: Derivative::Partials(|g, a, n, _| {
        let p = g.op(Op::Pow, a, &[n[0].saturating_sub(1)])?;
        Ok(vec![g.scale(n[0] as f64, p)?])
    }),
    simplify: simplify_pow,
    tests: &[
        TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[3] },
        TestCase { operands: &[(2, 0.5, 2.0)], attrs: &[-2] },
        TestCase { operands: &[(2, -2.0, 2.0)], attrs: &[0] },
    ],
    doc: "integer power `a^n` (`n` an integer literal, any sign)",
};

/// `x^n` by repeated multiplication, as the generated code computes it.
fn powi(x: f64, n: i64) -> f64 {
    let mut result = 1.0;
    let mut base = x;
    let mut e = n.unsigned_abs();
    while e > 0 {
        if e & 1 == 1 {
            result *= base;
        }
        e >>= 1;
        base *= base;
    }
    if n < 0 { 1.0 / result } else { result }
}

fn lower_powi(p: &mut Program, x: Val, n: i64) -> Val {
    let mut result = p.constant(1.0);
    let mut base = x;
    let mut e = n.unsigned_abs();
    while e > 0 {
        if e & 1 == 1 {
            result = p.mul(result, base);
        }
        e >>= 1;
        if e > 0 {
            base = p.mul(base, base);
        }
    }
    if n < 0 {
        let one = p.constant(1.0);
        p.div(one, result)
    } else {
        result
    }
}

fn simplify_pow(g: &mut Graph, a: &[NodeId], n: &[i64], _: usize) -> Rewrite {
    Ok(match n[0] {
        1 => Some(a[0]),
        2 => Some(g.op(Op::Square, a, &[])?),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powi_matches_powf() {
        for n in -7..=9 {
            let x: f64 = 1.37;
            assert!((powi(x, n) - x.powi(n as i32)).abs() < 1e-12 * x.powi(n as i32).abs());
        }
        assert_eq!(powi(0.0, 0), 1.0);
    }
}
