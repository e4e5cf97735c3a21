//! The arithmetic that generated kernels are written against.
//!
//! Generated code calls `m.exp(x)`, `m.mul_add(a, b, c)`, ... on a [`Math`] value: one method
//! per scalar primitive of keops-core's instruction set (`keops_core::prim::Prim`), plus what
//! reductions need (comparisons, blends, lane indices). [`Scalar`] implements it with one lane;
//! SIMD implementations hold several consecutive pairs per value.

use std::fmt::Debug;
use std::marker::PhantomData;

/// A floating-point element type: `f32` or `f64`.
pub trait Real: Copy + Send + Sync + PartialOrd + Debug + Default + 'static {
    /// One-lane arithmetic on this type (used to merge per-row results).
    type Scalar: Math<Self, V = Self, Mask = bool, Idx = u32> + Default;
    const ZERO: Self;
    const ONE: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// An index as a number, as `eval_flat` returns indices (exact below 2^24 for f32).
    fn from_index(i: usize) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            type Scalar = Scalar<$t>;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_index(i: usize) -> Self {
                i as $t
            }
        }
    };
}
real!(f32);
real!(f64);

/// Lane-wise arithmetic on values of `LANES` elements of `T`.
///
/// The primitive methods follow KeOps' C semantics: `min(a, b) = a < b ? a : b`,
/// `max(a, b) = a > b ? a : b`, `rsqrt(0) = 0`, `step(x) = x < 0 ? 0 : 1`,
/// `sign(x) = x > 0 ? 1 : (x < 0 ? -1 : 0)`, `select(c, a, b) = c >= 0 ? a : b`.
pub trait Math<T: Real>: Copy + Send + Sync + 'static {
    type V: Copy + Send + Sync;
    /// One boolean per lane.
    type Mask: Copy;
    /// One `u32` index per lane.
    type Idx: Copy + Send + Sync;
    const LANES: usize;

    fn splat(self, x: T) -> Self::V;
    /// Loads the first `LANES` elements of `src`.
    fn load(self, src: &[T]) -> Self::V;
    /// Stores into the first `LANES` elements of `dst`.
    fn store(self, v: Self::V, dst: &mut [T]);

    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, fused.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn neg(self, a: Self::V) -> Self::V;
    fn abs(self, a: Self::V) -> Self::V;
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    fn exp(self, a: Self::V) -> Self::V;
    fn log(self, a: Self::V) -> Self::V;
    fn sqrt(self, a: Self::V) -> Self::V;
    fn rsqrt(self, a: Self::V) -> Self::V;
    fn sin(self, a: Self::V) -> Self::V;
    fn cos(self, a: Self::V) -> Self::V;
    fn atan2(self, y: Self::V, x: Self::V) -> Self::V;
    fn floor(self, a: Self::V) -> Self::V;
    fn sign(self, a: Self::V) -> Self::V;
    fn step(self, a: Self::V) -> Self::V;
    fn select(self, c: Self::V, a: Self::V, b: Self::V) -> Self::V;

    /// `a < b` per lane.
    fn lt(self, a: Self::V, b: Self::V) -> Self::Mask;
    /// `a > b` per lane.
    fn gt(self, a: Self::V, b: Self::V) -> Self::Mask;
    /// `a` where the mask is set, else `b`.
    fn blend(self, mask: Self::Mask, a: Self::V, b: Self::V) -> Self::V;
    /// The first `valid` lanes set.
    fn tail(self, valid: usize) -> Self::Mask;
    /// Lane `l` holds `base + l`.
    fn iota(self, base: u32) -> Self::Idx;
    fn blend_idx(self, mask: Self::Mask, a: Self::Idx, b: Self::Idx) -> Self::Idx;
    fn store_idx(self, i: Self::Idx, dst: &mut [u32]);
    /// Sum of the lanes.
    fn reduce_sum(self, v: Self::V) -> T;
}

/// One lane: plain scalar code.
#[derive(Debug)]
pub struct Scalar<T>(PhantomData<T>);

impl<T> Scalar<T> {
    pub const fn new() -> Self {
        Scalar(PhantomData)
    }
}

impl<T> Clone for Scalar<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Scalar<T> {}

impl<T> Default for Scalar<T> {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! scalar_math {
    ($t:ty) => {
        impl Math<$t> for Scalar<$t> {
            type V = $t;
            type Mask = bool;
            type Idx = u32;
            const LANES: usize = 1;

            #[inline(always)]
            fn splat(self, x: $t) -> $t {
                x
            }
            #[inline(always)]
            fn load(self, src: &[$t]) -> $t {
                src[0]
            }
            #[inline(always)]
            fn store(self, v: $t, dst: &mut [$t]) {
                dst[0] = v;
            }
            #[inline(always)]
            fn add(self, a: $t, b: $t) -> $t {
                a + b
            }
            #[inline(always)]
            fn sub(self, a: $t, b: $t) -> $t {
                a - b
            }
            #[inline(always)]
            fn mul(self, a: $t, b: $t) -> $t {
                a * b
            }
            #[inline(always)]
            fn div(self, a: $t, b: $t) -> $t {
                a / b
            }
            #[inline(always)]
            fn mul_add(self, a: $t, b: $t, c: $t) -> $t {
                a.mul_add(b, c)
            }
            #[inline(always)]
            fn neg(self, a: $t) -> $t {
                -a
            }
            #[inline(always)]
            fn abs(self, a: $t) -> $t {
                a.abs()
            }
            #[inline(always)]
            fn min(self, a: $t, b: $t) -> $t {
                if a < b { a } else { b }
            }
            #[inline(always)]
            fn max(self, a: $t, b: $t) -> $t {
                if a > b { a } else { b }
            }
            #[inline(always)]
            fn exp(self, a: $t) -> $t {
                a.exp()
            }
            #[inline(always)]
            fn log(self, a: $t) -> $t {
                a.ln()
            }
            #[inline(always)]
            fn sqrt(self, a: $t) -> $t {
                a.sqrt()
            }
            #[inline(always)]
            fn rsqrt(self, a: $t) -> $t {
                if a == 0.0 { 0.0 } else { 1.0 / a.sqrt() }
            }
            #[inline(always)]
            fn sin(self, a: $t) -> $t {
                a.sin()
            }
            #[inline(always)]
            fn cos(self, a: $t) -> $t {
                a.cos()
            }
            #[inline(always)]
            fn atan2(self, y: $t, x: $t) -> $t {
                y.atan2(x)
            }
            #[inline(always)]
            fn floor(self, a: $t) -> $t {
                a.floor()
            }
            #[inline(always)]
            fn sign(self, a: $t) -> $t {
                if a > 0.0 {
                    1.0
                } else if a < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            #[inline(always)]
            fn step(self, a: $t) -> $t {
                if a < 0.0 { 0.0 } else { 1.0 }
            }
            #[inline(always)]
            fn select(self, c: $t, a: $t, b: $t) -> $t {
                if c >= 0.0 { a } else { b }
            }
            #[inline(always)]
            fn lt(self, a: $t, b: $t) -> bool {
                a < b
            }
            #[inline(always)]
            fn gt(self, a: $t, b: $t) -> bool {
                a > b
            }
            #[inline(always)]
            fn blend(self, mask: bool, a: $t, b: $t) -> $t {
                if mask { a } else { b }
            }
            #[inline(always)]
            fn tail(self, valid: usize) -> bool {
                valid > 0
            }
            #[inline(always)]
            fn iota(self, base: u32) -> u32 {
                base
            }
            #[inline(always)]
            fn blend_idx(self, mask: bool, a: u32, b: u32) -> u32 {
                if mask { a } else { b }
            }
            #[inline(always)]
            fn store_idx(self, i: u32, dst: &mut [u32]) {
                dst[0] = i;
            }
            #[inline(always)]
            fn reduce_sum(self, v: $t) -> $t {
                v
            }
        }
    };
}
scalar_math!(f32);
scalar_math!(f64);
