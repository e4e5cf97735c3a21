//! Comparisons: 1 where the relation holds, 0 elsewhere (`<`, `<=`, `==`, `!=` in formulas;
//! `a > b` is `b < a` and `a >= b` is `b <= a`, as in KeOps).

use super::{Derivative, Kind, OpSpec, TestCase, keep, no_partials};
use crate::prim::Prim;

/// A comparison: one primitive, zero derivatives.
macro_rules! comparison {
    ($name:literal, $keops:literal, $symbol:literal, $prim:expr, $commutative:literal, $tests:expr, $doc:literal) => {
        OpSpec {
            name: $name,
            keops: $keops,
            symbol: Some($symbol),
            operands: &["a", "b"],
            attrs: &[],
            commutative: $commutative,
            kind: Kind::Elementwise { eval: |a, _| $prim.eval(a), lower: |p, a, _| p.prim($prim, a) },
            derivative: Derivative::Partials(no_partials),
            simplify: keep,
            tests: $tests,
            doc: $doc,
        }
    };
}

/// Random operands: the relation holds in about half of the pairs (for the orderings).
const ORDERED: &[TestCase] = &[
    TestCase { operands: &[(3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
    TestCase { operands: &[(1, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
];

/// Random operands (never equal), and constant operands (always equal).
const EQUALITY: &[TestCase] = &[
    TestCase { operands: &[(3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
    TestCase { operands: &[(2, 0.5, 0.5), (2, 0.5, 0.5)], attrs: &[] },
];

pub(super) static EQUAL: OpSpec =
    comparison!("equal", "Equal", "==", Prim::Eq, true, EQUALITY, "1 where `a == b`, else 0");
pub(super) static NOTEQUAL: OpSpec =
    comparison!("notequal", "NotEqual", "!=", Prim::Ne, true, EQUALITY, "1 where `a != b`, else 0");
pub(super) static LESSTHAN: OpSpec =
    comparison!("lessthan", "LessThan", "<", Prim::Lt, false, ORDERED, "1 where `a < b`, else 0");
pub(super) static LESSOREQUAL: OpSpec =
    comparison!("lessorequal", "LessOrEqual", "<=", Prim::Le, false, ORDERED, "1 where `a <= b`, else 0");
