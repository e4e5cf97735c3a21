//! SIMD dispatch: the widest instruction set the machine has, chosen at run time, so that one
//! binary built for the x86-64 (or aarch64) baseline uses AVX-512, AVX2+FMA or SSE2 (NEON).
//!
//! Detection is pulp's (`V4::try_new`, `V3::try_new`), and code for a tier runs inside pulp's
//! `vectorize`, which compiles it with that tier's target features. AVX-512 and AVX2 have
//! hand-written [`Math`] implementations; the baseline tier uses [`Lanes`], fixed-size arrays of
//! lanes that apply the scalar semantics lane by lane and that the compiler vectorises for SSE2
//! or NEON.
//! Every tier computes exactly what [`Scalar`](super::math::Scalar) computes, lane for lane.
//!
//! `KEOPS_SIMD=avx512|avx2|baseline|scalar` restricts the choice (for tests and comparisons); a
//! tier the machine lacks falls back to the best available one below it. With the `all-tiers`
//! feature, `KEOPS_SIMD=wide` picks [`Lanes`] at AVX-512's widths instead, on any machine: the
//! reductions' lane-count-dependent code (K-selections that fit one vector, masks and tails of
//! 16 lanes) then runs where AVX-512 does not, and the AVX-512 tier's own instructions are
//! tested lane by lane against [`Scalar`](super::math::Scalar) where it does.
//!
//! Kernels are compiled for the tiers that `dispatch_compiled_f32` lists; on the others, the
//! interpreter ([`super::interp`]), compiled once for every tier, runs them.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod lanes;

use std::sync::OnceLock;

use crate::cpu::math::{Math, Real, Scalar};
#[cfg(target_arch = "x86_64")]
pub use avx2::{Avx2F32, Avx2F64};
#[cfg(target_arch = "x86_64")]
pub use avx512::{Avx512F32, Avx512F64};
pub use lanes::{Baseline, Lanes};

/// An instruction-set tier, widest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Avx512,
    Avx2,
    Baseline,
    Scalar,
    /// Portable lanes at AVX-512's widths (`KEOPS_SIMD=wide`, with the `all-tiers` feature).
    #[cfg(feature = "all-tiers")]
    Wide,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Avx512 => "avx512",
            Tier::Avx2 => "avx2",
            Tier::Baseline => {
                if cfg!(target_arch = "aarch64") {
                    "neon"
                } else {
                    "sse2"
                }
            }
            Tier::Scalar => "scalar",
            #[cfg(feature = "all-tiers")]
            Tier::Wide => "wide",
        }
    }
}

/// The tier calls run at: the best the machine has, capped by `KEOPS_SIMD`.
pub fn tier() -> Tier {
    static TIER: OnceLock<Tier> = OnceLock::new();
    *TIER.get_or_init(|| {
        let requested = std::env::var("KEOPS_SIMD").map(|v| v.to_ascii_lowercase());
        #[cfg(feature = "all-tiers")]
        if requested.as_deref() == Ok("wide") {
            return Tier::Wide;
        }
        let cap = match requested {
            Ok(v) if v == "avx2" => Tier::Avx2,
            Ok(v) if v == "baseline" || v == "sse2" || v == "neon" => Tier::Baseline,
            Ok(v) if v == "scalar" => Tier::Scalar,
            _ => Tier::Avx512,
        };
        let available = available();
        available.max(cap)
    })
}

/// The best tier this machine supports.
fn available() -> Tier {
    #[cfg(target_arch = "x86_64")]
    {
        if pulp::x86::V4::try_new().is_some() {
            return Tier::Avx512;
        }
        if pulp::x86::V3::try_new().is_some() {
            return Tier::Avx2;
        }
    }
    Tier::Baseline
}

/// Something to run with the lanes of the chosen tier.
pub trait WithMath<T: Real> {
    type Output;
    fn with<M: Math<T>>(self, m: M) -> Self::Output;
}

/// `dispatch_f32` and `dispatch_compiled_f32`, or their `f64` forms: `$avx512` and `$avx2` are
/// the type's [`Math`] on those tiers, `$wide` and `$baseline` its lanes at AVX-512's and the
/// baseline's widths.
macro_rules! dispatchers {
    ($t:ty, $dispatch:ident, $compiled:ident, $avx512:ident, $avx2:ident, $wide:literal, $baseline:literal) => {
        /// Runs `op` with the [`Math`] of the current tier.
        pub fn $dispatch<Op: WithMath<$t>>(op: Op) -> Op::Output {
            match tier() {
                #[cfg(target_arch = "x86_64")]
                Tier::Avx512 => match pulp::x86::V4::try_new() {
                    Some(v4) => op.with($avx512::new(v4)),
                    None => op.with(Scalar::<$t>::new()),
                },
                #[cfg(target_arch = "x86_64")]
                Tier::Avx2 => match pulp::x86::V3::try_new() {
                    Some(v3) => op.with($avx2::new(v3)),
                    None => op.with(Scalar::<$t>::new()),
                },
                Tier::Scalar => op.with(Scalar::<$t>::new()),
                #[cfg(feature = "all-tiers")]
                Tier::Wide => op.with(Lanes::<$t, $wide, Baseline>::new(Baseline)),
                _ => op.with(Lanes::<$t, $baseline, Baseline>::new(Baseline)),
            }
        }

        /// Runs `op` with the [`Math`] of the current tier if kernels are compiled for it;
        /// else gives `op` back. Kernels are compiled for AVX-512 and AVX2 on x86-64 and for
        /// NEON on aarch64, unless the `all-tiers` feature asks for every tier: each tier is
        /// one more copy of every kernel to build, and machines without AVX2 are rare, so
        /// there the interpreter runs the kernels, at the SIMD width they have. The other
        /// tiers' arms are left out, so that a compiled kernel is not instantiated for them.
        pub fn $compiled<Op: WithMath<$t>>(op: Op) -> Result<Op::Output, Op> {
            match tier() {
                #[cfg(target_arch = "x86_64")]
                Tier::Avx512 => match pulp::x86::V4::try_new() {
                    Some(v4) => Ok(op.with($avx512::new(v4))),
                    None => Err(op),
                },
                #[cfg(target_arch = "x86_64")]
                Tier::Avx2 => match pulp::x86::V3::try_new() {
                    Some(v3) => Ok(op.with($avx2::new(v3))),
                    None => Err(op),
                },
                #[cfg(feature = "all-tiers")]
                Tier::Scalar => Ok(op.with(Scalar::<$t>::new())),
                #[cfg(feature = "all-tiers")]
                Tier::Wide => Ok(op.with(Lanes::<$t, $wide, Baseline>::new(Baseline))),
                #[cfg(any(not(target_arch = "x86_64"), feature = "all-tiers"))]
                Tier::Baseline => Ok(op.with(Lanes::<$t, $baseline, Baseline>::new(Baseline))),
                #[allow(unreachable_patterns)]
                _ => Err(op),
            }
        }
    };
}

dispatchers!(f32, dispatch_f32, dispatch_compiled_f32, Avx512F32, Avx2F32, 16, 4);
dispatchers!(f64, dispatch_f64, dispatch_compiled_f64, Avx512F64, Avx2F64, 8, 2);

#[cfg(test)]
mod tests {
    use keops_core::ir::DType;
    use keops_core::prim::Prim;
    use keops_testkit::Rng;

    use super::*;

    /// The method of `m` implementing the basic primitive `prim`.
    fn apply<T: Real, M: Math<T>>(m: M, prim: Prim, a: M::V, b: M::V, c: M::V) -> M::V {
        match prim {
            Prim::Add => m.add(a, b),
            Prim::Sub => m.sub(a, b),
            Prim::Mul => m.mul(a, b),
            Prim::Div => m.div(a, b),
            Prim::MulAdd => m.mul_add(a, b, c),
            Prim::Neg => m.neg(a),
            Prim::Abs => m.abs(a),
            Prim::Min => m.min(a, b),
            Prim::Max => m.max(a, b),
            Prim::Sqrt => m.sqrt(a),
            Prim::Floor => m.floor(a),
            Prim::RoundEven => m.round_even(a),
            Prim::Sign => m.sign(a),
            Prim::Step => m.step(a),
            Prim::Select => m.select(a, b, c),
            Prim::Lt => m.lt(a, b),
            Prim::Le => m.le(a, b),
            Prim::Eq => m.eq(a, b),
            Prim::Ne => m.ne(a, b),
            Prim::Ldexp => m.ldexp(a, b),
            Prim::LdexpInt => m.ldexp_int(a, b),
            Prim::GetExp => m.get_exp(a),
            Prim::GetMant => m.get_mant(a),
            // The expanded primitives (`Prim::is_expanded`), which never reach a backend: the tests of
            // every basic primitive would fail here on a basic one.
            expanded => unreachable!("{expanded:?} is expanded, never emitted"),
        }
    }

    /// Operands that reach every branch of the implementations: special values, subnormals,
    /// halves and integers (rounding), exponents in and out of the normal range (`ldexp`), and
    /// random values of every magnitude. Chunks of one SIMD width are sometimes homogeneous
    /// (the fast paths) and sometimes mixed (the per-lane paths).
    fn operands<T: Real>(seed: u64) -> Vec<T> {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            3.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e-40,
            -1e-40,
            1.4e-45,
            1e-310,
            5e-324,
            f32::MIN_POSITIVE as f64,
            f64::MIN_POSITIVE,
            f32::MAX as f64,
            f64::MAX,
            126.0,
            127.0,
            128.0,
            -126.0,
            -127.0,
            -149.0,
            -150.0,
            1023.0,
            1024.0,
            -1022.0,
            -1023.0,
            -1074.0,
            -1075.0,
            300.0,
            -300.0,
            4000.0,
        ];
        let mut out: Vec<T> = specials.iter().map(|&x| T::from_f64(x)).collect();
        let mut rng = Rng::new(seed);
        let mut next = move || rng.unit();
        for _ in 0..4000 {
            let sign = if next() < 0.5 { -1.0 } else { 1.0 };
            let x = match (next() * 4.0) as u32 {
                0 => sign * next() * 4.0,
                1 => (next() * 600.0 - 300.0).floor() + if next() < 0.3 { 0.5 } else { 0.0 },
                2 => sign * 2f64.powf(next() * 80.0 - 40.0),
                _ => sign * 2f64.powf(next() * 2200.0 - 1100.0),
            };
            out.push(T::from_f64(x));
        }
        out
    }

    fn same<T: Real>(a: T, b: T) -> bool {
        let (a, b) = (a.to_f64(), b.to_f64());
        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
    }

    /// What [`agrees_with_scalar`] checks: the basic primitives, and `mul_tiny` and
    /// `mul_add_tiny`, whose scalar versions are `mul` and `mul_add`.
    #[derive(Clone, Copy, Debug)]
    enum Method {
        Prim(Prim),
        MulTiny,
        MulAddTiny,
    }

    impl Method {
        fn apply<T: Real, M: Math<T>>(self, m: M, a: M::V, b: M::V, c: M::V) -> M::V {
            match self {
                Method::Prim(prim) => apply(m, prim, a, b, c),
                Method::MulTiny => m.mul_tiny(true, a, b),
                Method::MulAddTiny => m.mul_add_tiny(a, b, c),
            }
        }
    }

    /// Every basic primitive of `m`, and `mul_tiny` and `mul_add_tiny`, agrees with `Scalar`
    /// on every lane, to the bit.
    fn agrees_with_scalar<T: Real, M: Math<T>>(m: M, name: &str) {
        let s = T::Scalar::default();
        let lanes = M::LANES;
        let (a, b, c) = (operands::<T>(1), operands::<T>(2), operands::<T>(3));
        let mut checked = 0;
        // `ldexp_int` is specified on a domain only: `ldexp_agrees_with_scalar` sweeps it.
        let prims = Prim::ALL.iter().filter(|&&p| !p.is_expanded() && p != Prim::LdexpInt);
        for method in prims.map(|&p| Method::Prim(p)).chain([Method::MulTiny, Method::MulAddTiny]) {
            // Operands in their given order and shifted against each other, so that every pair
            // of special values meets.
            for shift in [0, 1, 7] {
                let n = a.len() - shift;
                let b: Vec<T> = b[shift..].to_vec();
                let c: Vec<T> = c[..n].to_vec();
                let mut chunk = 0;
                while chunk + lanes <= n {
                    let range = chunk..chunk + lanes;
                    let mut got = vec![T::ZERO; lanes];
                    m.vectorize(|| {
                        let v = method.apply(
                            m,
                            m.load(&a[range.clone()]),
                            m.load(&b[range.clone()]),
                            m.load(&c[range.clone()]),
                        );
                        m.store(v, &mut got);
                    });
                    for (l, &g) in got.iter().enumerate() {
                        let k = chunk + l;
                        let want = method.apply(s, a[k], b[k], c[k]);
                        assert!(
                            same(g, want),
                            "{name}: {method:?}({:?}, {:?}, {:?}) = {g:?}, scalar gives {want:?}",
                            a[k],
                            b[k],
                            c[k]
                        );
                        checked += 1;
                    }
                    chunk += lanes;
                }
            }
        }
        assert!(checked > 100_000, "{name}: only {checked} lanes checked");
    }

    /// `ldexp` on random mantissas times every exponent that can be reached (the two-step and
    /// per-lane paths of AVX2 included): double roundings show up only on particular
    /// mantissas, so the general sweep above is not enough.
    fn ldexp_agrees_with_scalar<T: Real, M: Math<T>>(m: M, name: &str) {
        let s = T::Scalar::default();
        let mut rng = Rng::new(7);
        let mut mantissas: Vec<T> = (0..64 * M::LANES)
            .map(|k| {
                let u = rng.unit();
                let scale = [1.0, 2f64.powi(-30), 2f64.powi(30), 2f64.powi(-120), 2f64.powi(100)][k % 5];
                T::from_f64((0.5 + 1.5 * u) * scale * if k % 3 == 0 { -1.0 } else { 1.0 })
            })
            .collect();
        mantissas.extend((0..M::LANES).map(|l| T::from_f64(1.0 + l as f64 / 8.0)));
        let mut got = vec![T::ZERO; M::LANES];
        for e in -2300..=2300 {
            let n = vec![T::from_f64(f64::from(e) + 0.25); M::LANES];
            for chunk in mantissas.chunks_exact(M::LANES) {
                m.vectorize(|| m.store(m.ldexp(m.load(chunk), m.load(&n)), &mut got));
                for (&a, &g) in chunk.iter().zip(&got) {
                    let want = s.ldexp(a, n[0]);
                    assert!(same(g, want), "{name}: ldexp({a:?}, {e}) = {g:?}, scalar gives {want:?}");
                }
            }
        }
        // `ldexp_int` on its whole domain: integer exponents and magnitudes in [1/2, 2] (with
        // its ends), against the scalar `ldexp`; and NaN by NaN.
        let dtype = if size_of::<T>() == 4 { DType::F32 } else { DType::F64 };
        let nan = vec![T::from_f64(f64::NAN); M::LANES];
        m.vectorize(|| m.store(m.ldexp_int(m.load(&nan), m.load(&nan)), &mut got));
        assert!(got.iter().all(|g| g.to_f64().is_nan()), "{name}: ldexp_int(NaN, NaN) = {got:?}");
        let specials = [0.5, -0.5, 2.0, -2.0, 1.0, -1.0, 1.5, -1.5];
        let mut near_one: Vec<T> =
            mantissas.iter().copied().filter(|a| (0.5..=2.0).contains(&a.to_f64().abs())).collect();
        near_one.truncate(near_one.len() / M::LANES * M::LANES);
        near_one.extend((0..2 * M::LANES).map(|k| T::from_f64(specials[k % specials.len()])));
        // `scale` (the method `op`) against the scalar `ldexp`, on every mantissa and each
        // exponent: how many lanes it checked.
        let agrees = |op: &str, scale: fn(M, M::V, M::V) -> M::V, mantissas: &[T], exponents: &[i32]| {
            let (mut got, mut checked) = (vec![T::ZERO; M::LANES], 0);
            for &e in exponents {
                let n = vec![T::from_f64(f64::from(e)); M::LANES];
                for chunk in mantissas.chunks_exact(M::LANES) {
                    m.vectorize(|| m.store(scale(m, m.load(chunk), m.load(&n)), &mut got));
                    for (&a, &g) in chunk.iter().zip(&got) {
                        let want = s.ldexp(a, n[0]);
                        assert!(same(g, want), "{name}: {op}({a:?}, {e}) = {g:?}, scalar gives {want:?}");
                        checked += 1;
                    }
                }
            }
            checked
        };
        let domain: Vec<i32> = (-2100..=2100)
            .filter(|&e| keops_core::prim::ldexp_int_domain(1.0, f64::from(e), dtype))
            .collect();
        let checked = agrees("ldexp_int", M::ldexp_int, &near_one, &domain);
        assert!(checked > 1000 * M::LANES, "{name}: ldexp_int checked on {checked} lanes only");
        // `ldexp_below` on its domain: that of `ldexp_int`, with `a > 0` and `n` at most the
        // largest exponent (subnormal results, zeros and `2 * 2^emax = inf` included).
        let emax = if dtype == DType::F32 { 127 } else { 1023 };
        let positive: Vec<T> = near_one.iter().map(|a| T::from_f64(a.to_f64().abs())).collect();
        let below: Vec<i32> = domain.iter().copied().filter(|&e| e <= emax).collect();
        let checked = agrees("ldexp_below", M::ldexp_below, &positive, &below);
        assert!(checked > 1000 * M::LANES, "{name}: ldexp_below checked on {checked} lanes only");
        // `ldexp_normal` wherever `scales_normally` says it computes `ldexp_int`, which it says
        // at least for the exponents of exp's usual results.
        let normal: Vec<i32> = (-1100..=1100)
            .filter(|&e| {
                let n = vec![T::from_f64(f64::from(e)); M::LANES];
                let scales = m.vectorize(|| m.all(m.scales_normally(m.load(&n))));
                assert!(scales || !(-100..=100).contains(&e), "{name}: scales_normally({e}) is false");
                scales
            })
            .collect();
        let checked = agrees("ldexp_normal", M::ldexp_normal, &near_one, &normal);
        assert!(checked > 200 * M::LANES, "{name}: ldexp_normal checked on {checked} lanes only");
    }

    /// `exp_nonpositive` gives `exp`'s bits on `[-80, 0]`: on f32, every 4099th value of the
    /// interval and its ends; on f64, random values of every magnitude.
    fn exp_nonpositive_agrees_with_exp<T: Real, M: Math<T>>(m: M, name: &str) {
        let mut xs: Vec<T> = if size_of::<T>() == 4 {
            (0..=80f32.to_bits()).step_by(4099).map(|b| T::from_f64(f64::from(-f32::from_bits(b)))).collect()
        } else {
            let mut rng = Rng::new(11);
            (0..200_000)
                .map(|_| {
                    let u = rng.unit();
                    T::from_f64(-80.0 * u.powi(4))
                })
                .collect()
        };
        xs.extend([0.0, -0.0, -80.0, -1e-30, -79.999].map(T::from_f64));
        block_exp_agrees(m, name, "exp_nonpositive", T::exp_nonpositive::<M, [M::V; 4]>, xs);
    }

    /// `exp_below` gives `exp`'s bits below `exp_normal_bound`, however far below: on f32,
    /// every 4099th value from -inf to 86; on f64, random values of every magnitude.
    fn exp_below_agrees_with_exp<T: Real, M: Math<T>>(m: M, name: &str) {
        let mut xs: Vec<T> = if size_of::<T>() == 4 {
            let negative = (0..=f32::INFINITY.to_bits()).step_by(4099).map(|b| -f32::from_bits(b));
            let positive = (0..86f32.to_bits()).step_by(4099).map(f32::from_bits);
            negative.chain(positive).map(|x| T::from_f64(f64::from(x))).collect()
        } else {
            let mut rng = Rng::new(13);
            (0..200_000)
                .map(|k| {
                    let u = rng.unit();
                    T::from_f64(if k % 4 == 0 { 699.0 * u } else { -(1100.0 * u).exp2() })
                })
                .collect()
        };
        let top = if size_of::<T>() == 4 { 85.99 } else { 699.99 };
        xs.extend([0.0, -0.0, -745.2, -708.4, -103.3, -87.4, top, f64::NEG_INFINITY].map(T::from_f64));
        block_exp_agrees(m, name, "exp_below", T::exp_below::<M, [M::V; 4]>, xs);
    }

    /// A block `exp` of the runtime (`Real::exp_nonpositive`, `Real::exp_below`) on 4 vectors.
    type BlockExp<T, M> = fn(M, &[<M as Math<T>>::V; 4]) -> [<M as Math<T>>::V; 4];

    /// `exp_block` (the function `op`) on blocks of 4 vectors of `xs` (padded with its last
    /// value) gives the bits of the scalar `exp`.
    fn block_exp_agrees<T: Real, M: Math<T>>(
        m: M,
        name: &str,
        op: &str,
        exp_block: BlockExp<T, M>,
        mut xs: Vec<T>,
    ) {
        let s = T::Scalar::default();
        let last = *xs.last().expect("values to check");
        while !xs.len().is_multiple_of(4 * M::LANES) {
            xs.push(last);
        }
        let mut got = vec![T::ZERO; 4 * M::LANES];
        for block in xs.chunks_exact(4 * M::LANES) {
            m.vectorize(|| {
                let x: [M::V; 4] = core::array::from_fn(|b| m.load(&block[b * M::LANES..]));
                for (b, &y) in exp_block(m, &x).iter().enumerate() {
                    m.store(y, &mut got[b * M::LANES..]);
                }
            });
            for (&x, &g) in block.iter().zip(&got) {
                let want = T::exp(s, x);
                assert!(same(g, want), "{name}: {op}({x:?}) = {g:?}, exp gives {want:?}");
            }
        }
    }

    /// Masks from comparisons, combined, tested and read as bits, against scalar comparisons.
    fn masks_agree_with_scalar<T: Real, M: Math<T>>(m: M, name: &str) {
        let (a, b) = (operands::<T>(4), operands::<T>(5));
        let full = (1u64 << M::LANES) - 1;
        for (a, b) in a.chunks_exact(M::LANES).zip(b.chunks_exact(M::LANES)) {
            let bits = |f: fn(T, T) -> bool| {
                a.iter().zip(b).enumerate().fold(0u64, |acc, (l, (&x, &y))| acc | u64::from(f(x, y)) << l)
            };
            let (lt, gt) = (bits(|x, y| x < y), bits(|x, y| x > y));
            let (got_lt, got_gt, got_or, got_and, any, all, none) = m.vectorize(|| {
                let (x, y) = (m.load(a), m.load(b));
                let (l, g) = (m.lt_mask(x, y), m.gt_mask(x, y));
                (
                    m.lane_bits(l),
                    m.lane_bits(g),
                    m.lane_bits(m.or_mask(l, g)),
                    m.lane_bits(m.and_mask(l, m.or_mask(l, g))),
                    m.any(l),
                    m.all(m.or_mask(l, m.tail(M::LANES))),
                    m.lane_bits(m.tail(0)),
                )
            });
            assert_eq!((got_lt, got_gt), (lt, gt), "{name}: comparison masks of {a:?} and {b:?}");
            assert_eq!((got_or, got_and), (lt | gt, lt), "{name}: combined masks");
            assert_eq!((any, all, none), (lt != 0, true, 0), "{name}: tests of masks");
            assert_eq!(m.vectorize(|| m.all(m.lt_mask(m.load(a), m.load(b)))), lt == full, "{name}: all");
        }
    }

    /// `rotate_up` and `rotate_up_idx` move each lane up by one, the last to lane 0; `load_idx`
    /// reads what `store_idx` wrote.
    fn rotation_agrees_with_scalar<T: Real, M: Math<T>>(m: M, name: &str) {
        let n = M::LANES;
        let values: Vec<T> = (0..n).map(|l| T::from_f64(l as f64 + 0.5)).collect();
        let (mut got, mut got_idx) = (vec![T::ZERO; n], vec![0u32; n]);
        m.vectorize(|| {
            m.store(m.rotate_up(m.load(&values)), &mut got);
            m.store_idx(m.rotate_up_idx(m.iota(100)), &mut got_idx);
        });
        let mut loaded = vec![0u32; n];
        m.vectorize(|| m.store_idx(m.load_idx(&got_idx), &mut loaded));
        assert_eq!(loaded, got_idx, "{name}: load_idx");
        let want: Vec<T> = (0..n).map(|l| values[(l + n - 1) % n]).collect();
        let want_idx: Vec<u32> = (0..n).map(|l| 100 + ((l + n - 1) % n) as u32).collect();
        assert_eq!((got, got_idx), (want, want_idx), "{name}: rotate_up");
    }

    /// `all_below_abs` on blocks of 1 to 4 vectors, mostly below the bound, some with a value
    /// at, just below or beyond it, NaN or infinite: never true where a lane is not below the
    /// bound, and exact for bounds with a short significand (those of exp). `all_below` on the
    /// same blocks, exactly.
    fn below_abs_agrees_with_scalar<T: Real, M: Math<T>>(m: M, name: &str) {
        let mut rng = Rng::new(5);
        let mut uniform = move || rng.unit();
        for (bound, exact) in [(86.0, true), (700.0, true), (0.1, false)] {
            let specials = [1.0, 1.0 - 2f64.powi(-23), 1.0 + 2f64.powi(-23), 0.0, f64::INFINITY, f64::NAN]
                .map(|s| T::from_f64(s * bound));
            for rows in 1..=4 {
                for trial in 0..400 {
                    let mut xs: Vec<T> = (0..rows * M::LANES)
                        .map(|_| T::from_f64(bound * 0.999 * (2.0 * uniform() - 1.0)))
                        .collect();
                    if trial % 2 == 1 {
                        let lane = (uniform() * xs.len() as f64) as usize;
                        let special = specials[(uniform() * specials.len() as f64) as usize];
                        xs[lane] = if uniform() < 0.5 { special } else { T::from_f64(-special.to_f64()) };
                    }
                    let want = xs.iter().all(|x| x.to_f64().abs() < bound);
                    let got = m.vectorize(|| {
                        let vs: Vec<M::V> = xs.chunks_exact(M::LANES).map(|c| m.load(c)).collect();
                        m.all_below_abs(&vs, T::from_f64(bound))
                    });
                    assert!(!got || want, "{name}: all_below_abs({xs:?}, {bound}) is true");
                    assert!(!exact || got == want, "{name}: all_below_abs({xs:?}, {bound}) is false");
                    let want = xs.iter().all(|&x| x.to_f64() < bound);
                    let got = m.vectorize(|| {
                        let vs: Vec<M::V> = xs.chunks_exact(M::LANES).map(|c| m.load(c)).collect();
                        m.all_below(&vs, T::from_f64(bound))
                    });
                    assert_eq!(got, want, "{name}: all_below({xs:?}, {bound})");
                }
            }
        }
    }

    /// `mul_tiny` and `mul_add_tiny` on operands at the bottom of the range, against
    /// `Scalar`'s `mul` and `mul_add`, to the bit: subnormals, products and sums that round into
    /// the subnormal range or out of it, cancellations, and a sum whose exact value lies just
    /// below a midpoint of the result's precision, by less than a wider type's rounding error,
    /// so that rounding twice (to the wider type, then back) would take the midpoint's even
    /// neighbour instead of the value below.
    fn tiny_products_agree_with_scalar<T: Real, M: Math<T>>(m: M, name: &str) {
        let s = T::Scalar::default();
        let (precision, least_exp) =
            if T::from_f64(1e-300).to_f64() != 0.0 { (53, -1074) } else { (24, -149) };
        let least = 2f64.powi(least_exp);
        let mut rng = Rng::new(11);
        let mut next = move || rng.unit();
        // (2^h + 3) least * (2^h - 3) 2^e = 2^-p (1 - 9 2^-2h), added to the odd 1 + 2^(1-p).
        let h = precision - 4;
        let (k, q) = (2f64.powi(h) + 3.0, 2f64.powi(h) - 3.0);
        let e = -precision - 2 * h - least_exp;
        let odd = 1.0 + 2f64.powi(1 - precision);
        let mut triples = vec![
            (k * least, q * 2f64.powi(e), odd),
            (-k * least, q * 2f64.powi(e), -odd),
            (k * least, -q * 2f64.powi(e), odd),
            (0.0, 1.0, least),
            (-0.0, 1.0, -least),
            (least, -1.0, least),
            (least, 0.5, 0.0),
            (3.0 * least, 0.5, -0.0),
            (least, f64::INFINITY, 1.0),
            (least, 1.0, f64::NAN),
        ];
        for _ in 0..20_000 {
            let sign = |u: f64| if u < 0.5 { -1.0 } else { 1.0 };
            let bits = (next() * f64::from(precision - 1)).floor();
            let a = sign(next())
                * (next() * 2f64.powf(bits)).floor().max(1.0)
                * least
                * if next() < 0.3 { 2f64.powf((next() * 40.0).floor()) } else { 1.0 };
            let target = f64::from(least_exp) - 30.0 + next() * f64::from(3 * precision + 30);
            let b = sign(next()) * (1.0 + next()) * 2f64.powf(target.floor() - a.abs().log2().floor());
            let c = match (next() * 6.0) as u32 {
                0 => 0.0,
                1 => sign(next()) * (next() * 64.0).floor() * least,
                2 => -a * b * (1.0 + (next() - 0.5) * 2f64.powi(-10)),
                3 => sign(next()) * a.abs() * b.abs() * 2f64.powf((next() * 60.0 - 30.0).floor()),
                4 => sign(next()) * (1.0 + next()),
                _ => -a * b,
            };
            triples.push((a, b, c));
        }
        let lanes = M::LANES;
        let load = |xs: &[f64]| m.load(&xs.iter().map(|&x| T::from_f64(x)).collect::<Vec<_>>());
        let mut checked = 0;
        for chunk in triples.chunks_exact(lanes) {
            let (a, b, c): (Vec<f64>, Vec<f64>, Vec<f64>) = (
                chunk.iter().map(|t| t.0).collect(),
                chunk.iter().map(|t| t.1).collect(),
                chunk.iter().map(|t| t.2).collect(),
            );
            let (mut product, mut sum) = (vec![T::ZERO; lanes], vec![T::ZERO; lanes]);
            m.vectorize(|| {
                let (va, vb, vc) = (load(&a), load(&b), load(&c));
                m.store(m.mul_tiny(true, va, vb), &mut product);
                m.store(m.mul_add_tiny(va, vb, vc), &mut sum);
            });
            for l in 0..lanes {
                let (a, b, c) = (T::from_f64(a[l]), T::from_f64(b[l]), T::from_f64(c[l]));
                let (want_product, want_sum) = (s.mul(a, b), s.mul_add(a, b, c));
                assert!(
                    same(product[l], want_product),
                    "{name}: mul_tiny({a:?}, {b:?}) = {:?}, not {want_product:?}",
                    product[l]
                );
                assert!(
                    same(sum[l], want_sum),
                    "{name}: mul_add_tiny({a:?}, {b:?}, {c:?}) = {:?}, not {want_sum:?}",
                    sum[l]
                );
                checked += 1;
            }
        }
        assert!(checked >= 20_000, "{name}: only {checked} lanes checked");
    }

    #[test]
    fn every_tier_computes_what_scalar_computes() {
        tiny_products_agree_with_scalar(Scalar::<f32>::new(), "scalar f32");
        tiny_products_agree_with_scalar(Lanes::<f32, 4, Baseline>::new(Baseline), "baseline f32");
        tiny_products_agree_with_scalar(Lanes::<f64, 2, Baseline>::new(Baseline), "baseline f64");
        agrees_with_scalar(Lanes::<f32, 4, Baseline>::new(Baseline), "baseline f32");
        agrees_with_scalar(Lanes::<f64, 2, Baseline>::new(Baseline), "baseline f64");
        ldexp_agrees_with_scalar(Lanes::<f32, 4, Baseline>::new(Baseline), "baseline f32");
        exp_nonpositive_agrees_with_exp(Scalar::<f32>::new(), "scalar f32");
        exp_nonpositive_agrees_with_exp(Scalar::<f64>::new(), "scalar f64");
        exp_nonpositive_agrees_with_exp(Lanes::<f32, 4, Baseline>::new(Baseline), "baseline f32");
        exp_below_agrees_with_exp(Scalar::<f32>::new(), "scalar f32");
        exp_below_agrees_with_exp(Scalar::<f64>::new(), "scalar f64");
        exp_below_agrees_with_exp(Lanes::<f64, 2, Baseline>::new(Baseline), "baseline f64");
        masks_agree_with_scalar(Scalar::<f32>::new(), "scalar f32");
        rotation_agrees_with_scalar(Scalar::<f64>::new(), "scalar f64");
        rotation_agrees_with_scalar(Lanes::<f32, 4, Baseline>::new(Baseline), "baseline f32");
        rotation_agrees_with_scalar(Lanes::<f64, 2, Baseline>::new(Baseline), "baseline f64");
        below_abs_agrees_with_scalar(Scalar::<f32>::new(), "scalar f32");
        below_abs_agrees_with_scalar(Scalar::<f64>::new(), "scalar f64");
        below_abs_agrees_with_scalar(Lanes::<f32, 4, Baseline>::new(Baseline), "baseline f32");
        below_abs_agrees_with_scalar(Lanes::<f64, 2, Baseline>::new(Baseline), "baseline f64");
        masks_agree_with_scalar(Lanes::<f32, 4, Baseline>::new(Baseline), "baseline f32");
        masks_agree_with_scalar(Lanes::<f64, 2, Baseline>::new(Baseline), "baseline f64");
        #[cfg(target_arch = "x86_64")]
        {
            match pulp::x86::V3::try_new() {
                Some(v3) => {
                    agrees_with_scalar(Avx2F32::new(v3), "avx2 f32");
                    tiny_products_agree_with_scalar(Avx2F32::new(v3), "avx2 f32");
                    tiny_products_agree_with_scalar(Avx2F64::new(v3), "avx2 f64");
                    agrees_with_scalar(Avx2F64::new(v3), "avx2 f64");
                    ldexp_agrees_with_scalar(Avx2F32::new(v3), "avx2 f32");
                    ldexp_agrees_with_scalar(Avx2F64::new(v3), "avx2 f64");
                    exp_nonpositive_agrees_with_exp(Avx2F32::new(v3), "avx2 f32");
                    exp_nonpositive_agrees_with_exp(Avx2F64::new(v3), "avx2 f64");
                    exp_below_agrees_with_exp(Avx2F32::new(v3), "avx2 f32");
                    exp_below_agrees_with_exp(Avx2F64::new(v3), "avx2 f64");
                    masks_agree_with_scalar(Avx2F32::new(v3), "avx2 f32");
                    masks_agree_with_scalar(Avx2F64::new(v3), "avx2 f64");
                    below_abs_agrees_with_scalar(Avx2F32::new(v3), "avx2 f32");
                    below_abs_agrees_with_scalar(Avx2F64::new(v3), "avx2 f64");
                    rotation_agrees_with_scalar(Avx2F32::new(v3), "avx2 f32");
                    rotation_agrees_with_scalar(Avx2F64::new(v3), "avx2 f64");
                }
                None => println!("SKIPPED: avx2 (not supported by this CPU)"),
            }
            match pulp::x86::V4::try_new() {
                Some(v4) => {
                    agrees_with_scalar(Avx512F32::new(v4), "avx512 f32");
                    tiny_products_agree_with_scalar(Avx512F32::new(v4), "avx512 f32");
                    tiny_products_agree_with_scalar(Avx512F64::new(v4), "avx512 f64");
                    agrees_with_scalar(Avx512F64::new(v4), "avx512 f64");
                    ldexp_agrees_with_scalar(Avx512F32::new(v4), "avx512 f32");
                    ldexp_agrees_with_scalar(Avx512F64::new(v4), "avx512 f64");
                    exp_nonpositive_agrees_with_exp(Avx512F32::new(v4), "avx512 f32");
                    exp_nonpositive_agrees_with_exp(Avx512F64::new(v4), "avx512 f64");
                    exp_below_agrees_with_exp(Avx512F32::new(v4), "avx512 f32");
                    exp_below_agrees_with_exp(Avx512F64::new(v4), "avx512 f64");
                    masks_agree_with_scalar(Avx512F32::new(v4), "avx512 f32");
                    masks_agree_with_scalar(Avx512F64::new(v4), "avx512 f64");
                    below_abs_agrees_with_scalar(Avx512F32::new(v4), "avx512 f32");
                    below_abs_agrees_with_scalar(Avx512F64::new(v4), "avx512 f64");
                    rotation_agrees_with_scalar(Avx512F32::new(v4), "avx512 f32");
                    rotation_agrees_with_scalar(Avx512F64::new(v4), "avx512 f64");
                }
                None => println!("SKIPPED: avx512 (not supported by this CPU)"),
            }
        }
    }
}
