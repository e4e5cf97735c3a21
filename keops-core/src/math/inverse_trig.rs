//! `atan`, `atan2`, `asin` and `acos`.
//!
//! All four end the same way: a constant `K` (0, `pi/2`, `pi`, or an arctangent) plus a small
//! multiple `m` of a two-word value `h + l`, with `K + m h` summed exactly (Fast2Sum: `K`
//! dominates or is 0) so that the only large rounding is the final one ([`combine`]).

use super::{Emit, consts};
use crate::lower::{Program, Val};
use crate::prim::Prim;

/// `(atan(u) - u) / u^3` as a polynomial in `z = u^2`, `|u| <= 7/16`: minimax for the relative
/// error of `atan` (Remez exchange in 60-digit arithmetic, coefficients rounded one at a time,
/// refitting the others), 2^-29.5 in f32 and 2^-57.6 in f64.
const ATAN_F32: &[f64] = &[
    -0.3333330452442169,
    0.1999778002500534,
    -0.1423013061285019,
    0.10493750125169754,
    -0.05824674293398857,
];
const ATAN_F64: &[f64] = &[
    -0.3333333333333292,
    0.1999999999987358,
    -0.14285714272242533,
    0.11111110393889309,
    -0.09090886839079851,
    0.07691871580432268,
    -0.0666102673665104,
    0.05833272170348623,
    -0.0497569302454021,
    0.036504994616320376,
    -0.016260118011958438,
];

/// `(asin(s) - s) / s^3` in `z = s^2`, `0 <= s <= 1/2`, likewise: 2^-30.4 in f32, 2^-55.9 in
/// f64.
const ASIN_F32: &[f64] = &[
    0.16666659712791443,
    0.07500521838665009,
    0.04451371729373932,
    0.03183310106396675,
    0.014337552711367607,
    0.03768320754170418,
];
const ASIN_F64: &[f64] = &[
    0.16666666666665403,
    0.07500000000338594,
    0.04464285682693679,
    0.030381959197241633,
    0.022371756546410895,
    0.017359728221418878,
    0.013884996873585133,
    0.012170819534361053,
    0.006520855174264371,
    0.01954817774848335,
    -0.01625613544356521,
    0.03193453957326894,
];

/// `atan(x)`: the arctangent of `|x|` ([`atan_abs`]) with the sign of `x` (`atan(-0) = -0`).
pub(super) fn atan(p: &mut Program, x: Val) -> Val {
    let t = p.abs(x);
    let (h, l) = atan_abs(p, t, None, true);
    let r = p.add(h, l);
    with_sign_of(p, x, r)
}

/// `atan2(y, x)`, the angle of the point `(x, y)`, with C99's special values: signed zeros give
/// `±0` or `±pi` (`-0` counts as negative), infinities give multiples of `pi/4`, NaN propagates.
///
/// With `a = |y|`, `b = |x|`, the ratio `min / max <= 1` (never overflowing, its rounding
/// error recovered exactly by a fused multiply-add) goes through the arctangent, and the
/// quadrant gives `K + m atan(min / max)`: `K` is 0, `pi/2` or `pi` and `m = ±1` depending on
/// whether `a > b` and on the sign of `x`. Both zero, or both infinite, the ratio is taken as 0
/// or 1. The sign of `x` or `y`, `-0` included, is the sign of `v + 1 / v`, never zero.
pub(super) fn atan2(p: &mut Program, y: Val, x: Val) -> Val {
    let a = p.abs(y);
    let b = p.abs(x);
    // Argument orders that let a NaN in either through: min(a, b) returns b, max(b, a) a.
    let lo = p.min(a, b);
    let hi = p.max(b, a);
    // An infinite `hi`: the ratio is 1 if `lo` is infinite too, else 0 (`lo` mapped to 1 or 0,
    // NaN kept, by `min(1, max(0, lo - max))`).
    let inf = p.c(f64::INFINITY);
    let hi_inf = p.prim(Prim::Eq, &[hi, inf]);
    let finite = p.neg(hi_inf);
    let largest = p.largest();
    let over = p.sub(lo, largest);
    let zero = p.c(0.0);
    let over = p.max(zero, over);
    let one = p.c(1.0);
    let lo_inf = p.min(one, over);
    let lo = p.select(finite, lo, lo_inf);
    let hi = p.select(finite, hi, one);
    // Both zero: the ratio is 0.
    let both_zero = p.neg(hi);
    let hi = p.select(both_zero, one, hi);
    // Scaled so that `hi` is in [2^p, 2^(p+1)) (p the precision): the division's residual then
    // stays a normal number whenever the ratio is, and is exact. An `lo` that underflows in the
    // scaling leaves a ratio below the smallest subnormal, which rounds the same.
    let e = p.unary(Prim::GetExp, hi);
    let bits = p.c(f64::from(super::precision(p.dtype())));
    let shift = p.sub(bits, e);
    let lo = p.prim(Prim::Ldexp, &[lo, shift]);
    let hi = p.prim(Prim::Ldexp, &[hi, shift]);
    let q = p.div(lo, hi);
    let neg_q = p.neg(q);
    let rem = p.mul_add(neg_q, hi, lo);
    let q_lo = p.div(rem, hi);
    let (h, l) = atan_abs(p, q, Some(q_lo), false);
    // The quadrant.
    let no_swap = p.sub(b, a);
    let x_sign = sign_of(p, x);
    let pi = p.split(consts::PI, 2);
    let pi_2 = p.split(consts::FRAC_PI_2, 2);
    let k_hi = p.select(x_sign, zero, pi[0]);
    let k_hi = p.select(no_swap, k_hi, pi_2[0]);
    let k_lo = p.select(x_sign, zero, pi[1]);
    let k_lo = p.select(no_swap, k_lo, pi_2[1]);
    let neg_one = p.c(-1.0);
    let m = p.select(no_swap, one, neg_one);
    let neg_m = p.neg(m);
    let m = p.select(x_sign, m, neg_m);
    let r = combine(p, k_hi, k_lo, m, h, l);
    let y_sign = sign_of(p, y);
    let neg_r = p.neg(r);
    p.select(y_sign, r, neg_r)
}

/// `asin(x)`, from [`asin_half`]: `asin(|x|)` for `|x| < 1/2`, else
/// `pi/2 - 2 asin(sqrt((1 - |x|) / 2))`; then the sign of `x`.
pub(super) fn asin(p: &mut Program, x: Val) -> Val {
    let t = p.abs(x);
    let (big, s, l) = asin_half(p, t);
    let pi_2 = p.split(consts::FRAC_PI_2, 2);
    let zero = p.c(0.0);
    let k_hi = p.select(big, pi_2[0], zero);
    let k_lo = p.select(big, pi_2[1], zero);
    let one = p.c(1.0);
    let neg_two = p.c(-2.0);
    let m = p.select(big, neg_two, one);
    let r = combine(p, k_hi, k_lo, m, s, l);
    with_sign_of(p, x, r)
}

/// `acos(x)`, from [`asin_half`]: `pi/2 - asin(x)` for `|x| < 1/2`, else
/// `2 asin(sqrt((1 - x) / 2))` for `x > 0` and `pi - 2 asin(sqrt((1 + x) / 2))` for `x < 0`.
pub(super) fn acos(p: &mut Program, x: Val) -> Val {
    let t = p.abs(x);
    let (big, s, l) = asin_half(p, t);
    let pi_2 = p.split(consts::FRAC_PI_2, 2);
    let pi = p.split(consts::PI, 2);
    let zero = p.c(0.0);
    let k_hi = p.select(x, zero, pi[0]);
    let k_hi = p.select(big, k_hi, pi_2[0]);
    let k_lo = p.select(x, zero, pi[1]);
    let k_lo = p.select(big, k_lo, pi_2[1]);
    let one = p.c(1.0);
    let neg_one = p.c(-1.0);
    let two = p.c(2.0);
    let neg_two = p.c(-2.0);
    let m_big = p.select(x, two, neg_two);
    let m_small = p.select(x, neg_one, one);
    let m = p.select(big, m_big, m_small);
    combine(p, k_hi, k_lo, m, s, l)
}

/// `atan(t + t_lo)` for `t >= 0` (or NaN) as two words `h + l`, `h` the larger.
///
/// fdlibm's reduction: by the interval of `t` (breakpoints 7/16, 11/16, 19/16, 39/16),
/// `atan(t) = atan(c) + atan(u)` with `c` one of 0, 1/2, 1, 3/2, inf and
/// `u = (t - c) / (1 + c t)` (`-1 / t` for infinite `c`), so that `|u| <= 7/16` and `u` is small
/// wherever `atan(c)` is not 0: its rounding errors are scaled down against the result. With
/// `unbounded` false, `t <= 1` is assumed and the last two intervals are left out. A `t_lo`
/// adds its first-order term `t_lo / (1 + t^2)`.
fn atan_abs(p: &mut Program, t: Val, t_lo: Option<Val>, unbounded: bool) -> (Val, Val) {
    let one = p.c(1.0);
    let two = p.c(2.0);
    let zero = p.c(0.0);
    // (breakpoint, numerator, denominator, atan(c)) of each interval after the first.
    let neg_one = p.c(-1.0);
    let num1 = p.mul_add(t, two, neg_one);
    let den1 = p.add(t, two);
    let num2 = p.sub(t, one);
    let den2 = p.add(t, one);
    let mut intervals =
        vec![(7.0 / 16.0, num1, den1, consts::ATAN_1_2), (11.0 / 16.0, num2, den2, consts::FRAC_PI_4)];
    if unbounded {
        let three_halves = p.c(1.5);
        let num3 = p.sub(t, three_halves);
        let den3 = p.mul_add(t, three_halves, one);
        intervals.push((19.0 / 16.0, num3, den3, consts::ATAN_3_2));
        intervals.push((39.0 / 16.0, neg_one, t, consts::FRAC_PI_2));
    }
    let (mut num, mut den, mut off_hi, mut off_lo) = (t, one, zero, zero);
    for (start, n, d, off) in intervals {
        let start = p.c(start);
        let inside = p.sub(t, start);
        let off = p.split(off, 2);
        num = p.select(inside, n, num);
        den = p.select(inside, d, den);
        off_hi = p.select(inside, off[0], off_hi);
        off_lo = p.select(inside, off[1], off_lo);
    }
    let u = p.div(num, den);
    let z = p.mul(u, u);
    let poly = p.horner(z, p.pick(ATAN_F32, ATAN_F64));
    let pz = p.mul(z, poly);
    let (h, e) = p.fast_two_sum(off_hi, u);
    let mut low = p.add(off_lo, e);
    if let Some(t_lo) = t_lo {
        let den = p.mul_add(t, t, one);
        let d = p.div(t_lo, den);
        low = p.add(low, d);
    }
    let l = p.mul_add(u, pz, low);
    (h, l)
}

/// For `t = |x|`: whether `t >= 1/2` (as a value `>= 0`), and `asin(s)` as `s + l` for
/// `s = t` if not, else `s = sqrt((1 - t) / 2)`, so that `s <= 1/2` either way.
///
/// `(1 - t) / 2` is exact and the square root's rounding error is recovered exactly
/// (`(z - s^2) / 2s`, the residual by a fused multiply-add), so that `2 asin(s)` keeps full
/// accuracy before it is subtracted from `pi/2` or `pi`. Then `asin(s) = s + s z P(z)`. For
/// `t > 1`, and infinities, the square root gives NaN.
fn asin_half(p: &mut Program, t: Val) -> (Val, Val, Val) {
    let half = p.c(0.5);
    let big = p.sub(t, half);
    let neg_half = p.c(-0.5);
    let z_big = p.mul_add(t, neg_half, half);
    let z_small = p.mul(t, t);
    let z = p.select(big, z_big, z_small);
    let root = p.sqrt(z);
    let s = p.select(big, root, t);
    let neg_s = p.neg(s);
    let d = p.mul_add(neg_s, s, z);
    // 2s, or the smallest normal number when s = 0 (then d = 0 too).
    let two_s = p.add(s, s);
    let tiny = p.c(f64::from(f32::MIN_POSITIVE));
    let den = p.max(two_s, tiny);
    let s_lo = p.div(d, den);
    let zero = p.c(0.0);
    let s_lo = p.select(big, s_lo, zero);
    let poly = p.horner(z, p.pick(ASIN_F32, ASIN_F64));
    let pz = p.mul(z, poly);
    let l = p.mul_add(s, pz, s_lo);
    (big, s, l)
}

/// `K + m (h + l)` for a two-word constant `K = k_hi + k_lo` that is 0 or dominates `m h`, and
/// a multiplier `m` that is a small power of two (so `m h` is exact).
fn combine(p: &mut Program, k_hi: Val, k_lo: Val, m: Val, h: Val, l: Val) -> Val {
    let mh = p.mul(m, h);
    let (s, e) = p.fast_two_sum(k_hi, mh);
    let low = p.mul_add(m, l, k_lo);
    let low = p.add(e, low);
    p.add(s, low)
}

/// `v + 1 / v`: of the sign of `v`, counting `-0` as negative, and never 0 (`>= 0` as `select`
/// tests it exactly for positive `v` and `+0`).
fn sign_of(p: &mut Program, v: Val) -> Val {
    let one = p.c(1.0);
    let inv = p.div(one, v);
    p.add(v, inv)
}

/// `r` with the sign of `x`, for an `r >= 0` that is 0 when `x` is ±0: `x` itself then, so that
/// `-0` is kept.
fn with_sign_of(p: &mut Program, x: Val, r: Val) -> Val {
    let neg_r = p.neg(r);
    let signed = p.select(x, r, neg_r);
    let zero = p.neg_abs(x);
    p.select(zero, x, signed)
}
