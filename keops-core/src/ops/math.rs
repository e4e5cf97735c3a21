//! Element-wise mathematical functions.

use super::{Kind, OpSpec, keep};
use crate::ir::{DimError, Graph, NodeId};
use crate::prim::{self, Prim};

/// An element-wise op that is exactly one scalar primitive.
macro_rules! unary_prim {
    ($name:literal, $keops:literal, $prim:expr, $doc:literal) => {
        OpSpec {
            name: $name,
            keops: $keops,
            symbol: None,
            arity: 1,
            attrs: &[],
            commutative: false,
            kind: Kind::Elementwise { eval: |a, _| $prim.eval(a), lower: |p, a, _| p.prim($prim, a) },
            simplify: keep,
            doc: $doc,
        }
    };
}

pub(super) static EXP: OpSpec = unary_prim!("exp", "Exp", Prim::Exp, "exponential");
pub(super) static LOG: OpSpec = unary_prim!("log", "Log", Prim::Log, "natural logarithm");
pub(super) static SQRT: OpSpec = unary_prim!("sqrt", "Sqrt", Prim::Sqrt, "square root");
pub(super) static RSQRT: OpSpec =
    unary_prim!("rsqrt", "Rsqrt", Prim::Rsqrt, "`1 / sqrt(a)`, with `rsqrt(0) = 0` as in KeOps");
pub(super) static SIN: OpSpec = unary_prim!("sin", "Sin", Prim::Sin, "sine");
pub(super) static COS: OpSpec = unary_prim!("cos", "Cos", Prim::Cos, "cosine");
pub(super) static ABS: OpSpec = unary_prim!("abs", "Abs", Prim::Abs, "absolute value");
pub(super) static SIGN: OpSpec = unary_prim!("sign", "Sign", Prim::Sign, "sign: -1, 0 or 1");
pub(super) static STEP: OpSpec =
    unary_prim!("step", "Step", Prim::Step, "Heaviside step: 1 for `a >= 0`, else 0");

pub(super) static RELU: OpSpec = OpSpec {
    name: "relu",
    keops: "ReLU",
    symbol: None,
    arity: 1,
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise {
        // `0 > x ? 0 : x`: KeOps' `x < 0 ? 0 : x`, NaN included.
        eval: |a, _| prim::max(0.0, a[0]),
        lower: |p, a, _| {
            let zero = p.constant(0.0);
            p.prim(Prim::Max, &[zero, a[0]])
        },
    },
    simplify: keep,
    doc: "rectified linear unit, `max(a, 0)`",
};

pub(super) static POWF: OpSpec = OpSpec {
    name: "powf",
    keops: "Powf",
    symbol: None,
    arity: 2,
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise {
        // KeOps defines it as exp(b log a): negative bases give NaN.
        eval: |a, _| (a[1] * a[0].ln()).exp(),
        lower: |p, a, _| {
            let log = p.prim(Prim::Log, &a[..1]);
            let e = p.mul(a[1], log);
            p.prim(Prim::Exp, &[e])
        },
    },
    simplify: keep,
    doc: "real power `a^b = exp(b log a)`",
};

pub(super) static ATAN2: OpSpec = OpSpec {
    name: "atan2",
    keops: "Atan2",
    symbol: None,
    arity: 2,
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| Prim::Atan2.eval(a), lower: |p, a, _| p.prim(Prim::Atan2, a) },
    simplify: keep,
    doc: "four-quadrant arctangent of `a / b`",
};

pub(super) static IFELSE: OpSpec = OpSpec {
    name: "ifelse",
    keops: "IfElse",
    symbol: None,
    arity: 3,
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| Prim::Select.eval(a), lower: |p, a, _| p.prim(Prim::Select, a) },
    simplify: simplify_ifelse,
    doc: "`b` where `a >= 0`, `c` elsewhere",
};

fn simplify_ifelse(g: &mut Graph, a: &[NodeId], _: &[i64], dim: usize) -> Result<Option<NodeId>, DimError> {
    let pick = |n: NodeId| (g.dim(n) == dim).then_some(n);
    Ok(if a[1] == a[2] {
        pick(a[1])
    } else {
        match g.as_const(a[0]) {
            Some(c) if c >= 0.0 => pick(a[1]),
            Some(c) if c < 0.0 => pick(a[2]),
            _ => None,
        }
    })
}
