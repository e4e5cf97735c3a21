//! `exp` and `log`.

use std::collections::HashMap;

use super::{Emit, consts};
use crate::ir::DType;
use crate::lower::{Inst, Program, Val};
use crate::prim::Prim;

/// `(exp(r) - 1 - r) / r^2` on `|r| <= ln(2) / 2`: minimax for the relative error of `exp`
/// (Remez exchange in 60-digit arithmetic, coefficients then rounded to the type). Relative
/// error of the polynomial: 2^-28 in f32, 2^-60 in f64.
const EXP_F32: &[f64] = &[
    0.4999999403953552,
    0.1666652113199234,
    0.04166838899254799,
    0.00836874544620514,
    0.0013814540579915047,
];
const EXP_F64: &[f64] = &[
    0.5,
    0.16666666666666682,
    0.041666666666666095,
    0.008333333333316982,
    0.0013888888889116355,
    0.00019841269896515734,
    2.4801586925730238e-05,
    2.755723472726765e-06,
    2.755758227090573e-07,
    2.5112084682902695e-08,
    2.082658619421168e-09,
];

/// `exp(x)`.
///
/// `x = n ln 2 + r` with `n = round(x / ln 2)` (to nearest, ties to even) and `|r| <= ln(2) / 2`; `exp(x) = 2^n exp(r)`.
/// `r = x - n ln 2` from a two-word `ln 2` (Cody–Waite): with a fused multiply-add the first
/// step `x - n ln2_hi` is exact, the second rounds. `exp(r) = 1 + r + r^2 q(r)` by Horner's
/// rule, the fewest operations for a faithful result, in both types: exp is the hot function of
/// Gaussian kernels. In f64 the error bound adds up the final rounding (1/2 ulp), that of `r`
/// (at most 0.2 ulp of the result), those of the last two partial sums (0.17 and 0.03) and the
/// fit's (0.01): at most 0.91 ulp, a faithful result. Measured: 0.89 ulp in f32 (exhaustively),
/// 0.84 in f64 (random points). Recovering `r`'s rounding and summing `1 + r` exactly (0.64 ulp
/// in f64) took 8 more operations, and made the f64 Gaussian kernel 13 % slower (AVX2).
///
/// `ldexp` scales the result, and rounds it once more into the subnormal range (gradual
/// underflow is kept). `x` is first clamped to a range wide enough that the result saturates to
/// 0 or infinity at its ends (which also handles ±inf); NaN passes through the clamp.
pub(super) fn exp(p: &mut Program, x: Val) -> Val {
    let (lo, hi) = clamp_range(p.dtype());
    let (lo, hi) = (p.c(lo), p.c(hi));
    let x = p.min(hi, x);
    let x = p.max(lo, x);
    exp_unclamped(p, x)
}

/// The range [`exp`] clamps its argument to.
fn clamp_range(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F32 => (-110.0, 89.0),
        DType::F64 => (-750.0, 710.0),
    }
}

/// Arguments of magnitude below this bound are left unchanged by `exp`'s clamp, and its
/// final `LdexpInt` scales by `2^n` with `|n| <= 124` (f32) or `1010` (f64) into a normal
/// number. A backend that finds a whole block of arguments below it may skip the clamp and
/// scale as `Math::ldexp_normal` does (see [`clamped_exp`]). The f64 bound has a short
/// significand, so that a test of the high half of the bits is exact.
pub fn exp_normal_bound(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => 86.0,
        DType::F64 => 700.0,
    }
}

/// The parts of an `exp` expansion that a backend skips for arguments within
/// [`exp_normal_bound`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClampedExp {
    /// The argument, before the clamp.
    pub arg: Val,
    /// The clamp's instructions: the minimum with the upper bound, then the maximum with the
    /// lower one.
    pub clamp: [Val; 2],
}

/// The `exp` expansion that `ldexp` ends, if it is the final `LdexpInt` of one.
pub fn clamped_exp(p: &Program, ldexp: Val) -> Option<ClampedExp> {
    let Inst::Prim(Prim::LdexpInt, [_, n, _]) = p.inst(ldexp) else { return None };
    let Inst::Prim(Prim::Sub, [shifted, _, _]) = p.inst(n) else { return None };
    let Inst::Prim(Prim::MulAdd, [a, b, _]) = p.inst(shifted) else { return None };
    // The product's operands may have been put in either order.
    let (low, lo, high) = [a, b].into_iter().find_map(|x| match p.inst(x) {
        Inst::Prim(Prim::Max, [lo, high, _]) => Some((x, lo, high)),
        _ => None,
    })?;
    let Inst::Prim(Prim::Min, [hi, arg, _]) = p.inst(high) else { return None };
    let bounds = (p.as_const(lo)?, p.as_const(hi)?);
    (bounds == clamp_range(p.dtype())).then_some(ClampedExp { arg, clamp: [high, low] })
}

/// Whether the `exp` expansion that `ldexp` ends computes `Prim::Exp`'s expansion of `arg`
/// instruction for instruction (the operands of additions and products may be swapped, which
/// changes no value), so that a backend may call its own copy of `exp` for it and get the same
/// values.
pub fn is_exp_of(p: &Program, ldexp: Val, arg: Val) -> bool {
    let mut reference = Program::new(p.dtype());
    let x = reference.load(0, 0);
    let y = exp(&mut reference, x);
    same_value(p, ldexp, &reference, y, (x, arg), &mut HashMap::new())
}

/// Whether `v` of `p` is computed as `w` of `reference` is, where the reference's `input.0`
/// stands for `input.1` of `p`.
pub(super) fn same_value(
    p: &Program,
    v: Val,
    reference: &Program,
    w: Val,
    input: (Val, Val),
    memo: &mut HashMap<(Val, Val), bool>,
) -> bool {
    if w == input.0 {
        return v == input.1;
    }
    if let Some(&same) = memo.get(&(v, w)) {
        return same;
    }
    let same = match (p.inst(v), reference.inst(w)) {
        (Inst::Const(a), Inst::Const(b)) => a == b,
        (Inst::Prim(f, a), Inst::Prim(g, b)) if f == g => {
            let mut operands_match = |first_two: [usize; 2]| {
                (0..f.arity()).all(|k| {
                    let kv = if k < 2 { first_two[k] } else { k };
                    same_value(p, a[kv], reference, b[k], input, memo)
                })
            };
            operands_match([0, 1])
                || (matches!(f, Prim::Add | Prim::Mul | Prim::MulAdd) && operands_match([1, 0]))
        }
        _ => false,
    };
    memo.insert((v, w), same);
    same
}

/// [`exp`] for `x` below [`exp_normal_bound`] (or -inf), however far below: the upper half of
/// its clamp then does nothing and is left out. The final `LdexpInt` then has a positive first
/// operand and `n <= 124` (f32) or `1010` (f64), the operands of `Math::ldexp_below`.
pub(crate) fn exp_below(p: &mut Program, x: Val) -> Val {
    let lo = p.c(clamp_range(p.dtype()).0);
    let x = p.max(lo, x);
    exp_unclamped(p, x)
}

/// `1.5 * 2^(p - 1)`, whose neighbours in `dtype` are 1 apart: `fma(x, log2e, shifter) - shifter`
/// is `x log2 e` rounded to an integer, which the low bits of `fma(x, log2e, shifter)` hold. A
/// target that computes `exp` its own way shares it with [`exp_unclamped`].
pub(crate) fn shifter(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => 1.5 * 2f64.powi(23),
        DType::F64 => 1.5 * 2f64.powi(52),
    }
}

/// [`exp`] without its clamp: the same values for `x` within the clamp's range.
///
/// The log-sum-exp reductions call it on `x` in `[-80, 0]`, where the clamp does nothing and
/// the final `LdexpInt` gives a normal number, which a backend may compute more cheaply.
pub(crate) fn exp_unclamped(p: &mut Program, x: Val) -> Val {
    // `n` is `x log2(e)` rounded to an integer by adding and subtracting 1.5 * 2^(p-1), whose
    // neighbours are 1 apart: one fused multiply-add and one subtraction, cheaper than a
    // multiplication and a rounding instruction, and rounding the exact product.
    let log2e = p.c(consts::LOG2_E);
    let shifter = p.c(shifter(p.dtype()));
    let shifted = p.mul_add(x, log2e, shifter);
    let n = p.sub(shifted, shifter);
    let neg_ln2 = consts::LN2.iter().map(|w| -w).collect::<Vec<_>>();
    let c = p.split(&neg_ln2, 2);
    let r1 = p.mul_add(n, c[0], x);
    let r = p.mul_add(n, c[1], r1);
    let coeffs: Vec<f64> = [1.0, 1.0].iter().chain(p.pick(EXP_F32, EXP_F64)).copied().collect();
    let y = p.horner(r, &coeffs);
    // `y` is within [1/2, 2] and `n` an integer within [-1083, 1025], as `LdexpInt` requires.
    p.prim(Prim::LdexpInt, &[y, n])
}

/// `R(z) = (2 atanh(s) - 2 s) / s` for `z = s^2 <= (3 - 2 sqrt 2)^2`: minimax for the absolute
/// error (Remez exchange, 60 digits, then rounded), 2^-29 in f32 and 2^-58 in f64, which the
/// factor `s` makes a relative error of `log(1 + f)` at most 2^-30 and 2^-59.
const LOG_F32: &[f64] = &[0.6666677594184875, 0.3997751772403717, 0.2987239956855774];
const LOG_F64: &[f64] = &[
    0.6666666666666735,
    0.3999999999941289,
    0.2857142874282474,
    0.222221985246194,
    0.18183567031713216,
    0.1531397691572337,
    0.14796728720405936,
];

/// `log(x)`.
///
/// `x = 2^e m` with `m = get_mant(x)` moved to `[sqrt(1/2), sqrt(2))`, so `f = m - 1` is exact
/// and `log(x) = e ln 2 + log(1 + f)`. With `s = f / (2 + f)`, `log(1 + f) = 2 atanh(s)
/// = f - f^2/2 + s (f^2/2 + R(s^2))` (the fdlibm decomposition): `f` is exact and the rest is a
/// small correction, so the rounding of `s` hardly matters. `e ln2_hi` is exact (a short
/// `ln2_hi`) and added to `f` by Fast2Sum; everything else is summed into one low word, whose
/// roundings are small against the final one.
///
/// Special values are selected at the end: `log(+inf) = +inf`, `log(x < 0) = NaN`,
/// `log(±0) = -inf`; NaN propagates.
pub(super) fn log(p: &mut Program, x: Val) -> Val {
    let e = p.unary(Prim::GetExp, x);
    let m = p.unary(Prim::GetMant, x);
    let sqrt2 = p.c(consts::SQRT_2);
    let big = p.sub(m, sqrt2);
    let half = p.c(0.5);
    let m_half = p.mul(m, half);
    let m = p.select(big, m_half, m);
    let one = p.c(1.0);
    let e1 = p.add(e, one);
    let e = p.select(big, e1, e);
    let f = p.sub(m, one);
    let two = p.c(2.0);
    let den = p.add(two, f);
    let s = p.div(f, den);
    let z = p.mul(s, s);
    let poly = p.horner(z, p.pick(LOG_F32, LOG_F64));
    let r = p.mul(z, poly);
    // e ln2_hi is exact (e has at most 8 (f32) or 11 (f64) significant bits); f is added to it
    // by Fast2Sum, and the small terms are summed from the smallest up, into the correction.
    let hi_bits = match p.dtype() {
        DType::F32 => 16,
        DType::F64 => 42,
    };
    let (ln2_hi, ln2_lo) = p.split_short(consts::LN2, hi_bits);
    let eh = p.mul(e, ln2_hi);
    let (sum, err) = p.fast_two_sum(eh, f);
    let tail = p.mul_add(e, ln2_lo, err);
    let ff = p.mul(f, f);
    let hfsq = p.mul(ff, half);
    let hr = p.add(hfsq, r);
    let w = p.mul_add(s, hr, tail);
    // - f^2/2 + s (f^2/2 + R) + tail, with f^2/2 exact in the fused multiply-add.
    let neg_half = p.c(-0.5);
    let neg_half_f = p.mul(f, neg_half);
    let low = p.mul_add(neg_half_f, f, w);
    let y = p.add(sum, low);
    special_log(p, x, y)
}

/// The special values of `log`, selected over the general result `y`.
fn special_log(p: &mut Program, x: Val, y: Val) -> Val {
    let max = p.largest();
    let not_inf = p.sub(max, x);
    let y = p.select(not_inf, y, x);
    let nan = p.c(f64::NAN);
    let y = p.select(x, y, nan);
    let zero = p.neg_abs(x);
    let neg_inf = p.c(f64::NEG_INFINITY);
    p.select(zero, neg_inf, y)
}
