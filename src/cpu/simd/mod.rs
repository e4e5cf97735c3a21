//! SIMD dispatch: the widest instruction set the machine has, chosen at run time, so that one
//! binary built for the x86-64 (or aarch64) baseline uses AVX-512, AVX2+FMA or SSE2 (NEON).
//!
//! Detection is pulp's (`V4::try_new`, `V3::try_new`), and code for a tier runs inside pulp's
//! `vectorize`, which compiles it with that tier's target features. AVX-512 has a hand-written
//! [`Math`] implementation; the other tiers use [`Lanes`], fixed-size arrays of lanes that apply
//! the scalar semantics lane by lane and that the compiler vectorises for the tier's features.
//! Every tier computes exactly what [`Scalar`](super::math::Scalar) computes, lane for lane.
//!
//! `KEOPS_SIMD=avx512|avx2|baseline|scalar` restricts the choice (for tests and comparisons); a
//! tier the machine lacks falls back to the best available one below it.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod lanes;

use std::sync::OnceLock;

use crate::cpu::math::{Math, Real, Scalar};
#[cfg(target_arch = "x86_64")]
pub use avx512::{Avx512F32, Avx512F64};
#[cfg(target_arch = "x86_64")]
pub use lanes::Avx2;
pub use lanes::{Baseline, Lanes};

/// An instruction-set tier, widest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Avx512,
    Avx2,
    Baseline,
    Scalar,
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
        }
    }
}

/// The tier calls run at: the best the machine has, capped by `KEOPS_SIMD`.
pub fn tier() -> Tier {
    static TIER: OnceLock<Tier> = OnceLock::new();
    *TIER.get_or_init(|| {
        let cap = match std::env::var("KEOPS_SIMD").map(|v| v.to_ascii_lowercase()) {
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

/// Runs `op` with the [`Math`] of the current tier for `f32`.
pub fn dispatch_f32<Op: WithMath<f32>>(op: Op) -> Op::Output {
    match tier() {
        #[cfg(target_arch = "x86_64")]
        Tier::Avx512 => match pulp::x86::V4::try_new() {
            Some(v4) => op.with(Avx512F32::new(v4)),
            None => op.with(Scalar::<f32>::new()),
        },
        #[cfg(target_arch = "x86_64")]
        Tier::Avx2 => match pulp::x86::V3::try_new() {
            Some(v3) => op.with(Lanes::<f32, 8, Avx2>::new(Avx2::new(v3))),
            None => op.with(Scalar::<f32>::new()),
        },
        Tier::Scalar => op.with(Scalar::<f32>::new()),
        _ => op.with(Lanes::<f32, 4, Baseline>::new(Baseline)),
    }
}

/// Runs `op` with the [`Math`] of the current tier for `f64`.
pub fn dispatch_f64<Op: WithMath<f64>>(op: Op) -> Op::Output {
    match tier() {
        #[cfg(target_arch = "x86_64")]
        Tier::Avx512 => match pulp::x86::V4::try_new() {
            Some(v4) => op.with(Avx512F64::new(v4)),
            None => op.with(Scalar::<f64>::new()),
        },
        #[cfg(target_arch = "x86_64")]
        Tier::Avx2 => match pulp::x86::V3::try_new() {
            Some(v3) => op.with(Lanes::<f64, 4, Avx2>::new(Avx2::new(v3))),
            None => op.with(Scalar::<f64>::new()),
        },
        Tier::Scalar => op.with(Scalar::<f64>::new()),
        _ => op.with(Lanes::<f64, 2, Baseline>::new(Baseline)),
    }
}
