//! Exponent and mantissa manipulation in f64, exact for f32 and f64 arguments: KeOps'
//! `Ldexp`, and the exponent and mantissa that the `exp` and `log` expansions take apart.

/// `x * 2^floor(n)` with one rounding, as `scalbn`, saturating `n` far outside the range. For an
/// f32 result, the f64 product is exact (the range of f64 covers every f32 scaled by up to
/// 2^±400) and the conversion to f32 is the only rounding.
#[inline(always)]
pub fn ldexp(x: f64, n: f64) -> f64 {
    if n.is_nan() {
        return f64::NAN;
    }
    let mut n = n.floor().clamp(-4000.0, 4000.0) as i32;
    let mut y = x;
    let p2 = |e: i32| f64::from_bits(((e + 1023) as u64) << 52);
    while n > 1023 {
        y *= p2(1023);
        n -= 1023;
    }
    // Below the normal range, scale by 2^-1022 * 2^53 first so that the last step rounds once.
    while n < -1022 {
        y *= p2(-1022) * p2(53);
        n += 1022 - 53;
        if n >= -1022 {
            break;
        }
    }
    y * p2(n.max(-1022))
}

/// `floor(log2 |x|)`; -inf for 0, +inf for infinities, NaN for NaN.
#[inline(always)]
pub fn get_exp(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    // Subnormals: scaled into the normal range first (2^64 exactly).
    let (x, bias) = if x.abs() < f64::MIN_POSITIVE { (x * 2f64.powi(64), 64) } else { (x, 0) };
    (((x.to_bits() >> 52) & 0x7ff) as i64 - 1023 - bias) as f64
}

/// `|x| / 2^get_exp(x)` in `[1, 2)`; 1 for 0 and infinities, NaN for NaN.
#[inline(always)]
pub fn get_mant(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 || x.is_infinite() {
        return 1.0;
    }
    ldexp(x.abs(), -get_exp(x))
}
