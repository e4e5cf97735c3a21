//! Transcendental functions as sequences of basic primitives, defined once for every backend.
//!
//! `exp`, `log`, `sin`, `cos`, `atan`, `atan2`, `asin`, `acos` and `rsqrt` are expanded
//! primitives ([`Prim::is_expanded`]): when a lowering asks for one,
//! [`Program::prim`](crate::lower::Program::prim) folds it if its operands are constant and
//! otherwise emits the sequence built here, made only of basic primitives (arithmetic,
//! `mul_add`, comparisons, `select`, `floor`, `round_even`, `ldexp`, `get_exp`, `get_mant`).
//! So backends implement only basic primitives (PTX has no f64 transcendental instruction at
//! all), every backend computes the same bits (a SIMD lane and a scalar tail alike), and the
//! accuracy of each function is established once, here, by running the sequences through
//! [`crate::interp`], which computes exactly as a backend does. The sequences are hash-consed
//! like the rest of the program: `sin(x)` and `cos(x)` share their range reduction.
//!
//! # Algorithms
//!
//! Classic range reduction followed by a polynomial evaluated with fused multiply-adds; each
//! function's documentation gives the details.
//!
//! - `exp`: `x = n ln2 + r`, `n = round_even(x log2 e)`, `r` from a two-word `ln 2`
//!   (Cody–Waite), a degree 6 polynomial by Horner's rule (f64: degree 12, with the rounding
//!   error of `r` recovered and the leading terms summed exactly), `ldexp`.
//! - `log`: `x = 2^e m`, `m` in `[sqrt(1/2), sqrt(2))` from `get_exp`/`get_mant`,
//!   `log(m) = 2 atanh(f / (2 + f))` for `f = m - 1` in fdlibm's form, `e ln 2` exact.
//! - `sin`, `cos`: quadrant `q = round(x 2/pi)`, `x - q pi/2` as two words from `pi/2` in four
//!   (f32) or three (f64) words, quadrant parity as `q - 4 floor(q/4)`, both polynomials on
//!   `[-pi/4, pi/4]` and a `select`.
//! - `atan`: fdlibm's reduction to `|u| <= 7/16` around 0, 1/2, 1, 3/2 and infinity;
//!   `atan2` takes `atan(min / max)` of the absolute values and fixes the quadrant; `asin` and
//!   `acos` evaluate `asin` on `[0, 1/2]`, through `asin(x) = pi/2 - 2 asin(sqrt((1 - x)/2))`
//!   above 1/2.
//! - `rsqrt`: `1 / sqrt(x)` corrected by its exact residuals; KeOps' `rsqrt(0) = 0`.
//!
//! There are no integer or bit-level primitives, so everything is decided in floating point:
//! quadrants from `floor`, binary exponents from `get_exp`, signs from comparisons. The sign of
//! zero is the one thing `select` cannot see (it tests `>= 0`): `-|x| >= 0` singles out ±0, and
//! `x + 1/x` has the sign of `x`, `-0` included (used by `atan2`). `min(a, b)` and `max(a, b)`
//! return `b` when either is NaN, so clamps are written `min(hi, x)`, `max(lo, x)` to let a NaN
//! `x` through.
//!
//! # Coefficients
//!
//! Every polynomial is a minimax approximation computed for this module: a Remez exchange in
//! 60-digit arithmetic (mpmath), weighted for the relative error of the function, with the
//! leading terms fixed by the form (`exp(r) = 1 + r + r^2 q(r)`, `sin(r) = r + r^3 S(r^2)`,
//! ...); the coefficients are then rounded to the type, for `sin`, `cos` and the inverse
//! functions one at a time with the remaining ones refitted after each rounding. Each table
//! states its fit's error. Constants such as
//! `pi/2` are given as multi-word f64 values and split into words of each type (`split`).
//!
//! # Accuracy
//!
//! Error in ulps of the exact result. f32: measured on every f32 of the domain, as the distance
//! to the f64 function of the same input (glibc's, accurate to far below an f32 ulp) in f32
//! ulps of that value, by the ignored test `exhaustive_f32` (`cargo test --release -p
//! keops-core --lib exhaustive -- --ignored --nocapture`, 40 minutes on two cores); atan2 on
//! random pairs. A correctly rounded result is within 0.5 ulp, a faithful one within 1. f64:
//! distance to glibc's result (itself correctly rounded in nearly all cases) on random and
//! structured points (both signs, every binade, the doubles nearest multiples of `pi/2`), and
//! for exp and rsqrt against the exact value (a double-word computation in the tests). The
//! `cargo test` sweeps (millions of f32 and hundreds of thousands of f64 points per function)
//! assert these bounds.
//!
//! | function | type | domain | max error | points |
//! |---|---|---|---|---|
//! | exp | f32 | [-87.33, 89] (normal results) | 0.891 ulp | all 2.2e9 |
//! | exp | f32 | [-110, -87.33] (subnormal results) | 0.858 ulp | all 3.0e6 |
//! | log | f32 | (0, inf) | 0.749 ulp | all 2.1e9 |
//! | sin | f32 | [-2^24, 2^24] | 0.706 ulp | all 2.5e9 |
//! | cos | f32 | [-2^24, 2^24] | 0.706 ulp | all 2.5e9 |
//! | atan | f32 | finite | 0.727 ulp | all 4.3e9 |
//! | asin | f32 | [-1, 1] | 0.631 ulp | all 2.1e9 |
//! | acos | f32 | [-1, 1] | 0.607 ulp | all 2.1e9 |
//! | atan2 | f32 | all pairs | 0.720 ulp | 2e6 random |
//! | rsqrt | f32 | (0, inf) | 0.500 ulp | all 2.1e9 |
//! | exp | f64 | [-708.39, 709.78] (normal results) | 0.839 ulp (3.9% differ from glibc) | 9e5 random |
//! | exp | f64 | [-745, -708.4] (subnormal results) | 0.854 ulp | 1.1e5 random |
//! | log | f64 | (0, inf) | 1 ulp from glibc (1.3% differ) | 8e5 random |
//! | sin, cos | f64 | [-2^52, 2^52] | 1 ulp from glibc (0.6–1.7% differ) | 3.3e6 random and near `k pi/2` |
//! | atan | f64 | all | 1 ulp from glibc (1.9% differ) | 6e5 random |
//! | asin, acos | f64 | [-1, 1] | 1 ulp from glibc (3.0%, 1.3% differ) | 6e5 random |
//! | atan2 | f64 | all pairs | 1 ulp from glibc (0.7% differ) | 6e5 random |
//! | rsqrt | f64 | (0, inf) | 0.500 ulp | 5e5 random |
//!
//! Special values follow C99: NaN propagates; `exp(-inf) = 0`, `exp(+inf) = +inf`, overflow to
//! `+inf`, gradual underflow (subnormal results, rounded twice);
//! `log(±0) = -inf`, `log(x < 0) = NaN`, `log(+inf) = +inf`; `sin(-0) = -0`, `sin(±inf) =
//! cos(±inf) = NaN`; `atan(±inf) = ±pi/2`; `atan2` with signed zeros and infinities as C99;
//! `asin`, `acos` NaN outside `[-1, 1]`; `rsqrt(±0) = 0` (KeOps), `rsqrt(+inf) = 0`.
//!
//! Limits: `sin` and `cos` reduce exactly while the quadrant `q` is an integer of the type,
//! `|x| < 2^24` in f32 and about `2^52` in f64. Beyond that (where consecutive f32 are at least
//! 2 apart) the results are bounded by 1 but meaningless: there is no Payne–Hanek reduction.
//! The f64 reduced argument is accurate to about `2^-108` absolute near `|x| = 2^52` (better
//! below), so only an input within about `2^-54` of a multiple of `pi/2` in that top range
//! could lose an ulp; we have not searched for one.

mod exp_log;
pub use exp_log::{ClampedExp, clamped_exp, exp_normal_bound, is_exp_of};
pub(crate) use exp_log::{exp_below, exp_unclamped, shifter};
mod inverse_trig;
mod trig;

#[cfg(test)]
mod tests;

use crate::ir::DType;
use crate::lower::{Program, Val};
use crate::prim::{self, Prim};

/// Emits the basic primitives computing the expanded primitive `prim` on `args`.
pub(crate) fn expand(p: &mut Program, prim: Prim, args: &[Val]) -> Val {
    match prim {
        Prim::Exp => exp_log::exp(p, args[0]),
        Prim::Log => exp_log::log(p, args[0]),
        Prim::Rsqrt => rsqrt(p, args[0]),
        Prim::Sin => trig::sin(p, args[0]),
        Prim::Cos => trig::cos(p, args[0]),
        Prim::Atan => inverse_trig::atan(p, args[0]),
        Prim::Atan2 => inverse_trig::atan2(p, args[0], args[1]),
        Prim::Asin => inverse_trig::asin(p, args[0]),
        Prim::Acos => inverse_trig::acos(p, args[0]),
        _ => unreachable!("{prim:?} is a basic primitive"),
    }
}

/// KeOps' `rsqrt`: 0 for ±0, else `1 / sqrt(x)`.
///
/// `y = 1 / s` with `s = sqrt(x)` would have two roundings (up to 1.5 ulp); both residuals are
/// exact by fused multiply-adds, `x - s^2` and `1 - y s`, and give the first-order correction
/// `1 / sqrt(x) = y (1 + (1 - y s) - (x - s^2) y^2 / 2)`, which leaves little more than the
/// final rounding. The residual `x - s^2` is about `2^-p x`: tiny inputs are scaled by an even
/// power of two first so that it stays a normal number. `rsqrt(+inf) = 0` is selected (its
/// residuals are NaN).
fn rsqrt(p: &mut Program, x: Val) -> Val {
    // Below 2^-100 (f32) or 2^-900 (f64), compute rsqrt(x 2^2k) 2^k instead.
    let k = match p.dtype() {
        DType::F32 => 50,
        DType::F64 => 450,
    };
    let tiny = p.c(prim::ldexp(1.0, f64::from(-2 * k)));
    let not_tiny = p.sub(x, tiny);
    let up = p.c(prim::ldexp(1.0, f64::from(2 * k)));
    let x_up = p.mul(x, up);
    let xs = p.select(not_tiny, x, x_up);
    let one = p.c(1.0);
    let s = p.sqrt(xs);
    let y = p.div(one, s);
    let neg_s = p.neg(s);
    let d = p.mul_add(neg_s, s, xs);
    let neg_y = p.neg(y);
    let r = p.mul_add(neg_y, s, one);
    let neg_half = p.c(-0.5);
    let hd = p.mul(d, neg_half);
    let hdy = p.mul(hd, y);
    let t = p.mul_add(hdy, y, r);
    let y = p.mul_add(y, t, y);
    let back = p.c(prim::ldexp(1.0, f64::from(k)));
    let scale = p.select(not_tiny, one, back);
    let y = p.mul(y, scale);
    let inf = p.c(f64::INFINITY);
    let is_inf = p.prim(Prim::Eq, &[x, inf]);
    let not_inf = p.neg(is_inf);
    let zero = p.c(0.0);
    let y = p.select(not_inf, y, zero);
    let nabs = p.neg_abs(x);
    p.select(nabs, zero, y)
}

/// Whether `v` of `p` computes the expansion of the expanded primitive `prim` of `arg`
/// instruction for instruction (as [`is_exp_of`] for `exp`), so that a backend may call its own
/// copy of it for the same values.
pub fn is_expansion_of(p: &Program, prim: Prim, v: Val, arg: Val) -> bool {
    let mut reference = Program::new(p.dtype());
    let x = reference.load(0, 0);
    let y = reference.prim(prim, &[x]);
    exp_log::same_value(p, v, &reference, y, (x, arg), &mut std::collections::HashMap::new())
}

/// The emitters the expansions are written with, beyond [`Program`]'s own.
trait Emit {
    fn c(&mut self, x: f64) -> Val;
    fn unary(&mut self, prim: Prim, a: Val) -> Val;
    fn neg(&mut self, a: Val) -> Val {
        self.unary(Prim::Neg, a)
    }
    fn abs(&mut self, a: Val) -> Val {
        self.unary(Prim::Abs, a)
    }
    /// `-|a|`: `>= 0` (as `select` tests) exactly for ±0.
    fn neg_abs(&mut self, a: Val) -> Val {
        let abs = self.abs(a);
        self.neg(abs)
    }
    fn sqrt(&mut self, a: Val) -> Val {
        self.unary(Prim::Sqrt, a)
    }
    fn select(&mut self, c: Val, a: Val, b: Val) -> Val;
    fn min(&mut self, a: Val, b: Val) -> Val;
    fn max(&mut self, a: Val, b: Val) -> Val;
    /// `coeffs[0] + x (coeffs[1] + x (coeffs[2] + ...))`, by fused multiply-adds.
    fn horner(&mut self, x: Val, coeffs: &[f64]) -> Val;
    /// The coefficients for this program's type.
    fn pick(&self, f32: &'static [f64], f64: &'static [f64]) -> &'static [f64];
    /// The largest finite value of the program's type.
    fn largest(&mut self) -> Val;
    /// A constant given as an unevaluated sum of f64 words, split into `n` constants of the
    /// program's type whose sum approximates it best (see [`split`]).
    fn split(&mut self, value: &[f64], n: usize) -> Vec<Val>;
    /// As [`Emit::split`] in two words, the first with only `hi_bits` significant bits so that
    /// its products by small integers are exact.
    fn split_short(&mut self, value: &[f64], hi_bits: u32) -> (Val, Val);
    /// `(s, e)` with `s = a + b` rounded and `s + e = a + b` exactly, provided `|a| >= |b|` or
    /// `a = 0` (Dekker's Fast2Sum).
    fn fast_two_sum(&mut self, a: Val, b: Val) -> (Val, Val);
    /// As [`Emit::fast_two_sum`] for any `a` and `b` (Knuth's TwoSum).
    fn two_sum(&mut self, a: Val, b: Val) -> (Val, Val);
}

impl Emit for Program {
    fn c(&mut self, x: f64) -> Val {
        self.constant(x)
    }

    fn unary(&mut self, prim: Prim, a: Val) -> Val {
        self.prim(prim, &[a])
    }

    fn select(&mut self, c: Val, a: Val, b: Val) -> Val {
        self.prim(Prim::Select, &[c, a, b])
    }

    fn min(&mut self, a: Val, b: Val) -> Val {
        self.prim(Prim::Min, &[a, b])
    }

    fn max(&mut self, a: Val, b: Val) -> Val {
        self.prim(Prim::Max, &[a, b])
    }

    fn horner(&mut self, x: Val, coeffs: &[f64]) -> Val {
        let (&last, rest) = coeffs.split_last().expect("a polynomial has coefficients");
        let mut acc = self.c(last);
        for &k in rest.iter().rev() {
            let k = self.c(k);
            acc = self.mul_add(acc, x, k);
        }
        acc
    }

    fn pick(&self, f32: &'static [f64], f64: &'static [f64]) -> &'static [f64] {
        match self.dtype() {
            DType::F32 => f32,
            DType::F64 => f64,
        }
    }

    fn largest(&mut self) -> Val {
        match self.dtype() {
            DType::F32 => self.c(f64::from(f32::MAX)),
            DType::F64 => self.c(f64::MAX),
        }
    }

    fn split(&mut self, value: &[f64], n: usize) -> Vec<Val> {
        let bits = vec![precision(self.dtype()); n];
        split(value, &bits).into_iter().map(|w| self.c(w)).collect()
    }

    fn split_short(&mut self, value: &[f64], hi_bits: u32) -> (Val, Val) {
        let words = split(value, &[hi_bits, precision(self.dtype())]);
        (self.c(words[0]), self.c(words[1]))
    }

    fn fast_two_sum(&mut self, a: Val, b: Val) -> (Val, Val) {
        let s = self.add(a, b);
        let d = self.sub(a, s);
        let e = self.add(d, b);
        (s, e)
    }

    fn two_sum(&mut self, a: Val, b: Val) -> (Val, Val) {
        let s = self.add(a, b);
        let bb = self.sub(s, a);
        let ab = self.sub(s, bb);
        let da = self.sub(a, ab);
        let db = self.sub(b, bb);
        let e = self.add(da, db);
        (s, e)
    }
}

/// Significant bits of the program's type.
fn precision(dtype: DType) -> u32 {
    match dtype {
        DType::F32 => 24,
        DType::F64 => 53,
    }
}

/// `x` rounded to `bits` significant bits (ties to even), for a normal `x`.
fn round_to_bits(x: f64, bits: u32) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let e = prim::get_exp(x) - f64::from(bits) + 1.0;
    prim::ldexp(prim::ldexp(x, -e).round_ties_even(), e)
}

/// Splits the exact sum of the f64 words `value` into words of `bits[k]` significant bits:
/// each is the remainder so far rounded, and the remainder is kept exact (in f64 words, by
/// Knuth's TwoSum), so the words together carry the precision of all of them. This is how the
/// Cody–Waite constants (`ln 2`, `pi / 2` in two or three parts) are derived for each type from
/// one multi-word value.
fn split(value: &[f64], bits: &[u32]) -> Vec<f64> {
    let mut rest = value.to_vec();
    bits.iter()
        .map(|&b| {
            let word = round_to_bits(rest.iter().rev().sum(), b);
            let (s, e) = two_sum(rest[0], -word);
            rest.splice(0..1, [s, e]);
            rest.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
            word
        })
        .collect()
}

/// Knuth's TwoSum in f64: `s = a + b` rounded and the exact error.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// Multi-word values of the constants the expansions need, each as an unevaluated sum of f64
/// words (each word the nearest f64 to the remainder; the first is std's), computed to 100
/// digits.
mod consts {
    use std::f64::consts as c;

    pub const LN2: &[f64] = &[c::LN_2, 2.3190468138462996e-17, 5.707708438416212e-34];
    pub const LOG2_E: f64 = c::LOG2_E;
    pub const FRAC_PI_2: &[f64] =
        &[c::FRAC_PI_2, 6.123233995736766e-17, -1.4973849048591698e-33, 5.562271104316826e-50];
    pub const FRAC_2_PI: &[f64] = &[c::FRAC_2_PI, -3.935735335036497e-17, -2.1442872565786008e-33];
    pub const PI: &[f64] = &[c::PI, 1.2246467991473532e-16, -2.9947698097183397e-33];
    pub const FRAC_PI_4: &[f64] = &[c::FRAC_PI_4, 3.061616997868383e-17, -7.486924524295849e-34];
    pub const ATAN_1_2: &[f64] = &[0.4636476090008061, 2.2698777452961687e-17, -5.247356382839165e-34];
    pub const ATAN_3_2: &[f64] = &[0.982793723247329, 1.3903311031230998e-17, -1.17868681008616e-33];
    pub const SQRT_2: f64 = c::SQRT_2;
}
