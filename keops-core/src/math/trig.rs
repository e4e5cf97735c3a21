//! `sin` and `cos`.

use super::{Emit, consts};
use crate::ir::DType;
use crate::lower::{Program, Val};
use crate::prim::Prim;

/// `(sin(r) - r) / r^3` as a polynomial in `z = r^2`, `|r| <= 1.01 pi/4`: minimax for the
/// relative error of `sin` (Remez exchange in 60-digit arithmetic, coefficients rounded one at
/// a time, refitting the others), 2^-27.8 in f32 and 2^-57.7 in f64.
const SIN_F32: &[f64] = &[-0.16666653752326965, 0.008332106284797192, -0.00019507882825564593];
const SIN_F64: &[f64] = &[
    -0.16666666666666627,
    0.008333333333321067,
    -0.0001984126982869617,
    2.755731329773506e-06,
    -2.5050695327351257e-08,
    1.5893103925954707e-10,
];

/// `(cos(r) - 1 + r^2 / 2) / r^4` in `z = r^2`, likewise: 2^-32 in f32, 2^-63 in f64.
const COS_F32: &[f64] = &[0.041666653007268906, -0.0013887593522667885, 2.445857899147086e-05];
const COS_F64: &[f64] = &[
    0.04166666666666665,
    -0.0013888888888880977,
    2.4801587292902307e-05,
    -2.7557315156756863e-07,
    2.0875813339020714e-09,
    -1.136351431547619e-11,
];

/// `sin(x)`.
pub(super) fn sin(p: &mut Program, x: Val) -> Val {
    let y = sin_quadrant(p, x, 0.0);
    // sin(-0) = -0, which the sums above lose.
    let zero = p.neg_abs(x);
    p.select(zero, x, y)
}

/// `cos(x)`, as `sin(x + pi/2)`: the same reduction, one quadrant further.
pub(super) fn cos(p: &mut Program, x: Val) -> Val {
    sin_quadrant(p, x, 1.0)
}

/// `sin(x + shift pi/2)` for an integer `shift`.
///
/// Range reduction: `q` is the integer nearest `x 2/pi`, with the product's rounding corrected
/// (for large `x` the rounded product can be off by more than one half), and `x - q pi/2` is
/// computed as an unevaluated sum `s + lo` from `pi/2` in four (f32) or three (f64) words
/// (Cody–Waite): `x - q P1` is exact by a fused multiply-add, `q P2` is split exactly into two
/// words and subtracted by TwoSum, and the remaining words go into `lo`. The quadrant `q mod 4`
/// is computed in floating point (`q - 4 floor(q / 4)`, exact while `q` is an integer of the
/// type) and picks `±sin` or `±cos` of the reduced argument, both evaluated on `[-pi/4, pi/4]`
/// by [`sin_poly`] and [`cos_poly`] and chosen by `select`.
///
/// The reduction is exact up to the constant's length while `|x| < 2^24` in f32 (`q` stays an
/// integer) and `2^52` in f64. Beyond that the reduced argument is clamped to the
/// polynomials' interval and the result to `[-1, 1]`: results stay finite and bounded but are
/// meaningless. ±inf and NaN give NaN.
fn sin_quadrant(p: &mut Program, x: Val, shift: f64) -> Val {
    let words = match p.dtype() {
        DType::F32 => 4,
        DType::F64 => 3,
    };
    // q = round(x 2/pi): the rounded product, then the rounding of its remainder.
    let two_pi = p.split(consts::FRAC_2_PI, 2);
    let t = p.mul(x, two_pi[0]);
    let q0 = p.unary(Prim::RoundEven, t);
    let neg_q0 = p.neg(q0);
    let d = p.mul_add(x, two_pi[0], neg_q0);
    let d = p.mul_add(x, two_pi[1], d);
    let dq = p.unary(Prim::RoundEven, d);
    let q = p.add(q0, dq);
    // x - q pi/2 = s + lo.
    let neg_pi_2: Vec<f64> = consts::FRAC_PI_2.iter().map(|w| -w).collect();
    let c = p.split(&neg_pi_2, words);
    let r1 = p.mul_add(q, c[0], x);
    let th = p.mul(q, c[1]);
    let neg_th = p.neg(th);
    let tl = p.mul_add(q, c[1], neg_th);
    let (s, e) = p.two_sum(r1, th);
    let mut lo = p.add(e, tl);
    for &w in &c[2..] {
        lo = p.mul_add(q, w, lo);
    }
    let bound = p.c(1.01 * std::f64::consts::FRAC_PI_4);
    let s = p.min(bound, s);
    let neg_bound = p.neg(bound);
    let s = p.max(neg_bound, s);
    // The quadrant k = (q + shift) mod 4: odd k takes the cosine, k >= 2 the opposite.
    let shift = p.c(shift);
    let qs = p.add(q, shift);
    let quarter = p.c(0.25);
    let qq = p.mul(qs, quarter);
    let fq = p.unary(Prim::Floor, qq);
    let four = p.c(-4.0);
    let k = p.mul_add(fq, four, qs);
    let half = p.c(0.5);
    let hk = p.mul(k, half);
    let fk = p.unary(Prim::Floor, hk);
    let odd = p.sub(fk, hk);
    let z = p.mul(s, s);
    let neg_z = p.neg(z);
    let z_lo = p.mul_add(s, s, neg_z);
    let sin_r = sin_poly(p, s, lo, z, z_lo);
    let cos_r = cos_poly(p, s, lo, z, z_lo);
    let v = p.select(odd, sin_r, cos_r);
    let neg_v = p.neg(v);
    let three_halves = p.c(1.5);
    let low_half = p.sub(three_halves, k);
    let y = p.select(low_half, v, neg_v);
    // A no-op where the reduction is exact; beyond, it keeps the result in [-1, 1].
    let one = p.c(1.0);
    let y = p.min(one, y);
    let neg_one = p.c(-1.0);
    p.max(neg_one, y)
}

/// `sin(s + lo)` for `|s| <= pi/4` and a tiny `lo`, given `z + z_lo = s^2` exactly:
/// `s + (s z S(z) + lo cos(s))`, where `z S(z)` uses the exact square so that the correction
/// to `s` is accurate to a few units of its last place, and `cos(s) ~ 1 - z/2` suffices for `lo`.
fn sin_poly(p: &mut Program, s: Val, lo: Val, z: Val, z_lo: Val) -> Val {
    let poly = p.horner(z, p.pick(SIN_F32, SIN_F64));
    let lo_poly = p.mul(z_lo, poly);
    let u = p.mul_add(z, poly, lo_poly);
    let neg_half = p.c(-0.5);
    let hlo = p.mul(lo, neg_half);
    let lo_cos = p.mul_add(hlo, z, lo);
    let t = p.mul_add(s, u, lo_cos);
    p.add(s, t)
}

/// `cos(s + lo)` likewise: `1 - z/2` summed exactly (Fast2Sum), then the small terms
/// `-z_lo/2 + z^2 C(z) - lo sin(s)` with `sin(s) ~ s`.
fn cos_poly(p: &mut Program, s: Val, lo: Val, z: Val, z_lo: Val) -> Val {
    let poly = p.horner(z, p.pick(COS_F32, COS_F64));
    let one = p.c(1.0);
    let neg_half = p.c(-0.5);
    let neg_hz = p.mul(z, neg_half);
    let (w, e) = p.fast_two_sum(one, neg_hz);
    let t = p.mul_add(z_lo, neg_half, e);
    let neg_lo = p.neg(lo);
    let t = p.mul_add(neg_lo, s, t);
    let zz = p.mul(z, z);
    let t = p.mul_add(zz, poly, t);
    p.add(w, t)
}
