//! Element-wise mathematical functions.

use super::{Derivative, Kind, OpSpec, TestCase, keep, no_partials, pick};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};
use crate::ops::Op;
use crate::prim::{self, Prim};

/// An element-wise op that is exactly one scalar primitive.
macro_rules! unary_prim {
    ($name:literal, $keops:literal, $prim:expr, $partials:expr, $tests:expr, $doc:literal) => {
        OpSpec {
            name: $name,
            keops: $keops,
            symbol: None,
            operands: &["a"],
            attrs: &[],
            commutative: false,
            kind: Kind::Elementwise { eval: |a, _| $prim.eval(a), lower: |p, a, _| p.prim($prim, a) },
            derivative: Derivative::Partials($partials),
            simplify: keep,
            tests: $tests,
            doc: $doc,
        }
    };
}

/// Tests on `[lo, hi)` with a 3-vector.
macro_rules! on {
    ($lo:expr, $hi:expr) => {
        &[TestCase { operands: &[(3, $lo, $hi)], attrs: &[] }]
    };
}

pub(super) static EXP: OpSpec =
    unary_prim!("exp", "Exp", Prim::Exp, |_, _, _, out| Ok(vec![out]), on!(-3.0, 3.0), "exponential");
pub(super) static LOG: OpSpec = unary_prim!(
    "log",
    "Log",
    Prim::Log,
    |g, a, _, _| Ok(vec![g.unary(Op::Inv, a[0])?]),
    on!(0.1, 4.0),
    "natural logarithm"
);
pub(super) static SQRT: OpSpec = unary_prim!(
    "sqrt",
    "Sqrt",
    Prim::Sqrt,
    // `rsqrt(a) / 2` rather than `1 / (2 sqrt(a))`: as in KeOps, 0 at `a = 0` (where the
    // Laplace kernel `exp(-sqrt(sqdist(x, y)))` is differentiated at `x = y`), not infinite.
    |g, a, _, _| {
        let r = g.unary(Op::Rsqrt, a[0])?;
        Ok(vec![g.scale(0.5, r)?])
    },
    on!(0.1, 4.0),
    "square root"
);
pub(super) static RSQRT: OpSpec = unary_prim!(
    "rsqrt",
    "Rsqrt",
    Prim::Rsqrt,
    |g, _, _, out| {
        let sq = g.unary(Op::Square, out)?;
        let cube = g.mul(sq, out)?;
        Ok(vec![g.scale(-0.5, cube)?])
    },
    on!(0.1, 4.0),
    "`1 / sqrt(a)`, with `rsqrt(0) = 0` as in KeOps"
);
pub(super) static SIN: OpSpec = unary_prim!(
    "sin",
    "Sin",
    Prim::Sin,
    |g, a, _, _| Ok(vec![g.unary(Op::Cos, a[0])?]),
    on!(-4.0, 4.0),
    "sine"
);
pub(super) static COS: OpSpec = unary_prim!(
    "cos",
    "Cos",
    Prim::Cos,
    |g, a, _, _| {
        let s = g.unary(Op::Sin, a[0])?;
        Ok(vec![g.neg(s)?])
    },
    on!(-4.0, 4.0),
    "cosine"
);
pub(super) static ABS: OpSpec = unary_prim!(
    "abs",
    "Abs",
    Prim::Abs,
    |g, a, _, _| Ok(vec![g.unary(Op::Sign, a[0])?]),
    on!(-2.0, 2.0),
    "absolute value"
);
pub(super) static SIGN: OpSpec =
    unary_prim!("sign", "Sign", Prim::Sign, no_partials, on!(-2.0, 2.0), "sign: -1, 0 or 1");
pub(super) static STEP: OpSpec = unary_prim!(
    "step",
    "Step",
    Prim::Step,
    no_partials,
    on!(-2.0, 2.0),
    "Heaviside step: 1 for `a >= 0`, else 0"
);

pub(super) static RELU: OpSpec = OpSpec {
    name: "relu",
    keops: "ReLU",
    symbol: None,
    operands: &["a"],
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
    derivative: Derivative::Partials(|g, a, _, _| Ok(vec![g.unary(Op::Step, a[0])?])),
    simplify: keep,
    tests: on!(-2.0, 2.0),
    doc: "rectified linear unit, `max(a, 0)`",
};

pub(super) static POWF: OpSpec = OpSpec {
    name: "powf",
    keops: "Powf",
    symbol: None,
    operands: &["a", "b"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise {
        // KeOps' C `powf`: a negative base is raised to an integer exponent (NaN for another),
        // `a^0 = 1^b = 1` whatever the other operand, `0^b` is 0 or infinite.
        eval: |a, _| a[0].powf(a[1]),
        lower: |p, a, _| {
            let (x, y) = (a[0], a[1]);
            let abs = p.prim(Prim::Abs, &[x]);
            let log = p.prim(Prim::Log, &[abs]);
            let e = p.mul(y, log);
            let magnitude = p.prim(Prim::Exp, &[e]);
            // A negative base: the sign of an integer exponent's parity.
            let floor = p.prim(Prim::Floor, &[y]);
            let integer = p.prim(Prim::Eq, &[floor, y]);
            let half = p.constant(0.5);
            let half_y = p.mul(y, half);
            let floor_half = p.prim(Prim::Floor, &[half_y]);
            let even = p.prim(Prim::Eq, &[floor_half, half_y]);
            let minus = p.prim(Prim::Neg, &[magnitude]);
            let signed = pick(p, even, magnitude, minus);
            let nan = p.constant(f64::NAN);
            let of_negative = pick(p, integer, signed, nan);
            let zero = p.constant(0.0);
            let negative = p.prim(Prim::Lt, &[x, zero]);
            let value = pick(p, negative, of_negative, magnitude);
            let one = p.constant(1.0);
            let y_zero = p.prim(Prim::Eq, &[y, zero]);
            let x_one = p.prim(Prim::Eq, &[x, one]);
            let unit = p.prim(Prim::Max, &[y_zero, x_one]);
            pick(p, unit, one, value)
        },
    },
    derivative: Derivative::Partials(|g, a, _, out| {
        let one = g.constant(1.0);
        let b1 = g.sub(a[1], one)?;
        let p = g.op(Op::Powf, &[a[0], b1], &[])?;
        let da = g.mul(a[1], p)?;
        let log = g.unary(Op::Log, a[0])?;
        Ok(vec![da, g.mul(log, out)?])
    }),
    simplify: keep,
    tests: &[
        TestCase { operands: &[(3, 0.2, 2.0), (3, -1.0, 1.0)], attrs: &[] },
        TestCase { operands: &[(1, 0.2, 2.0), (3, -1.0, 1.0)], attrs: &[] },
    ],
    doc: "real power `a^b`, as C's `pow` (a negative `a` to an integer `b` only)",
};

pub(super) static ATAN2: OpSpec = OpSpec {
    name: "atan2",
    keops: "Atan2",
    symbol: None,
    operands: &["y", "x"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| Prim::Atan2.eval(a), lower: |p, a, _| p.prim(Prim::Atan2, a) },
    derivative: Derivative::Partials(|g, a, _, _| {
        let (y, x) = (a[0], a[1]);
        let (y2, x2) = (g.unary(Op::Square, y)?, g.unary(Op::Square, x)?);
        let r2 = g.add(x2, y2)?;
        let dy = g.div(x, r2)?;
        let q = g.div(y, r2)?;
        Ok(vec![dy, g.neg(q)?])
    }),
    simplify: keep,
    tests: &[TestCase { operands: &[(3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] }],
    doc: "four-quadrant arctangent of `y / x`",
};

pub(super) static ASIN: OpSpec = unary_prim!(
    "asin",
    "Asin",
    Prim::Asin,
    |g, a, _, _| Ok(vec![one_minus_square_rsqrt(g, a[0], 1.0)?]),
    on!(-0.9, 0.9),
    "arcsine"
);
pub(super) static ACOS: OpSpec = unary_prim!(
    "acos",
    "Acos",
    Prim::Acos,
    |g, a, _, _| Ok(vec![one_minus_square_rsqrt(g, a[0], -1.0)?]),
    on!(-0.9, 0.9),
    "arccosine"
);
pub(super) static ATAN: OpSpec = unary_prim!(
    "atan",
    "Atan",
    Prim::Atan,
    |g, a, _, _| {
        let one = g.constant(1.0);
        let sq = g.unary(Op::Square, a[0])?;
        let d = g.add(one, sq)?;
        Ok(vec![g.unary(Op::Inv, d)?])
    },
    on!(-3.0, 3.0),
    "arctangent"
);

/// `c / sqrt(1 - x^2)`, the derivative of `asin` (`c = 1`) and `acos` (`c = -1`).
fn one_minus_square_rsqrt(g: &mut Graph, x: NodeId, c: f64) -> Result<NodeId, DimError> {
    let one = g.constant(1.0);
    let sq = g.unary(Op::Square, x)?;
    let d = g.sub(one, sq)?;
    let r = g.unary(Op::Rsqrt, d)?;
    g.scale(c, r)
}

pub(super) static XLOGX: OpSpec = OpSpec {
    name: "xlogx",
    keops: "XLogX",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise {
        // KeOps' `x ? x * log(x) : 0`.
        eval: |a, _| if a[0] == 0.0 { 0.0 } else { a[0] * a[0].ln() },
        lower: |p, a, _| {
            let log = p.prim(Prim::Log, a);
            let v = p.mul(a[0], log);
            let zero = p.constant(0.0);
            if_zero(p, a[0], zero, v)
        },
    },
    derivative: Derivative::Partials(|g, a, _, _| {
        let log = g.unary(Op::Log, a[0])?;
        let one = g.constant(1.0);
        Ok(vec![g.add(log, one)?])
    }),
    simplify: keep,
    tests: on!(0.1, 3.0),
    doc: "`a * log(a)`, with `xlogx(0) = 0` as in KeOps",
};

pub(super) static SINXDIVX: OpSpec = OpSpec {
    name: "sinxdivx",
    keops: "SinXDivX",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise {
        // KeOps' `x ? sin(x) / x : 1`.
        eval: |a, _| if a[0] == 0.0 { 1.0 } else { a[0].sin() / a[0] },
        lower: |p, a, _| {
            let sin = p.prim(Prim::Sin, a);
            let v = p.div(sin, a[0]);
            let one = p.constant(1.0);
            if_zero(p, a[0], one, v)
        },
    },
    derivative: Derivative::Partials(|g, a, _, out| {
        // (cos x - sin(x) / x) / x
        let cos = g.unary(Op::Cos, a[0])?;
        let d = g.sub(cos, out)?;
        Ok(vec![g.div(d, a[0])?])
    }),
    simplify: keep,
    tests: &[
        TestCase { operands: &[(3, 0.3, 4.0)], attrs: &[] },
        TestCase { operands: &[(2, -4.0, -0.3)], attrs: &[] },
    ],
    doc: "`sin(a) / a`, with `sinxdivx(0) = 1` as in KeOps",
};

pub(super) static SINC: OpSpec = OpSpec {
    name: "sinc",
    keops: "Sinc",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Alias {
        dim: |d, _| Ok(d[0]),
        dim_doc: "`dim(a)`",
        eval: |a, _, o| {
            for (o, &x) in o.iter_mut().zip(a[0]) {
                let t = std::f64::consts::PI * x;
                *o = if t == 0.0 { 1.0 } else { t.sin() / t };
            }
        },
        expand: |g, a, _| {
            let pi = g.constant(std::f64::consts::PI);
            let t = g.mul(pi, a[0])?;
            g.unary(Op::SinXDivX, t)
        },
    },
    derivative: Derivative::OfExpansion,
    simplify: keep,
    tests: &[TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[] }],
    doc: "`sinxdivx(pi a)`, the normalised sinc of pykeops' `LazyTensor.sinc()`",
};

/// `x == 0 ? zero : other`, exactly as KeOps' `x ? other : zero` (NaN is nonzero).
fn if_zero(p: &mut Program, x: Val, zero: Val, other: Val) -> Val {
    let z = p.constant(0.0);
    let is_zero = p.prim(Prim::Eq, &[x, z]);
    pick(p, is_zero, zero, other)
}

pub(super) static IFELSE: OpSpec = OpSpec {
    name: "ifelse",
    keops: "IfElse",
    symbol: None,
    operands: &["c", "a", "b"],
    attrs: &[],
    commutative: false,
    kind: Kind::Elementwise { eval: |a, _| Prim::Select.eval(a), lower: |p, a, _| p.prim(Prim::Select, a) },
    derivative: Derivative::Partials(|g, a, _, _| {
        let (zero, one) = (g.constant(0.0), g.constant(1.0));
        let da = g.op(Op::IfElse, &[a[0], one, zero], &[])?;
        let db = g.op(Op::IfElse, &[a[0], zero, one], &[])?;
        Ok(vec![g.zero(1), da, db])
    }),
    simplify: simplify_ifelse,
    tests: &[
        TestCase { operands: &[(3, -1.0, 1.0), (3, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(1, -1.0, 1.0), (3, -2.0, 2.0), (1, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "`a` where `c >= 0`, `b` elsewhere (so `ifelse(0, a, b) = a`)",
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
