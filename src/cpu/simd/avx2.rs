//! AVX2 with FMA: 8 `f32` or 4 `f64` lanes, written with intrinsics.
//!
//! Every method computes what [`Scalar`] computes, lane for lane. IEEE operations are exactly
//! rounded and `vminps`/`vmaxps` are the C ternaries `a < b ? a : b` / `a > b ? a : b`, as on
//! AVX-512. AVX2 has no `vscalefps`/`vgetexpps`/`vgetmantps`, so `ldexp`, `get_exp` and
//! `get_mant` work on the exponent bits: exactly when every lane is in the common range (a scale
//! `2^n` that is a normal number, a normal argument), which is checked, and through the scalar
//! definitions otherwise. A multiplication by a normal power of two rounds at most once, so the
//! fast `ldexp` is the single rounding the definition asks for.
//!
//! Masks are vectors with all bits set in the selected lanes, as the comparisons produce them.
//! The intrinsics are reached through pulp's `V3` token, whose existence proves that the CPU
//! supports AVX2 and FMA, so only memory access is `unsafe`.
//!
//! The methods are inlined only where debug assertions are off or this crate is optimised
//! (`keops_optimized`, from the build script): in an unoptimised debug build every inlined call
//! keeps its own stack slots of 32 or 64 bytes, and the kernel of a large formula, inlined
//! whole, then needs more than a thread's 2 MiB of stack. (The kernels of a user's debug build
//! are interpreted, by this crate's code: optimised, it needs them inlined.)

use core::arch::x86_64::*;

use pulp::x86::V3;

use crate::cpu::math::{Math, Pulp, Scalar, Task, drive_method, exp_beyond_method};

/// `_CMP_*` predicates for `vcmpps`: ordered and quiet, except not-equal (true on NaN).
const LT: i32 = _CMP_LT_OQ;
const LE: i32 = _CMP_LE_OQ;
const EQ: i32 = _CMP_EQ_OQ;
const NE: i32 = _CMP_NEQ_UQ;
const GE: i32 = _CMP_GE_OQ;
const GT: i32 = _CMP_GT_OQ;

/// `vroundps` immediates: towards -inf or to nearest even, without the inexact exception.
const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
const ROUND_EVEN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// `x`, passed through an empty `asm!` block so that LLVM no longer knows its value: for
/// [`Math::mul_tiny`]'s -0.
///
/// `a * b + (-0)` is `a * b` for every `a` and `b`, signed zeros included (it is `+0` only if
/// `a * b` is). On AMD's Zen 3, `vmulps` is slow on subnormal operands where `vfmadd` is not:
/// a Gaussian gradient at a narrow width, whose products `exp(..) b_j e_i` are subnormal for
/// most pairs, ran twice as fast with the MXCSR's DAZ bit set (subnormal operands read as
/// zero), and as fast with its products fused instead (1.1 -> 2.3 Gpairs/s), at no cost where
/// they are normal. (Isolated in a small loop, the slowdown comes and goes with the schedule.)
/// LLVM turns a fused multiply-add of a known -0 back into a multiplication, hence the block;
/// being pure, it is hoisted out of the kernel's loops with the constant.
#[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
fn opaque(mut x: __m128i) -> __m128i {
    // SAFETY: the block has no instruction: it only names the register that holds `x`.
    unsafe {
        core::arch::asm!("/* {x} */", x = inout(xmm_reg) x, options(pure, nomem, nostack, preserves_flags));
    }
    x
}

/// 8 lanes of `f32`.
#[derive(Clone, Copy, Debug)]
pub struct Avx2F32(V3);

impl Avx2F32 {
    pub fn new(token: V3) -> Self {
        Avx2F32(token)
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn bits(self, a: __m256) -> __m256i {
        self.0.avx._mm256_castps_si256(a)
    }

    /// The lane permutation of [`Math::rotate_up`]: lane `l` reads lane `l - 1`, lane 0 lane 7.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotation(self) -> __m256i {
        self.0.avx._mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6)
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn with_bits(self, a: __m256i) -> __m256 {
        self.0.avx._mm256_castsi256_ps(a)
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn to_array(self, v: __m256) -> [f32; 8] {
        let mut out = [0.0; 8];
        self.store(v, &mut out);
        out
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn of_array(self, v: [f32; 8]) -> __m256 {
        self.load(&v)
    }

    /// `f` lane by lane: the rare path of `ldexp`, `get_exp` and `get_mant`.
    #[cold]
    #[inline(never)]
    fn per_lane(self, a: __m256, b: __m256, f: fn(Scalar<f32>, f32, f32) -> f32) -> __m256 {
        let (a, b) = (self.to_array(a), self.to_array(b));
        self.of_array(core::array::from_fn(|l| f(Scalar::new(), a[l], b[l])))
    }

    /// The biased exponent field of each lane.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn exponent_field(self, a: __m256) -> __m256i {
        let v = self.0;
        v.avx2._mm256_and_si256(v.avx2._mm256_srli_epi32::<23>(self.bits(a)), v.avx._mm256_set1_epi32(0xff))
    }

    /// `2^e` for exponents `e` in the normal range `[-126, 127]`.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn pow2(self, e: __m256i) -> __m256 {
        let v = self.0;
        self.with_bits(
            v.avx2._mm256_slli_epi32::<23>(v.avx2._mm256_add_epi32(e, v.avx._mm256_set1_epi32(127))),
        )
    }

    /// `a 2^n` for an integer `n` whose halves are normal exponents, as two exact scalings
    /// (`ldexp_int`'s common case). A method rather than a closure: a closure the compiler
    /// leaves out of line loses the target features, and each intrinsic becomes a call.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn scale_by_halves(self, a: __m256, n: __m256) -> __m256 {
        let v = self.0;
        // `n` is an integer: the conversion is exact.
        let e = v.avx._mm256_cvtps_epi32(n);
        let half = v.avx2._mm256_srai_epi32::<1>(e);
        let rest = v.avx2._mm256_sub_epi32(e, half);
        self.mul(self.mul(a, self.pow2(half)), self.pow2(rest))
    }

    /// Whether every lane of `t` is at most `max`, as unsigned integers.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all_at_most(self, t: __m256i, max: i32) -> bool {
        let v = self.0;
        let limit = v.avx._mm256_set1_epi32(max);
        let within = v.avx2._mm256_cmpeq_epi32(v.avx2._mm256_max_epu32(t, limit), limit);
        v.avx2._mm256_movemask_epi8(within) == -1
    }

    /// Whether every lane is a normal number (nonzero, finite, not subnormal).
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all_normal(self, a: __m256) -> bool {
        let v = self.0;
        let e = v.avx2._mm256_sub_epi32(self.exponent_field(a), v.avx._mm256_set1_epi32(1));
        self.all_at_most(e, 253)
    }
}

impl Math<f32> for Avx2F32 {
    type V = __m256;
    type Mask = __m256;
    type Idx = __m256i;
    const LANES: usize = 8;

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn vectorize<W: Task>(self, task: W) -> W::Output {
        self.0.vectorize(Pulp(task))
    }
    drive_method!(f32);
    exp_beyond_method!();
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn splat(self, x: f32) -> __m256 {
        self.0.avx._mm256_set1_ps(x)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn load(self, src: &[f32]) -> __m256 {
        assert!(src.len() >= 8);
        // SAFETY: the slice holds at least 8 floats; loadu has no alignment requirement.
        unsafe { self.0.avx._mm256_loadu_ps(src.as_ptr()) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn store(self, v: __m256, dst: &mut [f32]) {
        assert!(dst.len() >= 8);
        // SAFETY: the slice has room for 8 floats; storeu has no alignment requirement.
        unsafe { self.0.avx._mm256_storeu_ps(dst.as_mut_ptr(), v) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_add_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_sub_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_mul_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul_tiny(self, _: bool, a: __m256, b: __m256) -> __m256 {
        // See `opaque`.
        let neg_zero = self.0.sse2._mm_castsi128_ps(opaque(self.0.sse2._mm_set1_epi32(i32::MIN)));
        self.0.fma._mm256_fmadd_ps(a, b, self.0.avx2._mm256_broadcastss_ps(neg_zero))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_div_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        self.0.fma._mm256_fmadd_ps(a, b, c)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn neg(self, a: __m256) -> __m256 {
        self.0.avx._mm256_xor_ps(a, self.splat(-0.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn abs(self, a: __m256) -> __m256 {
        self.0.avx._mm256_andnot_ps(self.splat(-0.0), a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn min(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_min_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_max_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sqrt(self, a: __m256) -> __m256 {
        self.0.avx._mm256_sqrt_ps(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn floor(self, a: __m256) -> __m256 {
        self.0.avx._mm256_round_ps::<FLOOR>(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn round_even(self, a: __m256) -> __m256 {
        self.0.avx._mm256_round_ps::<ROUND_EVEN>(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sign(self, a: __m256) -> __m256 {
        let zero = self.splat(0.0);
        let negative = self.blend(self.lt_mask(a, zero), self.splat(-1.0), zero);
        self.blend(self.gt_mask(a, zero), self.splat(1.0), negative)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn step(self, a: __m256) -> __m256 {
        self.0.avx._mm256_andnot_ps(self.lt_mask(a, self.splat(0.0)), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn select(self, c: __m256, a: __m256, b: __m256) -> __m256 {
        self.blend(self.0.avx._mm256_cmp_ps::<GE>(c, self.splat(0.0)), a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lt(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_and_ps(self.0.avx._mm256_cmp_ps::<LT>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn le(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_and_ps(self.0.avx._mm256_cmp_ps::<LE>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn eq(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_and_ps(self.0.avx._mm256_cmp_ps::<EQ>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ne(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_and_ps(self.0.avx._mm256_cmp_ps::<NE>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp(self, a: __m256, n: __m256) -> __m256 {
        let v = self.0;
        // For floor(n) in [-252, 254] (NaN and out-of-range lanes convert to i32::MIN, and take
        // the per-lane path): `(a 2^d) 2^c` with `c = clamp(n, -126, 127)` and `d = n - c`,
        // two normal powers of two built in the exponent field. The first product is exact,
        // or so small that both it and the result round to zero, so the second product is the
        // only rounding: subnormal results (exp's underflow) stay on this path.
        let e = v.avx._mm256_cvtps_epi32(self.floor(n));
        if self.all_at_most(v.avx2._mm256_add_epi32(e, v.avx._mm256_set1_epi32(252)), 506) {
            let low = v.avx2._mm256_max_epi32(e, v.avx._mm256_set1_epi32(-126));
            let c = v.avx2._mm256_min_epi32(low, v.avx._mm256_set1_epi32(127));
            let d = v.avx2._mm256_sub_epi32(e, c);
            return self.mul(self.mul(a, self.pow2(d)), self.pow2(c));
        }
        self.per_lane(a, n, |s, a, n| s.ldexp(a, n))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_int(self, a: __m256, n: __m256) -> __m256 {
        let v = self.0;
        // Lanes that may round below the normal range are built from the bits, as on AVX-512
        // (see there): processors of both vendors take a slow assist for every multiplication
        // whose result is subnormal or zero. The others scale by at least 2^-125.
        let low = v.avx._mm256_cmp_ps::<LE>(n, self.splat(-126.0));
        if v.avx._mm256_movemask_ps(low) == 0 {
            return self.scale_by_halves(a, n);
        }
        let direct = self.scale_by_halves(a, self.max(self.splat(-125.0), n));
        let shift =
            self.add(self.min(self.max(n, self.splat(-151.0)), self.splat(-126.0)), self.splat(149.0));
        let q = self.mul(self.abs(a), self.pow2(v.avx._mm256_cvtps_epi32(shift)));
        let two23 = self.splat(8388608.0);
        let subnormal = v.avx2._mm256_sub_epi32(self.bits(self.add(q, two23)), self.bits(two23));
        let normal = v.avx2._mm256_sub_epi32(self.bits(q), v.avx._mm256_set1_epi32(149 << 23));
        let magnitude = self.blend(self.lt_mask(q, two23), self.with_bits(subnormal), self.with_bits(normal));
        let sign = v.avx2._mm256_and_si256(self.bits(a), v.avx._mm256_set1_epi32(i32::MIN));
        let built = self.with_bits(v.avx2._mm256_or_si256(self.bits(magnitude), sign));
        self.blend(low, built, direct)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_below(self, a: __m256, n: __m256) -> __m256 {
        let v = self.0;
        // `n` added to the exponent field of `a` gives the result where that field stays at
        // least 1. Elsewhere `q = a 2^(n + 149)` is normal (its field is at least 23), and
        // `q + 2^23` rounds it to the integer `k` (to nearest even) that the result rounds to
        // in units of the least subnormal 2^-149: the bits of `k 2^-149` (of 2^-126 if
        // `k = 2^23`). Integer operations and one normal addition: no assist, no sign to
        // restore, no clamps.
        let shifted = v.avx2._mm256_slli_epi32::<23>(v.avx._mm256_cvtps_epi32(n));
        let normal = v.avx2._mm256_add_epi32(self.bits(a), shifted);
        let q = self.with_bits(v.avx2._mm256_add_epi32(normal, v.avx._mm256_set1_epi32(149 << 23)));
        let two23 = self.splat(8388608.0);
        let subnormal = v.avx2._mm256_sub_epi32(self.bits(self.add(q, two23)), self.bits(two23));
        let is_normal = v.avx2._mm256_cmpgt_epi32(normal, v.avx._mm256_set1_epi32(0x007f_ffff));
        self.blend(self.with_bits(is_normal), self.with_bits(normal), self.with_bits(subnormal))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn scales_normally(self, n: __m256) -> __m256 {
        // Where `a * 2^n` is normal: the exponent field of `a` is that of 1, give or take 1.
        let above = self.gt_mask(n, self.splat(-125.5));
        self.and_mask(above, self.lt_mask(n, self.splat(126.5)))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_normal(self, a: __m256, n: __m256) -> __m256 {
        let v = self.0;
        // The result is normal, so `n` added to the exponent field neither overflows nor
        // underflows it.
        let e = v.avx2._mm256_slli_epi32::<23>(v.avx._mm256_cvtps_epi32(n));
        self.with_bits(v.avx2._mm256_add_epi32(self.bits(a), e))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn get_exp(self, a: __m256) -> __m256 {
        if self.all_normal(a) {
            let v = self.0;
            let e = v.avx2._mm256_sub_epi32(self.exponent_field(a), v.avx._mm256_set1_epi32(127));
            return v.avx._mm256_cvtepi32_ps(e);
        }
        self.per_lane(a, a, |s, a, _| s.get_exp(a))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn get_mant(self, a: __m256) -> __m256 {
        if self.all_normal(a) {
            let v = self.0;
            let fraction = v.avx2._mm256_and_si256(self.bits(a), v.avx._mm256_set1_epi32(0x007f_ffff));
            let one = v.avx._mm256_set1_epi32(0x3f80_0000);
            return self.with_bits(v.avx2._mm256_or_si256(fraction, one));
        }
        self.per_lane(a, a, |s, a, _| s.get_mant(a))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lt_mask(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_cmp_ps::<LT>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn gt_mask(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_cmp_ps::<GT>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn eq_mask(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_cmp_ps::<EQ>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn and_mask(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_and_ps(a, b)
    }
    /// The bits of magnitudes order as the magnitudes do, NaN above infinity: one integer
    /// maximum per row and one comparison per block, instead of two comparisons and an AND
    /// per row (the Gaussian sum's exp test).
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all_below_abs(self, xs: &[__m256], bound: f32) -> bool {
        let v = self.0;
        let Some((&first, rest)) = xs.split_first() else { return true };
        let mut max = self.bits(self.abs(first));
        for &x in rest {
            max = v.avx2._mm256_max_epi32(max, self.bits(self.abs(x)));
        }
        let below = v.avx2._mm256_cmpgt_epi32(v.avx._mm256_set1_epi32(bound.to_bits() as i32), max);
        v.avx._mm256_movemask_ps(self.with_bits(below)) == 0xFF
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn or_mask(self, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_or_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn any(self, mask: __m256) -> bool {
        self.0.avx._mm256_movemask_ps(mask) != 0
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all(self, mask: __m256) -> bool {
        self.0.avx._mm256_movemask_ps(mask) == 0xFF
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lane_bits(self, mask: __m256) -> u64 {
        self.0.avx._mm256_movemask_ps(mask) as u64
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn blend(self, mask: __m256, a: __m256, b: __m256) -> __m256 {
        self.0.avx._mm256_blendv_ps(b, a, mask)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn tail(self, valid: usize) -> __m256 {
        let v = self.0;
        let lanes = v.avx._mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let valid = v.avx._mm256_set1_epi32(valid.min(8) as i32);
        self.with_bits(v.avx2._mm256_cmpgt_epi32(valid, lanes))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lanes_between(self, from: usize, to: usize) -> __m256 {
        self.0.avx._mm256_andnot_ps(self.tail(from), self.tail(to))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn iota(self, base: u32) -> __m256i {
        let v = self.0;
        v.avx2._mm256_add_epi32(
            v.avx._mm256_set1_epi32(base as i32),
            v.avx._mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn splat_idx(self, i: u32) -> __m256i {
        self.0.avx._mm256_set1_epi32(i as i32)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn blend_idx(self, mask: __m256, a: __m256i, b: __m256i) -> __m256i {
        self.0.avx2._mm256_blendv_epi8(b, a, self.bits(mask))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn store_idx(self, i: __m256i, dst: &mut [u32]) {
        assert!(dst.len() >= 8);
        // SAFETY: the slice has room for 8 u32; storeu has no alignment requirement.
        unsafe { self.0.avx._mm256_storeu_si256(dst.as_mut_ptr().cast(), i) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn load_idx(self, src: &[u32]) -> __m256i {
        assert!(src.len() >= 8);
        // SAFETY: the slice holds at least 8 u32; loadu has no alignment requirement.
        unsafe { self.0.avx._mm256_loadu_si256(src.as_ptr().cast()) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotate_up(self, v: __m256) -> __m256 {
        self.0.avx2._mm256_permutevar8x32_ps(v, self.rotation())
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotate_up_idx(self, i: __m256i) -> __m256i {
        self.0.avx2._mm256_permutevar8x32_epi32(i, self.rotation())
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn reduce_sum(self, v: __m256) -> f32 {
        // Pairwise in the order of the portable lanes: l + 4, then l + 2, then l + 1.
        let s = self.0;
        let quad = s.sse._mm_add_ps(s.avx._mm256_castps256_ps128(v), s.avx._mm256_extractf128_ps::<1>(v));
        let pair = s.sse._mm_add_ps(quad, s.sse._mm_movehl_ps(quad, quad));
        let one = s.sse._mm_add_ss(pair, s.sse._mm_shuffle_ps::<0b01>(pair, pair));
        s.sse._mm_cvtss_f32(one)
    }
}

/// 4 lanes of `f64`; indices are kept as 4 lanes of 64 bits, so that masks apply to them as
/// they are.
#[derive(Clone, Copy, Debug)]
pub struct Avx2F64(V3);

impl Avx2F64 {
    pub fn new(token: V3) -> Self {
        Avx2F64(token)
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn bits(self, a: __m256d) -> __m256i {
        self.0.avx._mm256_castpd_si256(a)
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn with_bits(self, a: __m256i) -> __m256d {
        self.0.avx._mm256_castsi256_pd(a)
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn to_array(self, v: __m256d) -> [f64; 4] {
        let mut out = [0.0; 4];
        self.store(v, &mut out);
        out
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn of_array(self, v: [f64; 4]) -> __m256d {
        self.load(&v)
    }

    /// `f` lane by lane: the rare path of `ldexp`, `get_exp` and `get_mant`.
    #[cold]
    #[inline(never)]
    fn per_lane(self, a: __m256d, b: __m256d, f: fn(Scalar<f64>, f64, f64) -> f64) -> __m256d {
        let (a, b) = (self.to_array(a), self.to_array(b));
        self.of_array(core::array::from_fn(|l| f(Scalar::new(), a[l], b[l])))
    }

    /// `2^e` for exponents `e` (4 lanes of i32) in the normal range `[-1022, 1023]`.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn pow2(self, e: __m128i) -> __m256d {
        let v = self.0;
        let biased = v.avx2._mm256_cvtepi32_epi64(v.sse2._mm_add_epi32(e, v.sse2._mm_set1_epi32(1023)));
        self.with_bits(v.avx2._mm256_slli_epi64::<52>(biased))
    }

    /// As for f32: `a 2^n` by two exact scalings, for an integer `n` whose halves are normal
    /// exponents.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn scale_by_halves(self, a: __m256d, n: __m256d) -> __m256d {
        let v = self.0;
        let e = v.avx._mm256_cvtpd_epi32(n);
        let half = v.sse2._mm_srai_epi32::<1>(e);
        let rest = v.sse2._mm_sub_epi32(e, half);
        self.mul(self.mul(a, self.pow2(half)), self.pow2(rest))
    }

    /// `get_exp` of normal lanes: the exponent field, unbiased, converted exactly through the
    /// bits of `2^52 + e` (AVX2 converts no 64-bit integers).
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn normal_exponent(self, a: __m256d) -> __m256d {
        let v = self.0;
        let field = v
            .avx2
            ._mm256_and_si256(v.avx2._mm256_srli_epi64::<52>(self.bits(a)), v.avx._mm256_set1_epi64x(0x7ff));
        let magic = v.avx._mm256_set1_epi64x(0x4330_0000_0000_0000);
        let shifted = self.with_bits(v.avx2._mm256_or_si256(field, magic));
        self.sub(shifted, self.splat(4503599627370496.0 + 1023.0))
    }

    /// Whether every lane of `e` (an exponent from [`Self::normal_exponent`]) is that of a
    /// normal number.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all_normal(self, e: __m256d) -> bool {
        let v = self.0;
        let low = v.avx._mm256_cmp_pd::<GE>(e, self.splat(-1022.0));
        let high = v.avx._mm256_cmp_pd::<LE>(e, self.splat(1023.0));
        v.avx._mm256_movemask_pd(v.avx._mm256_and_pd(low, high)) == 0xf
    }
}

impl Math<f64> for Avx2F64 {
    type V = __m256d;
    type Mask = __m256d;
    type Idx = __m256i;
    const LANES: usize = 4;

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn vectorize<W: Task>(self, task: W) -> W::Output {
        self.0.vectorize(Pulp(task))
    }
    drive_method!(f64);
    exp_beyond_method!();
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn splat(self, x: f64) -> __m256d {
        self.0.avx._mm256_set1_pd(x)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn load(self, src: &[f64]) -> __m256d {
        assert!(src.len() >= 4);
        // SAFETY: the slice holds at least 4 doubles; loadu has no alignment requirement.
        unsafe { self.0.avx._mm256_loadu_pd(src.as_ptr()) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn store(self, v: __m256d, dst: &mut [f64]) {
        assert!(dst.len() >= 4);
        // SAFETY: the slice has room for 4 doubles; storeu has no alignment requirement.
        unsafe { self.0.avx._mm256_storeu_pd(dst.as_mut_ptr(), v) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn add(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_add_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sub(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_sub_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_mul_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul_tiny(self, _: bool, a: __m256d, b: __m256d) -> __m256d {
        // See `opaque`.
        let neg_zero = self.0.sse2._mm_castsi128_pd(opaque(self.0.sse2._mm_set1_epi64x(i64::MIN)));
        self.0.fma._mm256_fmadd_pd(a, b, self.0.avx2._mm256_broadcastsd_pd(neg_zero))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn div(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_div_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul_add(self, a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        self.0.fma._mm256_fmadd_pd(a, b, c)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn neg(self, a: __m256d) -> __m256d {
        self.0.avx._mm256_xor_pd(a, self.splat(-0.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn abs(self, a: __m256d) -> __m256d {
        self.0.avx._mm256_andnot_pd(self.splat(-0.0), a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn min(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_min_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn max(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_max_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sqrt(self, a: __m256d) -> __m256d {
        self.0.avx._mm256_sqrt_pd(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn floor(self, a: __m256d) -> __m256d {
        self.0.avx._mm256_round_pd::<FLOOR>(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn round_even(self, a: __m256d) -> __m256d {
        self.0.avx._mm256_round_pd::<ROUND_EVEN>(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sign(self, a: __m256d) -> __m256d {
        let zero = self.splat(0.0);
        let negative = self.blend(self.lt_mask(a, zero), self.splat(-1.0), zero);
        self.blend(self.gt_mask(a, zero), self.splat(1.0), negative)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn step(self, a: __m256d) -> __m256d {
        self.0.avx._mm256_andnot_pd(self.lt_mask(a, self.splat(0.0)), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn select(self, c: __m256d, a: __m256d, b: __m256d) -> __m256d {
        self.blend(self.0.avx._mm256_cmp_pd::<GE>(c, self.splat(0.0)), a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lt(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_and_pd(self.0.avx._mm256_cmp_pd::<LT>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn le(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_and_pd(self.0.avx._mm256_cmp_pd::<LE>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn eq(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_and_pd(self.0.avx._mm256_cmp_pd::<EQ>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ne(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_and_pd(self.0.avx._mm256_cmp_pd::<NE>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp(self, a: __m256d, n: __m256d) -> __m256d {
        let v = self.0;
        // As for f32: `(a 2^d) 2^c` with `c = clamp(n, -1022, 1023)`, exact for floor(n) in
        // [-2044, 2046]; other lanes (and NaN) take the per-lane path.
        let e = v.avx._mm256_cvtpd_epi32(self.floor(n));
        let t = v.sse2._mm_add_epi32(e, v.sse2._mm_set1_epi32(2044));
        let limit = v.sse2._mm_set1_epi32(4090);
        let within = v.sse2._mm_cmpeq_epi32(v.sse4_1._mm_max_epu32(t, limit), limit);
        if v.sse2._mm_movemask_epi8(within) == 0xffff {
            let low = v.sse4_1._mm_max_epi32(e, v.sse2._mm_set1_epi32(-1022));
            let c = v.sse4_1._mm_min_epi32(low, v.sse2._mm_set1_epi32(1023));
            let d = v.sse2._mm_sub_epi32(e, c);
            return self.mul(self.mul(a, self.pow2(d)), self.pow2(c));
        }
        self.per_lane(a, n, |s, a, n| s.ldexp(a, n))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_int(self, a: __m256d, n: __m256d) -> __m256d {
        let v = self.0;
        // As for f32, with the smallest subnormal 2^-1074 and normals from 2^-1022.
        let low = v.avx._mm256_cmp_pd::<LE>(n, self.splat(-1022.0));
        if v.avx._mm256_movemask_pd(low) == 0 {
            return self.scale_by_halves(a, n);
        }
        let direct = self.scale_by_halves(a, self.max(self.splat(-1021.0), n));
        let shift =
            self.add(self.min(self.max(n, self.splat(-1076.0)), self.splat(-1022.0)), self.splat(1074.0));
        let q = self.mul(self.abs(a), self.pow2(v.avx._mm256_cvtpd_epi32(shift)));
        let two52 = self.splat(4503599627370496.0);
        let subnormal = v.avx2._mm256_sub_epi64(self.bits(self.add(q, two52)), self.bits(two52));
        let normal = v.avx2._mm256_sub_epi64(self.bits(q), v.avx._mm256_set1_epi64x(1074 << 52));
        let magnitude = self.blend(self.lt_mask(q, two52), self.with_bits(subnormal), self.with_bits(normal));
        let sign = v.avx2._mm256_and_si256(self.bits(a), v.avx._mm256_set1_epi64x(i64::MIN));
        let built = self.with_bits(v.avx2._mm256_or_si256(self.bits(magnitude), sign));
        self.blend(low, built, direct)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_below(self, a: __m256d, n: __m256d) -> __m256d {
        let v = self.0;
        // As for f32, with the least subnormal 2^-1074, and `n` from the low bits of
        // `n + 1.5 2^52` as in `ldexp_normal`.
        let biased = self.bits(self.add(n, self.splat(6755399441055744.0)));
        let normal = v.avx2._mm256_add_epi64(self.bits(a), v.avx2._mm256_slli_epi64::<52>(biased));
        let q = self.with_bits(v.avx2._mm256_add_epi64(normal, v.avx._mm256_set1_epi64x(1074 << 52)));
        let two52 = self.splat(4503599627370496.0);
        let subnormal = v.avx2._mm256_sub_epi64(self.bits(self.add(q, two52)), self.bits(two52));
        let largest_subnormal = v.avx._mm256_set1_epi64x(0x000f_ffff_ffff_ffff);
        let is_normal = v.avx2._mm256_cmpgt_epi64(normal, largest_subnormal);
        self.blend(self.with_bits(is_normal), self.with_bits(normal), self.with_bits(subnormal))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn scales_normally(self, n: __m256d) -> __m256d {
        // As for f32.
        let above = self.gt_mask(n, self.splat(-1021.5));
        self.and_mask(above, self.lt_mask(n, self.splat(1022.5)))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_normal(self, a: __m256d, n: __m256d) -> __m256d {
        let v = self.0;
        // `n + 1.5 2^52` holds `n` in its low bits, two's complement (AVX2 converts no 64-bit
        // integers); shifted into the exponent field and added, as for f32.
        let biased = self.bits(self.add(n, self.splat(6755399441055744.0)));
        let e = v.avx2._mm256_slli_epi64::<52>(biased);
        self.with_bits(v.avx2._mm256_add_epi64(self.bits(a), e))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn get_exp(self, a: __m256d) -> __m256d {
        let e = self.normal_exponent(a);
        if self.all_normal(e) {
            return e;
        }
        self.per_lane(a, a, |s, a, _| s.get_exp(a))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn get_mant(self, a: __m256d) -> __m256d {
        if self.all_normal(self.normal_exponent(a)) {
            let v = self.0;
            let fraction =
                v.avx2._mm256_and_si256(self.bits(a), v.avx._mm256_set1_epi64x(0x000f_ffff_ffff_ffff));
            let one = v.avx._mm256_set1_epi64x(0x3ff0_0000_0000_0000);
            return self.with_bits(v.avx2._mm256_or_si256(fraction, one));
        }
        self.per_lane(a, a, |s, a, _| s.get_mant(a))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lt_mask(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_cmp_pd::<LT>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn gt_mask(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_cmp_pd::<GT>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn eq_mask(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_cmp_pd::<EQ>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn and_mask(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_and_pd(a, b)
    }
    /// As in f32, on the high halves of the magnitudes' bits (AVX2 has no 64-bit maximum):
    /// they are all below that of `bound` only if `|x|` is below `bound` with its low half
    /// cleared, a bound smaller by at most 2^-20 relative (none for the exp bound, 700).
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all_below_abs(self, xs: &[__m256d], bound: f64) -> bool {
        let v = self.0;
        let Some((&first, rest)) = xs.split_first() else { return true };
        let mut max = self.bits(self.abs(first));
        for &x in rest {
            max = v.avx2._mm256_max_epi32(max, self.bits(self.abs(x)));
        }
        let high = (bound.to_bits() >> 32) as i32;
        // The low halves are compared too, but each lane's top bit is the high half's result.
        let below = v.avx2._mm256_cmpgt_epi32(v.avx._mm256_set1_epi32(high), max);
        v.avx._mm256_movemask_pd(self.with_bits(below)) == 0xF
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn or_mask(self, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_or_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn any(self, mask: __m256d) -> bool {
        self.0.avx._mm256_movemask_pd(mask) != 0
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all(self, mask: __m256d) -> bool {
        self.0.avx._mm256_movemask_pd(mask) == 0xF
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lane_bits(self, mask: __m256d) -> u64 {
        self.0.avx._mm256_movemask_pd(mask) as u64
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn blend(self, mask: __m256d, a: __m256d, b: __m256d) -> __m256d {
        self.0.avx._mm256_blendv_pd(b, a, mask)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn tail(self, valid: usize) -> __m256d {
        let v = self.0;
        let lanes = v.avx._mm256_setr_epi64x(0, 1, 2, 3);
        let valid = v.avx._mm256_set1_epi64x(valid.min(4) as i64);
        self.with_bits(v.avx2._mm256_cmpgt_epi64(valid, lanes))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lanes_between(self, from: usize, to: usize) -> __m256d {
        self.0.avx._mm256_andnot_pd(self.tail(from), self.tail(to))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn iota(self, base: u32) -> __m256i {
        let v = self.0;
        v.avx2
            ._mm256_add_epi64(v.avx._mm256_set1_epi64x(i64::from(base)), v.avx._mm256_setr_epi64x(0, 1, 2, 3))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn splat_idx(self, i: u32) -> __m256i {
        self.0.avx._mm256_set1_epi64x(i64::from(i))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn blend_idx(self, mask: __m256d, a: __m256i, b: __m256i) -> __m256i {
        self.0.avx2._mm256_blendv_epi8(b, a, self.bits(mask))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn store_idx(self, i: __m256i, dst: &mut [u32]) {
        let mut wide = [0u64; 4];
        // SAFETY: the array has room for 4 u64; storeu has no alignment requirement.
        unsafe { self.0.avx._mm256_storeu_si256(wide.as_mut_ptr().cast(), i) };
        for (d, w) in dst[..4].iter_mut().zip(wide) {
            // Indices are u32 values widened to 64 bits: the conversion is exact.
            *d = w as u32;
        }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn load_idx(self, src: &[u32]) -> __m256i {
        assert!(src.len() >= 4);
        // SAFETY: the slice holds at least 4 u32 (16 bytes); loadu has no alignment requirement.
        let narrow = unsafe { self.0.sse2._mm_loadu_si128(src.as_ptr().cast()) };
        // Widened to the 64-bit lanes of the values, as `iota` and `splat_idx` make them.
        self.0.avx2._mm256_cvtepu32_epi64(narrow)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotate_up(self, v: __m256d) -> __m256d {
        // Lanes 3, 0, 1, 2 (two bits each, from lane 0).
        self.0.avx2._mm256_permute4x64_pd::<0b10_01_00_11>(v)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotate_up_idx(self, i: __m256i) -> __m256i {
        // The indices are 64-bit lanes, as the values.
        self.0.avx2._mm256_permute4x64_epi64::<0b10_01_00_11>(i)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn reduce_sum(self, v: __m256d) -> f64 {
        // Pairwise in the order of the portable lanes: l + 2, then l + 1.
        let s = self.0;
        let pair = s.sse2._mm_add_pd(s.avx._mm256_castpd256_pd128(v), s.avx._mm256_extractf128_pd::<1>(v));
        let one = s.sse2._mm_add_sd(pair, s.sse2._mm_unpackhi_pd(pair, pair));
        s.sse2._mm_cvtsd_f64(one)
    }
}
