//! Scalar primitives: the instruction set every code generator implements.
//!
//! Formula operations (see [`crate::ops`]) are defined on vectors; each one lowers to a small
//! program of these scalar instructions. A backend (Rust, PTX) therefore implements this short,
//! fixed list once, and every operation of the op table works on it. The reference semantics
//! below (in f64) are also what constant folding uses, so KeOps' special values (`rsqrt(0) = 0`,
//! `step(0) = 1`, `ifelse` testing `>= 0`) are decided here, in one place.
//!
//! The primitives are of two kinds. *Basic* ones (arithmetic, comparisons, rounding, exponent
//! manipulation) are what backends implement. *Expanded* ones (`exp`, `log`, `sin`, ...) are
//! never emitted: [`crate::lower::Program::prim`] replaces them by a sequence of basic ones
//! ([`crate::math`]), so that every backend computes the same bits and the accuracy of each
//! function is established once. Their reference semantics here serve constant folding and the
//! f64 oracle.

/// Declares the primitives: variant, name (for a basic primitive, the method on the runtime's
/// `Math` trait), arity, kind (`basic` or `expanded`), and the reference semantics in f64.
macro_rules! prims {
    (@expanded basic) => { false };
    (@expanded expanded) => { true };
    ($($(#[$doc:meta])* $variant:ident = $method:literal, $arity:literal, $kind:ident, |$a:ident| $eval:expr;)*) => {
        /// A scalar instruction.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        pub enum Prim {
            $($(#[$doc])* $variant,)*
        }

        impl Prim {
            /// Every primitive, for exhaustive tests of the backends.
            pub const ALL: &'static [Prim] = &[$(Prim::$variant,)*];

            pub fn arity(self) -> usize {
                match self {
                    $(Prim::$variant => $arity,)*
                }
            }

            /// The method implementing this primitive on the runtime's `Math` trait; for an
            /// expanded primitive, which has none, the name of the function.
            pub fn method(self) -> &'static str {
                match self {
                    $(Prim::$variant => $method,)*
                }
            }

            /// Whether this primitive is replaced by basic ones when it is emitted (see the
            /// module documentation): no program ever contains it.
            pub fn is_expanded(self) -> bool {
                match self {
                    $(Prim::$variant => prims!(@expanded $kind),)*
                }
            }

            /// Reference semantics in f64.
            pub fn eval(self, args: &[f64]) -> f64 {
                debug_assert_eq!(args.len(), self.arity());
                match self {
                    $(Prim::$variant => { let $a = args; $eval })*
                }
            }
        }
    };
}

prims! {
    Add = "add", 2, basic, |a| a[0] + a[1];
    Sub = "sub", 2, basic, |a| a[0] - a[1];
    Mul = "mul", 2, basic, |a| a[0] * a[1];
    Div = "div", 2, basic, |a| a[0] / a[1];
    /// `a * b + c` with a single rounding.
    MulAdd = "mul_add", 3, basic, |a| a[0].mul_add(a[1], a[2]);
    Neg = "neg", 1, basic, |a| -a[0];
    Abs = "abs", 1, basic, |a| a[0].abs();
    /// `a < b ? a : b`, as KeOps' C code (NaN in `b` propagates).
    Min = "min", 2, basic, |a| min(a[0], a[1]);
    /// `a > b ? a : b`, as KeOps' C code (NaN in `b` propagates).
    Max = "max", 2, basic, |a| max(a[0], a[1]);
    Sqrt = "sqrt", 1, basic, |a| a[0].sqrt();
    /// `1 / sqrt(x)`, with `rsqrt(0) = 0` as in KeOps.
    Rsqrt = "rsqrt", 1, expanded, |a| rsqrt(a[0]);
    Exp = "exp", 1, expanded, |a| a[0].exp();
    Log = "log", 1, expanded, |a| a[0].ln();
    Sin = "sin", 1, expanded, |a| a[0].sin();
    Cos = "cos", 1, expanded, |a| a[0].cos();
    Asin = "asin", 1, expanded, |a| a[0].asin();
    Acos = "acos", 1, expanded, |a| a[0].acos();
    Atan = "atan", 1, expanded, |a| a[0].atan();
    /// `atan2(y, x)`.
    Atan2 = "atan2", 2, expanded, |a| a[0].atan2(a[1]);
    Floor = "floor", 1, basic, |a| a[0].floor();
    /// Round to the nearest integer, ties to even.
    RoundEven = "round_even", 1, basic, |a| a[0].round_ties_even();
    /// `x > 0 ? 1 : (x < 0 ? -1 : 0)`: 0 for NaN.
    Sign = "sign", 1, basic, |a| sign(a[0]);
    /// `x < 0 ? 0 : 1`: `step(0) = 1`, 1 for NaN.
    Step = "step", 1, basic, |a| step(a[0]);
    /// `c >= 0 ? a : b` (KeOps' `IfElse` convention).
    Select = "select", 3, basic, |a| if a[0] >= 0.0 { a[1] } else { a[2] };
    /// `a < b ? 1 : 0`.
    Lt = "lt", 2, basic, |a| f64::from(u8::from(a[0] < a[1]));
    /// `a <= b ? 1 : 0`.
    Le = "le", 2, basic, |a| f64::from(u8::from(a[0] <= a[1]));
    /// `a == b ? 1 : 0`.
    Eq = "eq", 2, basic, |a| f64::from(u8::from(a[0] == a[1]));
    /// `a != b ? 1 : 0` (1 if either is NaN).
    Ne = "ne", 2, basic, |a| f64::from(u8::from(a[0] != a[1]));
    /// `x * 2^floor(n)`, rounded once.
    Ldexp = "ldexp", 2, basic, |a| ldexp(a[0], a[1]);
    /// `ldexp(x, n)` for the exp expansion's operands only: an integer `n` whose halves
    /// `floor(n / 2)` and `n - floor(n / 2)` are normal exponents, and an `x` of magnitude in
    /// `[1/2, 2]` (or both NaN, from `exp(NaN)`), so that `(x 2^floor(n/2)) 2^(n - floor(n/2))`
    /// is exact, then rounded once. Backends compute that product of two powers of two built in
    /// the exponent field, with no range check, or, where the result is normal, add `n` to the
    /// exponent field of `x` (the CPU kernels); other operands give unspecified results.
    LdexpInt = "ldexp_int", 2, basic, |a| ldexp(a[0], a[1]);
    /// The binary exponent `floor(log2 |x|)` of a finite nonzero `x` (subnormals included);
    /// -inf for zero, +inf for infinities, NaN for NaN.
    GetExp = "get_exp", 1, basic, |a| get_exp(a[0]);
    /// `|x| / 2^get_exp(x)`, in `[1, 2)` for a finite nonzero `x`; 1 for zero and infinities,
    /// NaN for NaN.
    GetMant = "get_mant", 1, basic, |a| get_mant(a[0]);
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

/// Whether `(x, n)` are operands [`Prim::LdexpInt`] is specified for, in floats of type
/// `dtype`: `n` an integer whose halves are normal exponents and `|x|` in `[1/2, 2]`, or both
/// NaN. Tests of the backends draw its operands from this domain.
pub fn ldexp_int_domain(x: f64, n: f64, dtype: crate::ir::DType) -> bool {
    let (emin, emax) = match dtype {
        crate::ir::DType::F32 => (-126.0, 127.0),
        crate::ir::DType::F64 => (-1022.0, 1023.0),
    };
    let half = (n / 2.0).floor();
    let x_ok = (0.5..=2.0).contains(&x.abs());
    (x.is_nan() && n.is_nan())
        || (x_ok && n.fract() == 0.0 && (emin..=emax).contains(&half) && (emin..=emax).contains(&(n - half)))
}

/// The exponent primitives' semantics, shared with the runtime's CPU kernels.
pub use keops_abi::bits::{get_exp, get_mant, ldexp};

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
        assert_eq!(Prim::Lt.eval(&[f64::NAN, 0.0]), 0.0);
        assert_eq!(Prim::Ne.eval(&[f64::NAN, f64::NAN]), 1.0);
    }

    #[test]
    fn exponent_and_mantissa() {
        for x in [1.0, 1.5, 3.0, 0.75, 1e300, 1e-300, 5e-324, f64::MIN_POSITIVE, -6.0] {
            let (e, m) = (get_exp(x), get_mant(x));
            assert!((1.0..2.0).contains(&m), "{x}: mantissa {m}");
            assert_eq!(ldexp(m, e), x.abs(), "{x}");
        }
        assert_eq!(get_exp(5e-324), -1074.0);
        assert_eq!(get_exp(0.0), f64::NEG_INFINITY);
        assert_eq!(get_exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(get_mant(0.0), 1.0);
    }

    #[test]
    fn ldexp_rounds_once() {
        assert_eq!(ldexp(1.0, 1023.0), 2f64.powi(1023));
        assert_eq!(ldexp(1.0, 1024.0), f64::INFINITY);
        assert_eq!(ldexp(1.0, -1074.0), 5e-324);
        assert_eq!(ldexp(1.0, -1075.0), 0.0);
        assert_eq!(ldexp(3.0, -1075.0), 5e-324 * 2.0);
        assert_eq!(ldexp(1.5, -1074.0), 5e-324 * 2.0, "ties to even");
        assert_eq!(ldexp(2f64.powi(1000), -2000.0), 2f64.powi(-1000));
        assert_eq!(ldexp(-1.25, 2.7), -5.0, "n is floored");
    }

    #[test]
    fn method_names_are_distinct() {
        let mut names: Vec<_> = Prim::ALL.iter().map(|p| p.method()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Prim::ALL.len());
    }
}
