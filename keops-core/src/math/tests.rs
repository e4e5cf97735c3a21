//! Accuracy of the expansions, computed by the interpreter exactly as a backend computes.
//!
//! f32 results are compared with the f64 function of the same input (glibc's, accurate to far
//! below an f32 ulp), as a real distance in f32 ulps of the exact value; f64 results are
//! compared with glibc's f64 functions, as a number of f64 values between the two (glibc is
//! correctly rounded in nearly all cases). The f32 sweeps stride through the bit patterns of the
//! domain, so every binade is covered evenly; the f64 ones draw random bit patterns and random
//! values, plus the points where range reductions are hardest. The bounds asserted are the ones
//! the module documentation states.

use keops_testkit::Rng;

use super::*;
use crate::interp::{self, Float};
use crate::lower::Inst;

/// A program computing `prim` of the inputs `0..arity`.
fn program(prim: Prim, dtype: DType) -> (Program, Val) {
    let mut p = Program::new(dtype);
    let args: Vec<Val> = (0..prim.arity()).map(|k| p.load(k, 0)).collect();
    let v = p.prim(prim, &args);
    (p, v)
}

/// `prim` on columns of operands, through the interpreter.
fn run<T: Float>(prim: Prim, args: &[&[T]]) -> Vec<T> {
    let (p, v) = program(prim, T::DTYPE);
    let inputs: Vec<Vec<&[T]>> = args.iter().map(|&a| vec![a]).collect();
    interp::run(&p, &[v], &inputs).remove(0)
}

/// The spacing of f32 numbers at the finite real `x`: `2^(floor(log2 |x|) - 23)`, `2^-149` at
/// least (read from the f64 exponent bits: the sweeps call it millions of times).
fn ulp_f32(x: f64) -> f64 {
    let e = ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    f64::from_bits(((e.clamp(-126, 127) - 23 + 1023) as u64) << 52)
}

/// The error of the f32 `got` as an approximation of the real `want`, in f32 ulps of `want`: a
/// correctly rounded result has at most 0.5, a faithful one less than 1. Exact matches (NaN for
/// NaN, an infinity for a value that rounds to it) count 0.
fn ulp_error_f32(got: f32, want: f64) -> f64 {
    if (got.is_nan() && want.is_nan()) || f64::from(got) == want || (got.is_infinite() && got == want as f32)
    {
        return 0.0;
    }
    if got.is_nan() || want.is_nan() {
        return f64::INFINITY;
    }
    (f64::from(got) - want).abs() / ulp_f32(want)
}

/// How many f64 values lie from `a` to `b` (0 for equal values, or two NaNs).
fn ulp_distance_f64(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() { 0 } else { u64::MAX };
    }
    // The bit patterns, made monotonic over the reals (-0 and +0 both map to 0).
    let key = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 { i64::MIN - bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

/// About `count` f32 values spread evenly over the bit patterns from `lo` to `hi` (both
/// non-negative), ends included; an odd stride varies the low bits.
fn patterns(lo: f32, hi: f32, count: u32) -> Vec<f32> {
    let (a, b) = (lo.to_bits(), hi.to_bits());
    let stride = ((b - a) / count.max(1)) | 1;
    let mut out: Vec<f32> = (a..=b).step_by(stride as usize).map(f32::from_bits).collect();
    out.push(hi);
    out
}

/// `xs` and their negatives.
fn both_signs(xs: Vec<f32>) -> Vec<f32> {
    let neg: Vec<f32> = xs.iter().map(|x| -x).collect();
    [xs, neg].concat()
}

/// The largest error over `xs` and where it is, and how many results are off by more than half
/// an ulp (for f64: differ from glibc).
struct Worst {
    ulp: f64,
    at: Vec<f64>,
    got: f64,
    want: f64,
    points: usize,
    misses: usize,
}

impl Worst {
    fn new(points: usize) -> Worst {
        Worst { ulp: 0.0, at: vec![], got: 0.0, want: 0.0, points, misses: 0 }
    }

    fn update(&mut self, ulp: f64, at: &[f64], got: f64, want: f64) {
        if ulp > 0.5 {
            self.misses += 1;
        }
        if ulp > self.ulp || ulp.is_nan() {
            (self.ulp, self.at, self.got, self.want) = (ulp, at.to_vec(), got, want);
        }
    }

    /// Prints the measurement (shown with `--nocapture`) and checks it against `bound`.
    fn check(&self, what: &str, bound: f64) {
        let Worst { ulp, at, got, want, points, misses } = self;
        println!(
            "{what}: max {ulp:.3} ulp over {points} points ({misses} above 0.5), at {at:?}: {got:e} for {want:e}"
        );
        assert!(*ulp <= bound, "{what}: {ulp} ulp exceeds {bound}, at {at:?}: {got:e} for {want:e}");
    }
}

/// Worst f32 error of the unary `prim` over `xs`.
fn worst_f32(prim: Prim, xs: &[f32], reference: impl Fn(f64) -> f64) -> Worst {
    let got = run::<f32>(prim, &[xs]);
    let mut worst = Worst::new(xs.len());
    for (&x, &y) in xs.iter().zip(&got) {
        let want = reference(f64::from(x));
        worst.update(ulp_error_f32(y, want), &[f64::from(x)], f64::from(y), want);
    }
    worst
}

/// Worst f64 distance to `reference` (glibc) of the unary `prim` over `xs`.
fn worst_f64(prim: Prim, xs: &[f64], reference: impl Fn(f64) -> f64) -> Worst {
    let got = run::<f64>(prim, &[xs]);
    let mut worst = Worst::new(xs.len());
    for (&x, &y) in xs.iter().zip(&got) {
        let want = reference(x);
        worst.update(ulp_distance_f64(y, want) as f64, &[x], y, want);
    }
    worst
}

/// Checks exact results, in both types: `(inputs, expected)`, NaN matching any NaN and the sign
/// of zeros compared.
fn exact(prim: Prim, cases: &[(&[f64], f64)]) {
    for &(args, want) in cases {
        let cols32: Vec<Vec<f32>> = args.iter().map(|&a| vec![a as f32]).collect();
        let cols64: Vec<Vec<f64>> = args.iter().map(|&a| vec![a]).collect();
        let got32 = f64::from(run::<f32>(prim, &cols32.iter().map(Vec::as_slice).collect::<Vec<_>>())[0]);
        let got64 = run::<f64>(prim, &cols64.iter().map(Vec::as_slice).collect::<Vec<_>>())[0];
        for (got, want, ty) in [(got32, f64::from(want as f32), "f32"), (got64, want, "f64")] {
            let same = (got.is_nan() && want.is_nan())
                || (got == want && got.is_sign_negative() == want.is_sign_negative());
            assert!(same, "{prim:?}{args:?} in {ty}: got {got}, want {want}");
        }
    }
}

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

#[test]
fn ulp_helpers() {
    assert_eq!(ulp_error_f32(1.0, 1.0), 0.0);
    assert_eq!(ulp_error_f32(1.0 + f32::EPSILON, 1.0), 1.0);
    assert_eq!(ulp_error_f32(1.0, 1.0 + f64::from(f32::EPSILON) / 4.0), 0.25);
    assert_eq!(ulp_error_f32(f32::INFINITY, 1e39), 0.0);
    assert_eq!(ulp_error_f32(f32::MAX, 1e39), (1e39 - f64::from(f32::MAX)) / 2f64.powi(104));
    assert_eq!(ulp_error_f32(f32::from_bits(1), 0.0), 1.0);
    assert_eq!(ulp_distance_f64(1.0, 1.0 + f64::EPSILON), 1);
    assert_eq!(ulp_distance_f64(-0.0, 0.0), 0);
    assert_eq!(ulp_distance_f64(-f64::from_bits(1), f64::from_bits(1)), 2);
    assert_eq!(ulp_distance_f64(f64::MAX, INF), 1);
}

#[test]
fn no_expanded_primitive_is_emitted() {
    for dtype in [DType::F32, DType::F64] {
        for &prim in Prim::ALL.iter().filter(|p| p.is_expanded()) {
            let (p, _) = program(prim, dtype);
            for inst in p.insts() {
                if let crate::lower::Inst::Prim(q, _) = inst {
                    assert!(!q.is_expanded(), "{prim:?} in {dtype:?} emits {q:?}");
                }
            }
        }
    }
}

#[test]
fn constants_still_fold() {
    for dtype in [DType::F32, DType::F64] {
        let mut p = Program::new(dtype);
        let two = p.c(2.0);
        let e = p.prim(Prim::Exp, &[two]);
        let want = match dtype {
            DType::F32 => f64::from(2f64.exp() as f32),
            DType::F64 => 2f64.exp(),
        };
        assert_eq!(p.as_const(e), Some(want));
        assert_eq!(p.insts().len(), 2);
    }
}

#[test]
fn split_constants() {
    // pi/2 in three f32 words: the first two exact multiples, the sum within 2^-70.
    let words = split(consts::FRAC_PI_2, &[24, 24, 24]);
    assert_eq!(words[0], f64::from(std::f32::consts::FRAC_PI_2));
    for &w in &words {
        assert_eq!(w, f64::from(w as f32));
    }
    let rest = (consts::FRAC_PI_2[0] - words[0] - words[1] - words[2]) + consts::FRAC_PI_2[1];
    assert!(rest.abs() < 2f64.powi(-70), "{rest:e}");
    // A short high word.
    let words = split(consts::LN2, &[16, 24]);
    assert_eq!(words[0], 0.693145751953125);
    assert_eq!(words[1], f64::from((consts::LN2[0] - words[0]) as f32));
}

#[test]
fn exp_special_values() {
    exact(
        Prim::Exp,
        &[
            (&[0.0], 1.0),
            (&[-0.0], 1.0),
            (&[INF], INF),
            (&[-INF], 0.0),
            (&[NAN], NAN),
            (&[1000.0], INF),
            (&[-1000.0], 0.0),
            (&[1.0], std::f64::consts::E),
        ],
    );
    // Overflow and underflow thresholds of each type.
    assert_eq!(
        run::<f32>(Prim::Exp, &[&[88.8, 88.7, -104.0, -103.0]]),
        [f32::INFINITY, 88.7f32.exp(), 0.0, 1e-45]
    );
    assert_eq!(run::<f64>(Prim::Exp, &[&[709.8, -745.2, -745.1]]), [INF, 0.0, 5e-324]);
}

#[test]
fn an_exp_expansion_is_recognised_from_its_last_instruction() {
    for dtype in [DType::F32, DType::F64] {
        let mut p = Program::new(dtype);
        let x = p.load(0, 0);
        let y = p.prim(Prim::Exp, &[x]);
        let found = clamped_exp(&p, y).expect("exp's expansion ends with its LdexpInt");
        assert_eq!(found.arg, x);
        let [high, low] = found.clamp;
        assert!(matches!(p.inst(high), Inst::Prim(Prim::Min, [_, a, _]) if a == x));
        assert!(matches!(p.inst(low), Inst::Prim(Prim::Max, [_, a, _]) if a == high));
        // An `LdexpInt` of anything else is not an exp.
        let n = p.load(1, 0);
        let other = p.prim(Prim::LdexpInt, &[x, n]);
        assert_eq!(clamped_exp(&p, other), None);
        // Nor is the `LdexpInt` of the log-sum-exp's clamp-free exp.
        let unclamped = exp_unclamped(&mut p, x);
        assert_eq!(clamped_exp(&p, unclamped), None);
    }
}

#[test]
fn exp_normal_bound_is_what_it_says() {
    for (dtype, max_n, smallest_normal, largest) in [
        (DType::F32, 124.0, f32::MIN_POSITIVE as f64, f32::MAX as f64),
        (DType::F64, 1010.0, f64::MIN_POSITIVE, f64::MAX),
    ] {
        let hi = exp_normal_bound(dtype);
        let lo = -hi;
        // Within the clamp.
        let mut p = Program::new(dtype);
        let x = p.load(0, 0);
        let y = p.prim(Prim::Exp, &[x]);
        let [high, low] = clamped_exp(&p, y).unwrap().clamp;
        let bound = |v: Val| match p.inst(v) {
            Inst::Prim(_, [c, _, _]) => p.as_const(c).unwrap(),
            _ => unreachable!(),
        };
        assert!(bound(low) < lo && hi < bound(high), "{dtype:?}");
        // Normal results, scaled by at most 2^max_n.
        assert!(lo.exp() > 2.0 * smallest_normal && hi.exp() < largest / 2.0, "{dtype:?}");
        assert!((lo * std::f64::consts::LOG2_E).round() >= -max_n, "{dtype:?}");
        assert!((hi * std::f64::consts::LOG2_E).round() <= max_n, "{dtype:?}");
        // A short significand: the low half of the f64 bits is zero.
        assert_eq!(hi.to_bits() as u32, 0, "{dtype:?}");
    }
}

/// What a backend may compute with its own copy of `exp`: keops-core's `exp` of that argument,
/// and not the shorter expansions of the runtime's reductions.
#[test]
fn is_exp_of_recognises_exp_only() {
    for dtype in [DType::F32, DType::F64] {
        let mut p = Program::new(dtype);
        let (x, y) = (p.load(0, 0), p.load(1, 0));
        let e = p.prim(Prim::Exp, &[x]);
        assert!(is_exp_of(&p, e, x), "{dtype:?}");
        assert!(!is_exp_of(&p, e, y), "{dtype:?}");
        let below = exp_below(&mut p, y);
        let unclamped = exp_unclamped(&mut p, y);
        assert!(!is_exp_of(&p, below, y), "{dtype:?}");
        assert!(!is_exp_of(&p, unclamped, y), "{dtype:?}");
    }
}

#[test]
fn exp_f32() {
    let xs = [patterns(0.0, 89.0, 2_000_000), patterns(0.0, 87.33, 2_000_000).iter().map(|x| -x).collect()]
        .concat();
    worst_f32(Prim::Exp, &xs, f64::exp).check("exp f32 [-87.33, 89]", 0.90);
    // Subnormal results are rounded twice: to 24 bits, then by `ldexp`.
    let xs: Vec<f32> = patterns(87.34, 110.0, 500_000).iter().map(|x| -x).collect();
    worst_f32(Prim::Exp, &xs, f64::exp).check("exp f32 [-110, -87.34] (subnormal results)", 0.86);
}

/// `exp(x)` as an unevaluated sum `(hi + lo) 2^n` accurate to about 2^-95 relative (`2^n`
/// returned apart, so that results in the subnormal range keep their precision): with
/// `x = n ln 2 + r` (a three-word `ln 2`), `exp(r) = exp(r / 256)^256` by Taylor's series and
/// eight squarings, in double-word arithmetic.
fn exp_two_words(x: f64) -> (f64, f64, i32) {
    fn two_sum(a: f64, b: f64) -> (f64, f64) {
        let s = a + b;
        let bb = s - a;
        (s, (a - (s - bb)) + (b - bb))
    }
    fn add(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        let (s, e) = two_sum(a.0, b.0);
        two_sum(s, e + a.1 + b.1)
    }
    fn mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        let p = a.0 * b.0;
        two_sum(p, a.0.mul_add(b.0, -p) + a.0 * b.1 + a.1 * b.0)
    }
    fn div(a: (f64, f64), k: f64) -> (f64, f64) {
        let q = a.0 / k;
        let rest = (-q).mul_add(k, a.0);
        two_sum(q, (rest + a.1) / k)
    }
    let n = (x * consts::LOG2_E).round();
    let mut r = (x, 0.0);
    for &w in consts::LN2 {
        let p = -n * w;
        r = add(r, (p, (-n).mul_add(w, -p)));
    }
    let r = (r.0 / 256.0, r.1 / 256.0);
    // 1 + r + ... + r^14 / 14! (|r| < 2^-9), summed from the smallest term.
    let mut terms = vec![(1.0, 0.0)];
    for k in 1..=14 {
        let last = terms[terms.len() - 1];
        terms.push(div(mul(last, r), f64::from(k)));
    }
    let mut y = (0.0, 0.0);
    for &t in terms.iter().rev() {
        y = add(y, t);
    }
    for _ in 0..8 {
        y = mul(y, y);
    }
    (y.0, y.1, n as i32)
}

/// The error of `got` as an f64 approximation of `exp(x)`, in ulps of the exact result (2^-1074
/// in the subnormal range).
fn exp_error_f64(x: f64, got: f64) -> f64 {
    let (hi, lo, n) = exp_two_words(x);
    let e = prim::get_exp(hi) as i32 + n;
    let ulp = prim::ldexp(1.0, f64::from(e.max(-1022) - 52 - n));
    // `got 2^-n` is exact: a scaling of a subnormal up, or within the normal range.
    ((prim::ldexp(got, f64::from(-n)) - hi) - lo).abs() / ulp
}

#[test]
fn exp_two_words_matches_mpmath() {
    // `exp(x) = (hi + lo) 2^e` with `hi` in [1, 2), by mpmath with 50 digits.
    let cases = [
        (1.0, 1, 1.3591409142295225, 7.228234458646251e-17),
        (-0.34, -1, 1.4235406455252193, 8.952313346248074e-17),
        (10.5, 15, 1.1082611900099681, 4.815054340783026e-17),
        (-700.25, -1011, 1.6850572611490722, 7.545847965644306e-17),
        (709.5, 1023, 1.5074723188709405, -2.169846945243557e-18),
        (-745.0, -1075, 1.1425002949421084, -3.168228304494958e-17),
    ];
    for (x, e, want_hi, want_lo) in cases {
        let (hi, lo, n) = exp_two_words(x);
        let scale = f64::from(n - e);
        let (hi, lo) = (prim::ldexp(hi, scale), prim::ldexp(lo, scale));
        assert_eq!(hi, want_hi, "exp({x})");
        assert!((lo - want_lo).abs() < 2f64.powi(-95), "exp({x}): {lo:e} for {want_lo:e}");
    }
}

#[test]
fn exp_f64() {
    let mut rng = Rng::new(1);
    let mut xs: Vec<f64> = (0..300_000).map(|_| rng.uniform(-750.0, 710.0)).collect();
    xs.extend((0..300_000).map(|_| rng.uniform(-1.0, 1.0)));
    xs.extend(
        (0..300_000).map(|_| rng.bit_pattern(0.0, 710.0) * if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 }),
    );
    worst_f64(Prim::Exp, &xs, f64::exp).check("exp f64 [-750, 710]", 1.0);
    // Against the exact value, for normal results and (rounded twice) subnormal ones: the
    // bounds are the measured errors of the table in `math`'s documentation, both faithful.
    xs.extend((0..100_000).map(|_| rng.uniform(-745.0, -708.4)));
    for (range, what, bound) in [
        (-708.39..709.78, "exp f64 [-708.39, 709.78], against the exact value", 0.84),
        (-745.0..-708.4, "exp f64 [-745, -708.4] (subnormal results), against the exact value", 0.86),
    ] {
        let xs: Vec<f64> = xs.iter().copied().filter(|x| range.contains(x)).collect();
        let got = run::<f64>(Prim::Exp, &[&xs]);
        let mut worst = Worst::new(xs.len());
        for (&x, &y) in xs.iter().zip(&got) {
            worst.update(exp_error_f64(x, y), &[x], y, x.exp());
        }
        worst.check(what, bound);
    }
}

#[test]
fn log_special_values() {
    exact(
        Prim::Log,
        &[
            (&[1.0], 0.0),
            (&[0.0], -INF),
            (&[-0.0], -INF),
            (&[-1.0], NAN),
            (&[-INF], NAN),
            (&[INF], INF),
            (&[NAN], NAN),
            (&[2.0], std::f64::consts::LN_2),
        ],
    );
}

#[test]
fn log_f32() {
    let xs = patterns(0.0, f32::MAX, 4_000_000);
    worst_f32(Prim::Log, &xs, f64::ln).check("log f32 (0, inf)", 0.75);
}

#[test]
fn log_f64() {
    let mut rng = Rng::new(2);
    let mut xs: Vec<f64> = (0..400_000).map(|_| rng.bit_pattern(0.0, f64::MAX)).collect();
    xs.extend((0..300_000).map(|_| rng.uniform(0.5, 2.0)));
    xs.extend((0..100_000).map(|_| 1.0 + rng.uniform(-1e-6, 1e-6)));
    worst_f64(Prim::Log, &xs, f64::ln).check("log f64 (0, inf)", 1.0);
}

#[test]
fn rsqrt_special_values() {
    exact(
        Prim::Rsqrt,
        &[(&[0.0], 0.0), (&[-0.0], 0.0), (&[INF], 0.0), (&[-1.0], NAN), (&[NAN], NAN), (&[4.0], 0.5)],
    );
}

#[test]
fn rsqrt_f32() {
    let xs = patterns(f32::from_bits(1), f32::MAX, 4_000_000);
    worst_f32(Prim::Rsqrt, &xs, |x| 1.0 / x.sqrt()).check("rsqrt f32 (0, max]", 0.501);
}

/// `1 / sqrt(x)` for a positive finite `x`, as an unevaluated sum `hi + lo` accurate to about
/// 2^-100: from the correctly rounded square root `s` of `x` scaled into `[1, 4)`, the exact
/// residuals `m - s^2` and `1 - s / s` give the first-order corrections.
fn rsqrt_two_words(x: f64) -> (f64, f64) {
    let k = (prim::get_exp(x) / 2.0).floor();
    let m = prim::ldexp(x, -2.0 * k);
    let s = m.sqrt();
    let d = (-s).mul_add(s, m);
    let y = 1.0 / s;
    let r = (-y).mul_add(s, 1.0);
    let lo = y * (r - 0.5 * d * y * y);
    (prim::ldexp(y, -k), prim::ldexp(lo, -k))
}

#[test]
fn rsqrt_f64() {
    let mut rng = Rng::new(3);
    let xs: Vec<f64> = (0..500_000).map(|_| rng.bit_pattern(f64::from_bits(1), f64::MAX)).collect();
    let got = run::<f64>(Prim::Rsqrt, &[&xs]);
    let mut worst = Worst::new(xs.len());
    for (&x, &y) in xs.iter().zip(&got) {
        let (hi, lo) = rsqrt_two_words(x);
        let ulp = prim::ldexp(1.0, prim::get_exp(hi).max(-1022.0) - 52.0);
        worst.update(((y - hi) - lo).abs() / ulp, &[x], y, hi);
    }
    worst.check("rsqrt f64 (0, max], against the exact value", 0.501);
}

#[test]
fn sin_special_values() {
    exact(Prim::Sin, &[(&[0.0], 0.0), (&[-0.0], -0.0), (&[INF], NAN), (&[-INF], NAN), (&[NAN], NAN)]);
    exact(Prim::Cos, &[(&[0.0], 1.0), (&[-0.0], 1.0), (&[INF], NAN), (&[-INF], NAN), (&[NAN], NAN)]);
}

#[test]
fn sin_f32() {
    let xs = both_signs(patterns(0.0, 2f32.powi(24), 1_500_000));
    worst_f32(Prim::Sin, &xs, f64::sin).check("sin f32 [-2^24, 2^24]", 0.71);
}

#[test]
fn cos_f32() {
    let xs = both_signs(patterns(0.0, 2f32.powi(24), 1_500_000));
    worst_f32(Prim::Cos, &xs, f64::cos).check("cos f32 [-2^24, 2^24]", 0.71);
}

#[test]
fn sin_cos_f32_beyond_the_reduction() {
    // Finite, in [-1, 1], and deterministic; not accurate.
    let xs = both_signs(patterns(2f32.powi(24), f32::MAX, 100_000));
    for prim in [Prim::Sin, Prim::Cos] {
        let got = run::<f32>(prim, &[&xs]);
        assert!(got.iter().all(|y| y.abs() <= 1.0), "{prim:?}");
    }
    let mut rng = Rng::new(4);
    let xs: Vec<f64> = (0..100_000).map(|_| rng.bit_pattern(2f64.powi(52), f64::MAX)).collect();
    for prim in [Prim::Sin, Prim::Cos] {
        let got = run::<f64>(prim, &[&xs]);
        assert!(got.iter().all(|y| y.abs() <= 1.0), "{prim:?}");
    }
}

/// Random f64 in `[-2^e, 2^e]`, half uniform and half over the bit patterns, and the doubles
/// nearest the multiples `k pi/2` up to there with their neighbours, where the reduced
/// argument is smallest.
fn trig_points(e: i32, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let top = 2f64.powi(e);
    let sign = |rng: &mut Rng| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
    let mut xs: Vec<f64> = (0..200_000).map(|_| rng.uniform(-top, top)).collect();
    xs.extend((0..200_000).map(|_| rng.bit_pattern(0.0, top) * sign(&mut rng)));
    for _ in 0..50_000 {
        let k = (rng.uniform(1.0, top / std::f64::consts::FRAC_PI_2)).round();
        let x = k * std::f64::consts::FRAC_PI_2;
        xs.extend([x, f64::from_bits(x.to_bits() + 1), f64::from_bits(x.to_bits() - 1)]);
    }
    xs
}

#[test]
fn sin_cos_f64() {
    for (prim, reference) in [(Prim::Sin, f64::sin as fn(f64) -> f64), (Prim::Cos, f64::cos)] {
        for (e, bound) in [(3, 1.0), (20, 1.0), (52, 1.0)] {
            let xs = trig_points(e, 5 + e as u64);
            worst_f64(prim, &xs, reference).check(&format!("{prim:?} f64 [-2^{e}, 2^{e}]"), bound);
        }
    }
}

#[test]
fn atan_special_values() {
    let pi_2 = std::f64::consts::FRAC_PI_2;
    exact(Prim::Atan, &[(&[0.0], 0.0), (&[-0.0], -0.0), (&[INF], pi_2), (&[-INF], -pi_2), (&[NAN], NAN)]);
    exact(Prim::Atan, &[(&[1.0], std::f64::consts::FRAC_PI_4), (&[-1.0], -std::f64::consts::FRAC_PI_4)]);
}

#[test]
fn atan_f32() {
    let xs = both_signs(patterns(0.0, f32::INFINITY, 2_000_000));
    worst_f32(Prim::Atan, &xs, f64::atan).check("atan f32", 0.73);
}

#[test]
fn atan_f64() {
    let mut rng = Rng::new(6);
    let mut xs: Vec<f64> = (0..300_000).map(|_| rng.bit_pattern(0.0, f64::MAX)).collect();
    xs.extend((0..300_000).map(|_| rng.uniform(-4.0, 4.0)));
    worst_f64(Prim::Atan, &xs, f64::atan).check("atan f64", 1.0);
}

#[test]
fn atan2_special_values() {
    use std::f64::consts::{FRAC_PI_2 as H, FRAC_PI_4 as Q, PI};
    let cases: Vec<([f64; 2], f64)> = vec![
        ([0.0, 0.0], 0.0),
        ([-0.0, 0.0], -0.0),
        ([0.0, -0.0], PI),
        ([-0.0, -0.0], -PI),
        ([0.0, -1.0], PI),
        ([-0.0, -1.0], -PI),
        ([0.0, 1.0], 0.0),
        ([-0.0, 1.0], -0.0),
        ([1.0, 0.0], H),
        ([1.0, -0.0], H),
        ([-1.0, 0.0], -H),
        ([-1.0, -0.0], -H),
        ([1.0, -INF], PI),
        ([-1.0, -INF], -PI),
        ([1.0, INF], 0.0),
        ([-1.0, INF], -0.0),
        ([INF, 1.0], H),
        ([-INF, -1.0], -H),
        ([INF, -INF], 3.0 * Q),
        ([-INF, -INF], -3.0 * Q),
        ([INF, INF], Q),
        ([-INF, INF], -Q),
        ([1.0, 1.0], Q),
        ([1.0, -1.0], 3.0 * Q),
        ([NAN, 1.0], NAN),
        ([1.0, NAN], NAN),
        ([NAN, INF], NAN),
        ([INF, NAN], NAN),
        ([0.0, NAN], NAN),
        ([NAN, NAN], NAN),
        // Ratios beyond the range of the type.
        ([1e-300, 1e300], 0.0),
        ([1e300, -1e-300], H),
        ([-1e300, 1e-300], -H),
    ];
    let cases: Vec<(&[f64], f64)> = cases.iter().map(|(a, w)| (&a[..], *w)).collect();
    exact(Prim::Atan2, &cases);
}

/// Pairs `(y, x)` of both signs: random bit patterns up to `max`, and pairs of close magnitudes.
fn atan2_points(count: usize, seed: u64, max: f64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let signed = |rng: &mut Rng, v: f64| if rng.next_u64() & 1 == 0 { v } else { -v };
    let (mut ys, mut xs) = (Vec::new(), Vec::new());
    for k in 0..count {
        let x = rng.bit_pattern(0.0, max);
        let y = if k % 2 == 0 { rng.bit_pattern(0.0, max) } else { (x * rng.uniform(0.25, 4.0)).min(max) };
        ys.push(signed(&mut rng, y));
        xs.push(signed(&mut rng, x));
    }
    (ys, xs)
}

#[test]
fn atan2_f32() {
    let (ys, xs) = atan2_points(2_000_000, 7, f64::from(f32::MAX));
    let ys: Vec<f32> = ys.iter().map(|&v| v as f32).collect();
    let xs: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    let got = run::<f32>(Prim::Atan2, &[&ys, &xs]);
    let mut worst = Worst::new(xs.len());
    for ((&y, &x), &r) in ys.iter().zip(&xs).zip(&got) {
        let want = f64::from(y).atan2(f64::from(x));
        worst.update(ulp_error_f32(r, want), &[f64::from(y), f64::from(x)], f64::from(r), want);
    }
    worst.check("atan2 f32", 0.75);
}

#[test]
fn atan2_f64() {
    let (ys, xs) = atan2_points(600_000, 8, f64::MAX);
    let got = run::<f64>(Prim::Atan2, &[&ys, &xs]);
    let mut worst = Worst::new(xs.len());
    for ((&y, &x), &r) in ys.iter().zip(&xs).zip(&got) {
        let want = y.atan2(x);
        worst.update(ulp_distance_f64(r, want) as f64, &[y, x], r, want);
    }
    worst.check("atan2 f64", 1.0);
}

#[test]
fn asin_acos_special_values() {
    let pi_2 = std::f64::consts::FRAC_PI_2;
    exact(
        Prim::Asin,
        &[
            (&[0.0], 0.0),
            (&[-0.0], -0.0),
            (&[1.0], pi_2),
            (&[-1.0], -pi_2),
            (&[1.5], NAN),
            (&[-INF], NAN),
            (&[NAN], NAN),
        ],
    );
    exact(
        Prim::Acos,
        &[
            (&[0.0], pi_2),
            (&[-0.0], pi_2),
            (&[1.0], 0.0),
            (&[-1.0], std::f64::consts::PI),
            (&[-1.5], NAN),
            (&[INF], NAN),
            (&[NAN], NAN),
        ],
    );
}

#[test]
fn asin_f32() {
    let xs = both_signs(patterns(0.0, 1.0, 1_500_000));
    worst_f32(Prim::Asin, &xs, f64::asin).check("asin f32 [-1, 1]", 0.64);
}

#[test]
fn acos_f32() {
    let xs = both_signs(patterns(0.0, 1.0, 1_500_000));
    worst_f32(Prim::Acos, &xs, f64::acos).check("acos f32 [-1, 1]", 0.61);
}

#[test]
fn asin_acos_f64() {
    let mut rng = Rng::new(9);
    let mut xs: Vec<f64> = (0..300_000).map(|_| rng.uniform(-1.0, 1.0)).collect();
    xs.extend(
        (0..300_000).map(|_| rng.bit_pattern(0.0, 1.0) * if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 }),
    );
    worst_f64(Prim::Asin, &xs, f64::asin).check("asin f64 [-1, 1]", 1.0);
    worst_f64(Prim::Acos, &xs, f64::acos).check("acos f64 [-1, 1]", 1.0);
}

/// Every f32 of each function's domain, on all cores: the measurements of the module
/// documentation. Minutes in release mode (`cargo test --release -p keops-core --lib
/// exhaustive -- --ignored --nocapture`, `KEOPS_EXHAUSTIVE=exp,log` for some functions only), far
/// too long in the test profile.
#[test]
#[ignore = "exhaustive: run in release mode"]
fn exhaustive_f32() {
    let finite = f32::MAX.to_bits();
    let two24 = 2f32.powi(24).to_bits();
    let neg = 1u32 << 31;
    // Each function, its reference, its domain, the ranges of bit patterns covering it and the
    // documented bound.
    type Domain = (Prim, fn(f64) -> f64, &'static str, Vec<(u32, u32)>, f64);
    let domains: [Domain; 9] = [
        (Prim::Exp, f64::exp, "[-87.33, 89]", vec![(0, 89f32.to_bits()), (neg, (-87.33f32).to_bits())], 0.90),
        (
            Prim::Exp,
            f64::exp,
            "[-110, -87.33] (subnormal results)",
            vec![((-87.33f32).to_bits(), (-110f32).to_bits())],
            0.86,
        ),
        (Prim::Log, f64::ln, "(0, inf)", vec![(1, finite)], 0.75),
        (Prim::Rsqrt, |x| 1.0 / x.sqrt(), "(0, inf)", vec![(1, finite)], 0.501),
        (Prim::Sin, f64::sin, "[-2^24, 2^24]", vec![(0, two24), (neg, neg | two24)], 0.71),
        (Prim::Cos, f64::cos, "[-2^24, 2^24]", vec![(0, two24), (neg, neg | two24)], 0.71),
        (Prim::Atan, f64::atan, "finite", vec![(0, finite), (neg, neg | finite)], 0.73),
        (Prim::Asin, f64::asin, "[-1, 1]", vec![(0, 1f32.to_bits()), (neg, (-1f32).to_bits())], 0.64),
        (Prim::Acos, f64::acos, "[-1, 1]", vec![(0, 1f32.to_bits()), (neg, (-1f32).to_bits())], 0.61),
    ];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    // `KEOPS_EXHAUSTIVE=exp,log` checks only those functions.
    let only = std::env::var("KEOPS_EXHAUSTIVE").ok();
    for (prim, reference, what, ranges, bound) in domains {
        if only.as_ref().is_some_and(|o| !o.split(',').any(|f| f == prim.method())) {
            continue;
        }
        let (program, out) = program(prim, DType::F32);
        let chunks: Vec<(u32, u32)> = ranges
            .iter()
            .flat_map(|&(a, b)| {
                (u64::from(a)..=u64::from(b))
                    .step_by(1 << 16)
                    .map(move |s| (s as u32, (s + (1 << 16) - 1).min(u64::from(b)) as u32))
            })
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let worst = std::sync::Mutex::new(Worst::new(0));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut local = Worst::new(0);
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(a, b)) = chunks.get(k) else { break };
                        let xs: Vec<f32> = (a..=b).map(f32::from_bits).collect();
                        let got = interp::run::<f32>(&program, &[out], &[vec![&xs]]).remove(0);
                        for (&x, &y) in xs.iter().zip(&got) {
                            let want = reference(f64::from(x));
                            local.update(ulp_error_f32(y, want), &[f64::from(x)], f64::from(y), want);
                        }
                        local.points += xs.len();
                    }
                    let mut w = worst.lock().unwrap();
                    let (points, misses) = (w.points + local.points, w.misses + local.misses);
                    if local.ulp > w.ulp {
                        *w = local;
                    }
                    (w.points, w.misses) = (points, misses);
                });
            }
        });
        worst.into_inner().unwrap().check(&format!("{prim:?} f32 {what}, exhaustive"), bound);
    }
}
