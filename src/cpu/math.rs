//! The arithmetic that generated kernels are written against.
//!
//! Generated code calls `m.mul_add(a, b, c)`, `m.ldexp(x, n)`, ... on a [`Math`] value: one
//! method per *basic* scalar primitive of keops-core's instruction set (`keops_core::prim::Prim`),
//! plus what reductions need (comparisons, blends, lane indices). Transcendental functions
//! (`exp`, `log`, `sin`, `atan2`, `rsqrt`, ...) are not here: keops-core expands them into basic
//! primitives when it lowers a formula, so every implementation computes them identically.
//! [`Scalar`] implements it with one lane; SIMD implementations hold several consecutive pairs
//! per value.

use std::fmt::Debug;
use std::marker::PhantomData;

use keops_abi::bits;

use super::driver::{RowFeatures, TierKernel};
use super::interp::{Call, Program};
use super::simd::WithMath;
use crate::info::KernelInfo;
use crate::kernel::Array;
#[cfg(feature = "cuda")]
use crate::{error::Result, kernel::GpuModule};

/// A floating-point element type of kernels: `f32` or `f64`. Its other items are what kernels
/// compute with, not a stable API.
pub trait Real:
    Copy + Send + Sync + PartialOrd + Debug + Default + 'static + crate::backend::GpuElement
{
    /// One-lane arithmetic on this type (used to merge per-row results).
    #[doc(hidden)]
    type Scalar: Math<Self, V = Self, Mask = bool, Idx = u32> + Default;
    /// keops-core's `exp_normal_bound`: `exp` of an argument of smaller magnitude is normal.
    #[doc(hidden)]
    const EXP_NORMAL_BOUND: Self;
    #[doc(hidden)]
    const ZERO: Self;
    #[doc(hidden)]
    const ONE: Self;
    #[doc(hidden)]
    const INFINITY: Self;
    #[doc(hidden)]
    const NEG_INFINITY: Self;
    /// The nearest value of this type.
    fn from_f64(x: f64) -> Self;
    /// This value as an `f64` (exact).
    fn to_f64(self) -> f64;
    /// An index as a number, as `eval_flat` returns indices (exact below 2^24 for f32).
    #[doc(hidden)]
    fn from_index(i: usize) -> Self;
    /// `exp` on lanes, as generated kernels compute it.
    #[doc(hidden)]
    fn exp<M: Math<Self>>(m: M, x: M::V) -> M::V;
    /// [`Real::exp`] of a block of values, all in `[-80, 0]`: the same values, with fewer
    /// operations.
    #[doc(hidden)]
    fn exp_nonpositive<M: Math<Self>, A: Array<M::V>>(m: M, x: &A) -> A;
    /// [`Real::exp`] of a block of values below keops-core's `exp_normal_bound` (86 or 700),
    /// however far below: the same values, with fewer operations.
    #[doc(hidden)]
    fn exp_below<M: Math<Self>, A: Array<M::V>>(m: M, x: &A) -> A;
    /// `log` on lanes, as generated kernels compute it.
    #[doc(hidden)]
    fn log<M: Math<Self>>(m: M, x: M::V) -> M::V;
    /// `rsqrt` on lanes, as generated kernels compute it.
    #[doc(hidden)]
    fn rsqrt<M: Math<Self>>(m: M, x: M::V) -> M::V;
    /// `sin` on lanes, as generated kernels compute it.
    #[doc(hidden)]
    fn sin<M: Math<Self>>(m: M, x: M::V) -> M::V;
    /// Runs `op` with the widest SIMD implementation the machine has for this type.
    #[doc(hidden)]
    fn dispatch<Op: WithMath<Self>>(op: Op) -> Op::Output;
    /// [`Real::dispatch`] if kernels are compiled for that implementation's tier; else gives
    /// `op` back.
    #[doc(hidden)]
    fn dispatch_compiled<Op: WithMath<Self>>(op: Op) -> Result<Op::Output, Op>;
    /// Runs a kernel's program in the interpreter, whose code for this type is compiled in
    /// this crate.
    #[doc(hidden)]
    fn interpret(program: &Program<Self>, info: &KernelInfo, call: Call<'_, Self>);
    /// Runs a kernel's GPU module on device `ordinal`, with code for this type compiled in
    /// this crate.
    #[cfg(feature = "cuda")]
    #[doc(hidden)]
    fn run_gpu(ordinal: usize, module: &GpuModule, info: &KernelInfo, call: Call<'_, Self>) -> Result<()>;
}

macro_rules! real {
    ($t:ty, $exp:ident, $exp_nonpositive:ident, $exp_below:ident, $log:ident, $rsqrt:ident, $sin:ident, $dispatch:ident, $compiled:ident, $bound:ident, $interpret:ident, $gpu:ident) => {
        impl Real for $t {
            type Scalar = Scalar<$t>;
            const EXP_NORMAL_BOUND: Self = super::mathfns::$bound;
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
            #[inline(always)]
            fn exp<M: Math<Self>>(m: M, x: M::V) -> M::V {
                super::mathfns::$exp(m, x)
            }
            #[inline(always)]
            fn exp_nonpositive<M: Math<Self>, A: Array<M::V>>(m: M, x: &A) -> A {
                super::mathfns::$exp_nonpositive(m, x)
            }
            #[inline(always)]
            fn exp_below<M: Math<Self>, A: Array<M::V>>(m: M, x: &A) -> A {
                super::mathfns::$exp_below(m, x)
            }
            #[inline(always)]
            fn log<M: Math<Self>>(m: M, x: M::V) -> M::V {
                super::mathfns::$log(m, x)
            }
            #[inline(always)]
            fn rsqrt<M: Math<Self>>(m: M, x: M::V) -> M::V {
                super::mathfns::$rsqrt(m, x)
            }
            #[inline(always)]
            fn sin<M: Math<Self>>(m: M, x: M::V) -> M::V {
                super::mathfns::$sin(m, x)
            }
            fn dispatch<Op: WithMath<Self>>(op: Op) -> Op::Output {
                super::simd::$dispatch(op)
            }
            fn dispatch_compiled<Op: WithMath<Self>>(op: Op) -> Result<Op::Output, Op> {
                super::simd::$compiled(op)
            }
            fn interpret(program: &Program<Self>, info: &KernelInfo, call: Call<'_, Self>) {
                super::interp::$interpret(program, info, call)
            }
            #[cfg(feature = "cuda")]
            fn run_gpu(
                ordinal: usize,
                module: &GpuModule,
                info: &KernelInfo,
                call: Call<'_, Self>,
            ) -> Result<()> {
                crate::backend::gpu::$gpu(ordinal, module, info, call)
            }
        }
    };
}
real!(
    f32,
    exp_f32,
    exp_nonpositive_f32,
    exp_below_f32,
    log_f32,
    rsqrt_f32,
    sin_f32,
    dispatch_f32,
    dispatch_compiled_f32,
    EXP_NORMAL_BOUND_F32,
    run_f32,
    run_f32
);
real!(
    f64,
    exp_f64,
    exp_nonpositive_f64,
    exp_below_f64,
    log_f64,
    rsqrt_f64,
    sin_f64,
    dispatch_f64,
    dispatch_compiled_f64,
    EXP_NORMAL_BOUND_F64,
    run_f64,
    run_f64
);

/// Work for [`Math::vectorize`]. A closure is a task, but the compiler decides whether to
/// inline its body, and a large body left out of line loses the target features (every
/// intrinsic becomes a call). Hot loops are therefore tasks whose `run` is `#[inline(always)]`.
pub trait Task {
    type Output;
    fn run(self) -> Self::Output;
}

impl<R, F: FnOnce() -> R> Task for F {
    type Output = R;

    #[inline(always)]
    fn run(self) -> R {
        self()
    }
}

/// A [`Task`] as pulp runs it (in the x86-64 tiers, which enter their target features through
/// pulp).
#[cfg(target_arch = "x86_64")]
pub(crate) struct Pulp<W>(pub W);

#[cfg(target_arch = "x86_64")]
impl<W: Task> pulp::NullaryFnOnce for Pulp<W> {
    type Output = W::Output;

    #[inline(always)]
    fn call(self) -> W::Output {
        self.0.run()
    }
}

/// Lane-wise arithmetic on values of `LANES` elements of `T`.
///
/// The primitive methods follow keops-core's `Prim` semantics, which are KeOps' C semantics:
/// `min(a, b) = a < b ? a : b`, `max(a, b) = a > b ? a : b`, `step(x) = x < 0 ? 0 : 1`,
/// `sign(x) = x > 0 ? 1 : (x < 0 ? -1 : 0)`, `select(c, a, b) = c >= 0 ? a : b`, comparisons
/// give 1 or 0. Each result is rounded once to `T` (`mul_add` is fused): the expansions of the
/// transcendental functions rely on it for their accuracy.
pub trait Math<T: Real>: Copy + Send + Sync + 'static {
    type V: Copy + Send + Sync;
    /// One boolean per lane.
    type Mask: Copy;
    /// One `u32` index per lane.
    type Idx: Copy + Send + Sync;
    const LANES: usize;

    /// Runs `task` compiled with this implementation's target features; hot loops must run
    /// inside (and be inlined into) it.
    fn vectorize<W: Task>(self, task: W) -> W::Output;

    /// Evaluates a compiled kernel with this tier's lanes. Every tier implements it with
    /// `drive_method!`, which calls `cpu::driver::drive`: a method of a concrete tier is
    /// compiled in this crate, once, where the generic driver, called from a kernel, would be
    /// compiled again in every crate with kernels.
    fn drive(self, features: &dyn RowFeatures<T>, kernel: &dyn TierKernel<T, Self>, call: Call<'_, T>);

    fn splat(self, x: T) -> Self::V;
    /// Loads the first `LANES` elements of `src`.
    fn load(self, src: &[T]) -> Self::V;
    /// Stores into the first `LANES` elements of `dst`.
    fn store(self, v: Self::V, dst: &mut [T]);

    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// [`Math::mul`] where operands are often subnormal: the products that follow an `exp`,
    /// whose results are subnormal wherever its argument is below about -87 (f32) or -708
    /// (f64), as for most pairs of a narrow Gaussian kernel. The same value; for processors
    /// whose multiplier is slow on such operands. `maybe` is false where no operand can be
    /// subnormal but by the inputs' own values (every `exp` of the block was normal).
    #[inline(always)]
    fn mul_tiny(self, maybe: bool, a: Self::V, b: Self::V) -> Self::V {
        let _ = maybe;
        self.mul(a, b)
    }
    /// `a * b + c`, fused.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// [`Math::mul_add`] where operands are often subnormal, as [`Math::mul_tiny`]'s: the
    /// accumulation of a sum of such products.
    #[inline(always)]
    fn mul_add_tiny(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        self.mul_add(a, b, c)
    }
    fn neg(self, a: Self::V) -> Self::V;
    fn abs(self, a: Self::V) -> Self::V;
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    fn sqrt(self, a: Self::V) -> Self::V;
    fn floor(self, a: Self::V) -> Self::V;
    fn round_even(self, a: Self::V) -> Self::V;
    fn sign(self, a: Self::V) -> Self::V;
    fn step(self, a: Self::V) -> Self::V;
    fn select(self, c: Self::V, a: Self::V, b: Self::V) -> Self::V;
    fn lt(self, a: Self::V, b: Self::V) -> Self::V;
    fn le(self, a: Self::V, b: Self::V) -> Self::V;
    fn eq(self, a: Self::V, b: Self::V) -> Self::V;
    fn ne(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * 2^floor(n)`, rounded once.
    fn ldexp(self, a: Self::V, n: Self::V) -> Self::V;
    /// `a * 2^n` for the operands of keops-core's `Prim::LdexpInt` (an integer `n` whose halves
    /// are normal exponents, `|a|` in `[1/2, 2]`): what `exp` ends with, so worth a path without
    /// `ldexp`'s range checks where the instruction set has no direct scaling.
    #[inline(always)]
    fn ldexp_int(self, a: Self::V, n: Self::V) -> Self::V {
        self.ldexp(a, n)
    }
    /// [`Math::ldexp_int`] where `a * 2^n` is moreover known to be a normal number, so exact:
    /// then adding `n` to the exponent field is enough.
    #[inline(always)]
    fn ldexp_normal(self, a: Self::V, n: Self::V) -> Self::V {
        self.ldexp_int(a, n)
    }
    /// [`Math::ldexp_int`] for a positive `a` and `n` at most the largest exponent (127 or
    /// 1023): the result may be subnormal or zero, as `exp`'s of an argument far below zero,
    /// but not infinite unless it is `2 * 2^emax`. Worth its own path where the general one
    /// takes a slow assist, or extra steps, for results below the normal range.
    #[inline(always)]
    fn ldexp_below(self, a: Self::V, n: Self::V) -> Self::V {
        self.ldexp_int(a, n)
    }
    /// Lanes of `n` (an integer, or NaN) where [`Math::ldexp_normal`] computes
    /// [`Math::ldexp_int`] of any `a` in its domain (finite, of magnitude in `[1/2, 2]`): all of
    /// them where it is `ldexp_int`, as by default.
    #[inline(always)]
    fn scales_normally(self, n: Self::V) -> Self::Mask {
        let _ = n;
        self.tail(Self::LANES)
    }
    /// `floor(log2 |a|)` for finite nonzero `a`; -inf for 0, +inf for infinities.
    fn get_exp(self, a: Self::V) -> Self::V;
    /// `|a| / 2^get_exp(a)` in `[1, 2)`; 1 for 0 and infinities.
    fn get_mant(self, a: Self::V) -> Self::V;

    /// `a < b` per lane, as a mask.
    fn lt_mask(self, a: Self::V, b: Self::V) -> Self::Mask;
    /// `a > b` per lane, as a mask.
    fn gt_mask(self, a: Self::V, b: Self::V) -> Self::Mask;
    /// `a == b` per lane, as a mask.
    fn eq_mask(self, a: Self::V, b: Self::V) -> Self::Mask;
    fn and_mask(self, a: Self::Mask, b: Self::Mask) -> Self::Mask;
    fn or_mask(self, a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// Whether `|x| < bound` in every lane of every `xs` (NaN is not): the test that sends a
    /// block of `exp` arguments to a shorter path (below keops-core's `exp_normal_bound` in
    /// generated kernels, below 80 in the softmax reductions). A tier may test against a
    /// slightly smaller bound, if that is cheaper (a block then takes the general path).
    #[inline(always)]
    fn all_below_abs(self, xs: &[Self::V], bound: T) -> bool {
        // Loops rather than iterator adapters, here and in the tiers' versions: a closure may be
        // left out of line, without the target features, where every intrinsic becomes a call.
        let bound = self.splat(bound);
        let mut all = self.tail(Self::LANES);
        for &x in xs {
            all = self.and_mask(all, self.lt_mask(self.abs(x), bound));
        }
        self.all(all)
    }
    /// Whether `x < bound` in every lane of every `xs` (NaN is not): the test that sends a
    /// block of `exp` arguments that [`Math::all_below_abs`] refused to the path of
    /// [`Math::ldexp_below`].
    #[inline(always)]
    fn all_below(self, xs: &[Self::V], bound: T) -> bool {
        let bound = self.splat(bound);
        let mut all = self.tail(Self::LANES);
        for &x in xs {
            all = self.and_mask(all, self.lt_mask(x, bound));
        }
        self.all(all)
    }
    /// `exp` of each of `xs` as generated kernels compute it, clamped, for a block of a pair
    /// stage's `exp` arguments of which one at least is above `T::EXP_NORMAL_BOUND` or NaN
    /// (neither [`Math::all_below_abs`] nor [`Math::all_below`]): an overflow, rare. Every tier
    /// implements it with `exp_beyond_method!`, out of line: compiled once per tier and type,
    /// in this crate for the x86-64 tiers (the portable lanes', generic, once per crate that
    /// uses them). Inlined into each kernel, this path was a large part of a small kernel's
    /// code, which every build of the user's crate optimised again.
    fn exp_beyond(self, xs: &mut [Self::V]);
    /// Whether any lane is set.
    fn any(self, mask: Self::Mask) -> bool;
    /// Whether every lane is set.
    fn all(self, mask: Self::Mask) -> bool;
    /// The set lanes, as the bits of an integer (lane `l` is bit `l`).
    fn lane_bits(self, mask: Self::Mask) -> u64;
    /// `a` where the mask is set, else `b`.
    fn blend(self, mask: Self::Mask, a: Self::V, b: Self::V) -> Self::V;
    /// The first `valid` lanes set.
    fn tail(self, valid: usize) -> Self::Mask;
    /// Lanes `from..to` set (`from <= to`): a chunk of reduced rows that a range starts in.
    fn lanes_between(self, from: usize, to: usize) -> Self::Mask;
    /// Lane `l` holds `base + l`.
    fn iota(self, base: u32) -> Self::Idx;
    fn splat_idx(self, i: u32) -> Self::Idx;
    fn blend_idx(self, mask: Self::Mask, a: Self::Idx, b: Self::Idx) -> Self::Idx;
    fn store_idx(self, i: Self::Idx, dst: &mut [u32]);
    /// Loads the first `LANES` indices of `src`.
    fn load_idx(self, src: &[u32]) -> Self::Idx;
    /// Lane `l` takes lane `l - 1`, lane 0 the last lane: blended at lane 0 with the previous
    /// value's rotation, it shifts the slots of a sorted selection held in consecutive values
    /// by one (the K-selections' insertion).
    fn rotate_up(self, v: Self::V) -> Self::V;
    /// [`Math::rotate_up`] of indices.
    fn rotate_up_idx(self, i: Self::Idx) -> Self::Idx;
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

/// [`Math::drive`] for a tier over `$t`.
macro_rules! drive_method {
    ($t:ty) => {
        fn drive(
            self,
            features: &dyn $crate::cpu::driver::RowFeatures<$t>,
            kernel: &dyn $crate::cpu::driver::TierKernel<$t, Self>,
            call: $crate::cpu::interp::Call<'_, $t>,
        ) {
            $crate::cpu::driver::drive(self, features, kernel, call)
        }
    };
}
pub(crate) use drive_method;

/// [`Math::exp_beyond`] for a tier.
macro_rules! exp_beyond_method {
    () => {
        #[inline(never)]
        fn exp_beyond(self, xs: &mut [Self::V]) {
            self.vectorize($crate::cpu::math::ExpBeyond { m: self, xs })
        }
    };
}
pub(crate) use exp_beyond_method;

/// [`Math::exp_beyond`]'s work, as a task for [`Math::vectorize`].
pub(crate) struct ExpBeyond<'a, T: Real, M: Math<T>> {
    pub(crate) m: M,
    pub(crate) xs: &'a mut [M::V],
}

impl<T: Real, M: Math<T>> Task for ExpBeyond<'_, T, M> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let ExpBeyond { m, xs } = self;
        for x in xs.iter_mut() {
            *x = T::exp(m, *x);
        }
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
            fn vectorize<W: Task>(self, task: W) -> W::Output {
                task.run()
            }
            drive_method!($t);
            exp_beyond_method!();

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
            fn sqrt(self, a: $t) -> $t {
                a.sqrt()
            }
            #[inline(always)]
            fn floor(self, a: $t) -> $t {
                a.floor()
            }
            #[inline(always)]
            fn round_even(self, a: $t) -> $t {
                a.round_ties_even()
            }
            #[inline(always)]
            fn lt(self, a: $t, b: $t) -> $t {
                if a < b { 1.0 } else { 0.0 }
            }
            #[inline(always)]
            fn le(self, a: $t, b: $t) -> $t {
                if a <= b { 1.0 } else { 0.0 }
            }
            #[inline(always)]
            fn eq(self, a: $t, b: $t) -> $t {
                if a == b { 1.0 } else { 0.0 }
            }
            #[inline(always)]
            fn ne(self, a: $t, b: $t) -> $t {
                if a != b { 1.0 } else { 0.0 }
            }
            #[inline(always)]
            fn ldexp(self, a: $t, n: $t) -> $t {
                bits::ldexp(a as f64, n as f64) as $t
            }
            #[inline(always)]
            fn get_exp(self, a: $t) -> $t {
                bits::get_exp(a as f64) as $t
            }
            #[inline(always)]
            fn get_mant(self, a: $t) -> $t {
                bits::get_mant(a as f64) as $t
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
            fn lt_mask(self, a: $t, b: $t) -> bool {
                a < b
            }
            #[inline(always)]
            fn gt_mask(self, a: $t, b: $t) -> bool {
                a > b
            }
            #[inline(always)]
            fn eq_mask(self, a: $t, b: $t) -> bool {
                a == b
            }
            #[inline(always)]
            fn and_mask(self, a: bool, b: bool) -> bool {
                a && b
            }
            #[inline(always)]
            fn or_mask(self, a: bool, b: bool) -> bool {
                a || b
            }
            #[inline(always)]
            fn any(self, mask: bool) -> bool {
                mask
            }
            #[inline(always)]
            fn all(self, mask: bool) -> bool {
                mask
            }
            #[inline(always)]
            fn lane_bits(self, mask: bool) -> u64 {
                u64::from(mask)
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
            fn lanes_between(self, from: usize, to: usize) -> bool {
                from == 0 && to > 0
            }
            #[inline(always)]
            fn iota(self, base: u32) -> u32 {
                base
            }
            #[inline(always)]
            fn splat_idx(self, i: u32) -> u32 {
                i
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
            fn load_idx(self, src: &[u32]) -> u32 {
                src[0]
            }
            #[inline(always)]
            fn rotate_up(self, v: $t) -> $t {
                v
            }
            #[inline(always)]
            fn rotate_up_idx(self, i: u32) -> u32 {
                i
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
