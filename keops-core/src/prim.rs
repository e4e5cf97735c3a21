//! Scalar primitives: the instruction set every code generator implements.
//!
//! Formula operations (see [`crate::ops`]) are defined on vectors; each one lowers to a small
//! program of these scalar instructions. A backend (Rust, PTX) therefore implements this short,
//! fixed list once, and every operation of the op table works on it. The reference semantics
//! below (in f64) are also what constant folding uses, so KeOps' special values (`rsqrt(0) = 0`,
//! `step(0) = 1`, `ifelse` testing `>= 0`) are decided here, in one place.

/// A scalar instruction. `Select(c, a, b)` is `a` where `c >= 0` and `b` elsewhere (KeOps'
/// `IfElse` convention); comparisons return 1 or 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Prim {
    Add,
    Sub,
    Mul,
    Div,
    /// `a * b + c`, fused where the target has it.
    MulAdd,
    Neg,
    Abs,
    Min,
    Max,
    Exp,
    Log,
    Sqrt,
    /// `1 / sqrt(x)`, with `rsqrt(0) = 0` as in KeOps.
    Rsqrt,
    Sin,
    Cos,
    Atan2,
    Floor,
    /// -1, 0 or 1 (0 for NaN).
    Sign,
    /// `x < 0 ? 0 : 1` (`step(0) = 1`).
    Step,
    Select,
}

impl Prim {
    /// Every primitive, for exhaustive tests of the backends.
    pub const ALL: &'static [Prim] = &[
        Prim::Add,
        Prim::Sub,
        Prim::Mul,
        Prim::Div,
        Prim::MulAdd,
        Prim::Neg,
        Prim::Abs,
        Prim::Min,
        Prim::Max,
        Prim::Exp,
        Prim::Log,
        Prim::Sqrt,
        Prim::Rsqrt,
        Prim::Sin,
        Prim::Cos,
        Prim::Atan2,
        Prim::Floor,
        Prim::Sign,
        Prim::Step,
        Prim::Select,
    ];

    pub fn arity(self) -> usize {
        match self {
            Prim::Neg
            | Prim::Abs
            | Prim::Exp
            | Prim::Log
            | Prim::Sqrt
            | Prim::Rsqrt
            | Prim::Sin
            | Prim::Cos
            | Prim::Floor
            | Prim::Sign
            | Prim::Step => 1,
            Prim::Add | Prim::Sub | Prim::Mul | Prim::Div | Prim::Min | Prim::Max | Prim::Atan2 => 2,
            Prim::MulAdd | Prim::Select => 3,
        }
    }

    /// The method implementing this primitive on the runtime's `Math` trait.
    pub fn method(self) -> &'static str {
        match self {
            Prim::Add => "add",
            Prim::Sub => "sub",
            Prim::Mul => "mul",
            Prim::Div => "div",
            Prim::MulAdd => "mul_add",
            Prim::Neg => "neg",
            Prim::Abs => "abs",
            Prim::Min => "min",
            Prim::Max => "max",
            Prim::Exp => "exp",
            Prim::Log => "log",
            Prim::Sqrt => "sqrt",
            Prim::Rsqrt => "rsqrt",
            Prim::Sin => "sin",
            Prim::Cos => "cos",
            Prim::Atan2 => "atan2",
            Prim::Floor => "floor",
            Prim::Sign => "sign",
            Prim::Step => "step",
            Prim::Select => "select",
        }
    }

    /// Reference semantics in f64.
    pub fn eval(self, a: &[f64]) -> f64 {
        debug_assert_eq!(a.len(), self.arity());
        match self {
            Prim::Add => a[0] + a[1],
            Prim::Sub => a[0] - a[1],
            Prim::Mul => a[0] * a[1],
            Prim::Div => a[0] / a[1],
            Prim::MulAdd => a[0].mul_add(a[1], a[2]),
            Prim::Neg => -a[0],
            Prim::Abs => a[0].abs(),
            Prim::Min => min(a[0], a[1]),
            Prim::Max => max(a[0], a[1]),
            Prim::Exp => a[0].exp(),
            Prim::Log => a[0].ln(),
            Prim::Sqrt => a[0].sqrt(),
            Prim::Rsqrt => rsqrt(a[0]),
            Prim::Sin => a[0].sin(),
            Prim::Cos => a[0].cos(),
            Prim::Atan2 => a[0].atan2(a[1]),
            Prim::Floor => a[0].floor(),
            Prim::Sign => sign(a[0]),
            Prim::Step => step(a[0]),
            Prim::Select => {
                if a[0] >= 0.0 {
                    a[1]
                } else {
                    a[2]
                }
            }
        }
    }
}

/// `min` as the C ternary `a < b ? a : b` that KeOps uses (NaN in `b` propagates).
pub fn min(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
}

/// `max` as the C ternary `a > b ? a : b` that KeOps uses (NaN in `b` propagates).
pub fn max(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// KeOps' `Rsqrt`: `1/sqrt(x)` with `rsqrt(0) = 0`.
pub fn rsqrt(x: f64) -> f64 {
    if x == 0.0 { 0.0 } else { 1.0 / x.sqrt() }
}

/// KeOps' `Sign`: `x > 0 ? 1 : (x < 0 ? -1 : 0)`, so NaN gives 0.
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// KeOps' `Step`: `x < 0 ? 0 : 1`, so `step(0) = 1` and NaN gives 1.
pub fn step(x: f64) -> f64 {
    if x < 0.0 { 0.0 } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keops_special_values() {
        assert_eq!(Prim::Rsqrt.eval(&[0.0]), 0.0);
        assert_eq!(Prim::Rsqrt.eval(&[4.0]), 0.5);
        assert_eq!(Prim::Step.eval(&[0.0]), 1.0);
        assert_eq!(Prim::Step.eval(&[-1e-30]), 0.0);
        assert_eq!(Prim::Sign.eval(&[0.0]), 0.0);
        assert_eq!(Prim::Sign.eval(&[-3.0]), -1.0);
        assert_eq!(Prim::Select.eval(&[0.0, 1.0, 2.0]), 1.0);
        assert_eq!(Prim::Select.eval(&[-0.5, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn nan_follows_the_c_ternaries() {
        assert_eq!(Prim::Step.eval(&[f64::NAN]), 1.0);
        assert_eq!(Prim::Sign.eval(&[f64::NAN]), 0.0);
        assert!(Prim::Max.eval(&[0.0, f64::NAN]).is_nan());
        assert_eq!(Prim::Max.eval(&[f64::NAN, 0.0]), 0.0);
    }

    #[test]
    fn method_names_are_distinct() {
        let mut names: Vec<_> = Prim::ALL.iter().map(|p| p.method()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Prim::ALL.len());
    }
}
