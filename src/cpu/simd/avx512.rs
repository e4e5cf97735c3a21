//! AVX-512: 16 `f32` or 8 `f64` lanes, written with intrinsics.
//!
//! Every method computes what [`Scalar`](crate::cpu::math::Scalar) computes, lane for lane: IEEE operations are exactly
//! rounded, `vminps`/`vmaxps` are the C ternaries `a < b ? a : b` / `a > b ? a : b` (the second
//! operand wins on NaN and on equality), `vscalefps` scales with a single rounding and
//! `vgetexpps`/`vgetmantps` normalise subnormals. The intrinsics are reached through pulp's `V4`
//! token, whose existence proves that the CPU supports them, so only memory access is `unsafe`.
//!
//! The methods are inlined only where debug assertions are off or this crate is optimised
//! (`keops_optimized`, from the build script): in an unoptimised debug build every inlined call
//! keeps its own stack slots of 32 or 64 bytes, and the kernel of a large formula, inlined
//! whole, then needs more than a thread's 2 MiB of stack. (The kernels of a user's debug build
//! are interpreted, by this crate's code: optimised, it needs them inlined.)

use core::arch::x86_64::*;

use pulp::x86::V4;

use crate::cpu::math::{Math, Pulp, Task, drive_method, exp_beyond_method};

/// `_CMP_*` predicates for `vcmpps`: ordered and quiet, except not-equal (true on NaN).
const LT: i32 = _CMP_LT_OQ;
const LE: i32 = _CMP_LE_OQ;
const EQ: i32 = _CMP_EQ_OQ;
const NE: i32 = _CMP_NEQ_UQ;
const GE: i32 = _CMP_GE_OQ;
const GT: i32 = _CMP_GT_OQ;

/// `vrndscaleps` immediates: round to an integer, towards -inf or to nearest even, without
/// raising the inexact exception.
const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
const ROUND_EVEN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// 16 lanes of `f32`.
#[derive(Clone, Copy, Debug)]
pub struct Avx512F32(V4);

impl Avx512F32 {
    pub fn new(token: V4) -> Self {
        Avx512F32(token)
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn bits(self, a: __m512) -> __m512i {
        self.0.avx512f._mm512_castps_si512(a)
    }

    /// The lanes of `a` that are subnormal: operands on which Intel's multipliers take a
    /// microcode assist of about 25 cycles (adders, and conversions to and from f64, do not).
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn subnormal_mask(self, a: __m512) -> __mmask16 {
        self.0.avx512dq._mm512_fpclass_ps_mask::<0x20>(a)
    }

    /// `op` on the f64 values of the lanes of `a`, `b` and `c`, eight at a time, rounded back.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn in_f64(
        self,
        a: __m512,
        b: __m512,
        c: __m512,
        op: impl Fn(__m512d, __m512d, __m512d) -> __m512d,
    ) -> __m512 {
        let (f, dq) = (self.0.avx512f, self.0.avx512dq);
        let low = |x: __m512| f._mm512_cvtps_pd(f._mm512_castps512_ps256(x));
        let high = |x: __m512| f._mm512_cvtps_pd(dq._mm512_extractf32x8_ps::<1>(x));
        let lo = f._mm512_cvtpd_ps(op(low(a), low(b), low(c)));
        let hi = f._mm512_cvtpd_ps(op(high(a), high(b), high(c)));
        dq._mm512_insertf32x8::<1>(f._mm512_castps256_ps512(lo), hi)
    }

    /// The lane permutation of [`Math::rotate_up`]: lane `l` reads lane `l - 1`, lane 0 lane 15.
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotation(self) -> __m512i {
        self.0.avx512f._mm512_setr_epi32(15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
    }
}

impl Math<f32> for Avx512F32 {
    type V = __m512;
    type Mask = __mmask16;
    type Idx = __m512i;
    const LANES: usize = 16;

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn vectorize<W: Task>(self, task: W) -> W::Output {
        self.0.vectorize(Pulp(task))
    }
    drive_method!(f32);
    exp_beyond_method!();
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn splat(self, x: f32) -> __m512 {
        self.0.avx512f._mm512_set1_ps(x)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn load(self, src: &[f32]) -> __m512 {
        assert!(src.len() >= 16);
        // SAFETY: the slice holds at least 16 floats; loadu has no alignment requirement.
        unsafe { self.0.avx512f._mm512_loadu_ps(src.as_ptr()) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn store(self, v: __m512, dst: &mut [f32]) {
        assert!(dst.len() >= 16);
        // SAFETY: the slice has room for 16 floats; storeu has no alignment requirement.
        unsafe { self.0.avx512f._mm512_storeu_ps(dst.as_mut_ptr(), v) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_add_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_sub_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_mul_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_div_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        self.0.avx512f._mm512_fmadd_ps(a, b, c)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul_tiny(self, maybe: bool, a: __m512, b: __m512) -> __m512 {
        if !maybe || self.subnormal_mask(a) | self.subnormal_mask(b) == 0 {
            return self.mul(a, b);
        }
        // The product of two f32 is exact in f64, and rounded once back.
        let f = self.0.avx512f;
        self.in_f64(a, b, a, |a, b, _| f._mm512_mul_pd(a, b))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul_add_tiny(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        if self.subnormal_mask(a) | self.subnormal_mask(b) | self.subnormal_mask(c) == 0 {
            return self.mul_add(a, b, c);
        }
        // `a * b` is exact in f64 and `a * b + c` is rounded there to odd: towards zero, then
        // the last bit set if that was inexact. 53 bits rounded to odd and then to nearest at
        // f32's precision (or a subnormal's, less) round as once to nearest (Boldo and
        // Melquiond, 2008); f64 has the range for any `a * b + c` of f32 operands.
        let f = self.0.avx512f;
        self.in_f64(a, b, c, |a, b, c| {
            let down = f._mm512_fmadd_round_pd::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(a, b, c);
            let up = f._mm512_fmadd_round_pd::<{ _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC }>(a, b, c);
            let zero = f._mm512_fmadd_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(a, b, c);
            let inexact = f._mm512_cmp_pd_mask::<NE>(down, up);
            let bits = f._mm512_castpd_si512(zero);
            f._mm512_castsi512_pd(f._mm512_mask_or_epi64(bits, inexact, bits, f._mm512_set1_epi64(1)))
        })
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn neg(self, a: __m512) -> __m512 {
        let f = self.0.avx512f;
        f._mm512_castsi512_ps(f._mm512_xor_si512(f._mm512_castps_si512(a), f._mm512_set1_epi32(i32::MIN)))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn abs(self, a: __m512) -> __m512 {
        self.0.avx512f._mm512_abs_ps(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_min_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_max_ps(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sqrt(self, a: __m512) -> __m512 {
        self.0.avx512f._mm512_sqrt_ps(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn floor(self, a: __m512) -> __m512 {
        self.0.avx512f._mm512_roundscale_ps::<FLOOR>(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn round_even(self, a: __m512) -> __m512 {
        self.0.avx512f._mm512_roundscale_ps::<ROUND_EVEN>(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sign(self, a: __m512) -> __m512 {
        let zero = self.splat(0.0);
        let negative = self.blend(self.lt_mask(a, zero), self.splat(-1.0), zero);
        self.blend(self.gt_mask(a, zero), self.splat(1.0), negative)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn step(self, a: __m512) -> __m512 {
        self.blend(self.lt_mask(a, self.splat(0.0)), self.splat(0.0), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn select(self, c: __m512, a: __m512, b: __m512) -> __m512 {
        let ge = self.0.avx512f._mm512_cmp_ps_mask::<GE>(c, self.splat(0.0));
        self.blend(ge, a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lt(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_maskz_mov_ps(self.0.avx512f._mm512_cmp_ps_mask::<LT>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn le(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_maskz_mov_ps(self.0.avx512f._mm512_cmp_ps_mask::<LE>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn eq(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_maskz_mov_ps(self.0.avx512f._mm512_cmp_ps_mask::<EQ>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ne(self, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_maskz_mov_ps(self.0.avx512f._mm512_cmp_ps_mask::<NE>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp(self, a: __m512, n: __m512) -> __m512 {
        // The scalar semantics clamp `n` to +-4000 (NaN stays NaN: `vmaxp*`/`vminp*` return
        // their second operand then), which also keeps `inf * 2^-inf` and `0 * 2^inf` from
        // becoming NaN as they do in `vscalef`.
        let f = self.0.avx512f;
        let n = f._mm512_min_ps(self.splat(4000.0), f._mm512_max_ps(self.splat(-4000.0), n));
        f._mm512_scalef_ps(a, n)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_int(self, a: __m512, n: __m512) -> __m512 {
        let f = self.0.avx512f;
        // Lanes whose result may fall below the normal range (n <= -126) are built from the
        // bits, since Intel processors take a microcode assist of about 200 cycles for every
        // `vscalefps` that rounds a lane into the subnormal range or to zero (exp of any
        // argument below -87.3). `q = |a| 2^(n + 149)`, the result in units of the smallest
        // subnormal, is normal; below 2^23, `q + 2^23` rounds it to an integer `k` (to nearest
        // even) whose bits are those of the subnormal `k 2^-149` (or of 2^-126 for `k = 2^23`);
        // from 2^23 on, `q` is an integer and the result the normal `q 2^-149`. Other lanes
        // (NaN included) scale directly, by at least 2^-125, to a normal number.
        let low = f._mm512_cmp_ps_mask::<LE>(n, self.splat(-126.0));
        let direct = f._mm512_scalef_ps(a, f._mm512_max_ps(self.splat(-125.0), n));
        if low == 0 {
            return direct;
        }
        let shift =
            self.add(self.min(self.max(n, self.splat(-151.0)), self.splat(-126.0)), self.splat(149.0));
        let q = f._mm512_scalef_ps(self.abs(a), shift);
        let two23 = self.splat(8388608.0);
        let subnormal = f._mm512_sub_epi32(self.bits(self.add(q, two23)), self.bits(two23));
        let normal = f._mm512_sub_epi32(self.bits(q), f._mm512_set1_epi32(149 << 23));
        let magnitude = f._mm512_mask_blend_epi32(self.lt_mask(q, two23), normal, subnormal);
        let sign = f._mm512_and_si512(self.bits(a), f._mm512_set1_epi32(i32::MIN));
        let built = f._mm512_castsi512_ps(f._mm512_or_si512(magnitude, sign));
        self.blend(low, built, direct)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn scales_normally(self, n: __m512) -> __mmask16 {
        // `vscalefps` by these `n` gives a normal number for `|a| >= 1/2` (see `ldexp_int`).
        self.0.avx512f._mm512_cmp_ps_mask::<GE>(n, self.splat(-125.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_normal(self, a: __m512, n: __m512) -> __m512 {
        self.0.avx512f._mm512_scalef_ps(a, n)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn get_exp(self, a: __m512) -> __m512 {
        self.0.avx512f._mm512_getexp_ps(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn get_mant(self, a: __m512) -> __m512 {
        let m = self.0.avx512f._mm512_getmant_ps::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_ZERO>(a);
        // Zeros and infinities have mantissa 1, as in the scalar semantics.
        let abs = self.abs(a);
        let special = self.eq_mask(abs, self.splat(0.0)) | self.eq_mask(abs, self.splat(f32::INFINITY));
        self.blend(special, self.splat(1.0), m)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lt_mask(self, a: __m512, b: __m512) -> __mmask16 {
        self.0.avx512f._mm512_cmp_ps_mask::<LT>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn gt_mask(self, a: __m512, b: __m512) -> __mmask16 {
        self.0.avx512f._mm512_cmp_ps_mask::<GT>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn eq_mask(self, a: __m512, b: __m512) -> __mmask16 {
        self.0.avx512f._mm512_cmp_ps_mask::<EQ>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn and_mask(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a & b
    }
    /// Comparisons under the mask of the previous ones, without separate ANDs, in chains of
    /// two rows: one chain over a whole block makes the test's latency that of all its
    /// comparisons (the Gaussian sum ran 2-5 % slower so).
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all_below_abs(self, xs: &[__m512], bound: f32) -> bool {
        let v = self.0.avx512f;
        let (lo, hi) = (self.splat(-bound), self.splat(bound));
        let mut all = 0xFFFF;
        for pair in xs.chunks(2) {
            let mut chain = 0xFFFF;
            for &x in pair {
                chain = v._mm512_mask_cmp_ps_mask::<LT>(v._mm512_mask_cmp_ps_mask::<GT>(chain, x, lo), x, hi);
            }
            all &= chain;
        }
        all == 0xFFFF
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn or_mask(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a | b
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn any(self, mask: __mmask16) -> bool {
        mask != 0
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all(self, mask: __mmask16) -> bool {
        mask == 0xFFFF
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lane_bits(self, mask: __mmask16) -> u64 {
        u64::from(mask)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn blend(self, mask: __mmask16, a: __m512, b: __m512) -> __m512 {
        self.0.avx512f._mm512_mask_blend_ps(mask, b, a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn tail(self, valid: usize) -> __mmask16 {
        if valid >= 16 { u16::MAX } else { (1u16 << valid) - 1 }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lanes_between(self, from: usize, to: usize) -> __mmask16 {
        self.tail(to) & !self.tail(from)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn iota(self, base: u32) -> __m512i {
        let f = self.0.avx512f;
        f._mm512_add_epi32(
            f._mm512_set1_epi32(base as i32),
            f._mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        )
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn splat_idx(self, i: u32) -> __m512i {
        self.0.avx512f._mm512_set1_epi32(i as i32)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn blend_idx(self, mask: __mmask16, a: __m512i, b: __m512i) -> __m512i {
        self.0.avx512f._mm512_mask_blend_epi32(mask, b, a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn store_idx(self, i: __m512i, dst: &mut [u32]) {
        assert!(dst.len() >= 16);
        // SAFETY: the slice has room for 16 u32; storeu has no alignment requirement.
        unsafe { self.0.avx512f._mm512_storeu_si512(dst.as_mut_ptr().cast(), i) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn load_idx(self, src: &[u32]) -> __m512i {
        assert!(src.len() >= 16);
        // SAFETY: the slice holds at least 16 u32; loadu has no alignment requirement.
        unsafe { self.0.avx512f._mm512_loadu_si512(src.as_ptr().cast()) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotate_up(self, v: __m512) -> __m512 {
        self.0.avx512f._mm512_permutexvar_ps(self.rotation(), v)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotate_up_idx(self, i: __m512i) -> __m512i {
        self.0.avx512f._mm512_permutexvar_epi32(self.rotation(), i)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn reduce_sum(self, v: __m512) -> f32 {
        self.0.avx512f._mm512_reduce_add_ps(v)
    }
}

/// 8 lanes of `f64`.
#[derive(Clone, Copy, Debug)]
pub struct Avx512F64(V4);

impl Avx512F64 {
    pub fn new(token: V4) -> Self {
        Avx512F64(token)
    }

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn bits(self, a: __m512d) -> __m512i {
        self.0.avx512f._mm512_castpd_si512(a)
    }
}

impl Math<f64> for Avx512F64 {
    type V = __m512d;
    type Mask = __mmask8;
    type Idx = __m256i;
    const LANES: usize = 8;

    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn vectorize<W: Task>(self, task: W) -> W::Output {
        self.0.vectorize(Pulp(task))
    }
    drive_method!(f64);
    exp_beyond_method!();
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn splat(self, x: f64) -> __m512d {
        self.0.avx512f._mm512_set1_pd(x)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn load(self, src: &[f64]) -> __m512d {
        assert!(src.len() >= 8);
        // SAFETY: the slice holds at least 8 doubles; loadu has no alignment requirement.
        unsafe { self.0.avx512f._mm512_loadu_pd(src.as_ptr()) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn store(self, v: __m512d, dst: &mut [f64]) {
        assert!(dst.len() >= 8);
        // SAFETY: the slice has room for 8 doubles; storeu has no alignment requirement.
        unsafe { self.0.avx512f._mm512_storeu_pd(dst.as_mut_ptr(), v) }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn add(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_add_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sub(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_sub_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_mul_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn div(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_div_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn mul_add(self, a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        self.0.avx512f._mm512_fmadd_pd(a, b, c)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn neg(self, a: __m512d) -> __m512d {
        let f = self.0.avx512f;
        f._mm512_castsi512_pd(f._mm512_xor_si512(f._mm512_castpd_si512(a), f._mm512_set1_epi64(i64::MIN)))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn abs(self, a: __m512d) -> __m512d {
        self.0.avx512f._mm512_abs_pd(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn min(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_min_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn max(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_max_pd(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sqrt(self, a: __m512d) -> __m512d {
        self.0.avx512f._mm512_sqrt_pd(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn floor(self, a: __m512d) -> __m512d {
        self.0.avx512f._mm512_roundscale_pd::<FLOOR>(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn round_even(self, a: __m512d) -> __m512d {
        self.0.avx512f._mm512_roundscale_pd::<ROUND_EVEN>(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn sign(self, a: __m512d) -> __m512d {
        let zero = self.splat(0.0);
        let negative = self.blend(self.lt_mask(a, zero), self.splat(-1.0), zero);
        self.blend(self.gt_mask(a, zero), self.splat(1.0), negative)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn step(self, a: __m512d) -> __m512d {
        self.blend(self.lt_mask(a, self.splat(0.0)), self.splat(0.0), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn select(self, c: __m512d, a: __m512d, b: __m512d) -> __m512d {
        let ge = self.0.avx512f._mm512_cmp_pd_mask::<GE>(c, self.splat(0.0));
        self.blend(ge, a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lt(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_maskz_mov_pd(self.0.avx512f._mm512_cmp_pd_mask::<LT>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn le(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_maskz_mov_pd(self.0.avx512f._mm512_cmp_pd_mask::<LE>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn eq(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_maskz_mov_pd(self.0.avx512f._mm512_cmp_pd_mask::<EQ>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ne(self, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_maskz_mov_pd(self.0.avx512f._mm512_cmp_pd_mask::<NE>(a, b), self.splat(1.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp(self, a: __m512d, n: __m512d) -> __m512d {
        // The scalar semantics clamp `n` to +-4000 (NaN stays NaN: `vmaxp*`/`vminp*` return
        // their second operand then), which also keeps `inf * 2^-inf` and `0 * 2^inf` from
        // becoming NaN as they do in `vscalef`.
        let f = self.0.avx512f;
        let n = f._mm512_min_pd(self.splat(4000.0), f._mm512_max_pd(self.splat(-4000.0), n));
        f._mm512_scalef_pd(a, n)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_int(self, a: __m512d, n: __m512d) -> __m512d {
        let f = self.0.avx512f;
        // As for f32, with the smallest subnormal 2^-1074 and normals from 2^-1022.
        let low = f._mm512_cmp_pd_mask::<LE>(n, self.splat(-1022.0));
        let direct = f._mm512_scalef_pd(a, f._mm512_max_pd(self.splat(-1021.0), n));
        if low == 0 {
            return direct;
        }
        let shift =
            self.add(self.min(self.max(n, self.splat(-1076.0)), self.splat(-1022.0)), self.splat(1074.0));
        let q = f._mm512_scalef_pd(self.abs(a), shift);
        let two52 = self.splat(4503599627370496.0);
        let subnormal = f._mm512_sub_epi64(self.bits(self.add(q, two52)), self.bits(two52));
        let normal = f._mm512_sub_epi64(self.bits(q), f._mm512_set1_epi64(1074 << 52));
        let magnitude = f._mm512_mask_blend_epi64(self.lt_mask(q, two52), normal, subnormal);
        let sign = f._mm512_and_si512(self.bits(a), f._mm512_set1_epi64(i64::MIN));
        let built = f._mm512_castsi512_pd(f._mm512_or_si512(magnitude, sign));
        self.blend(low, built, direct)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn scales_normally(self, n: __m512d) -> __mmask8 {
        // As for f32.
        self.0.avx512f._mm512_cmp_pd_mask::<GE>(n, self.splat(-1021.0))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn ldexp_normal(self, a: __m512d, n: __m512d) -> __m512d {
        self.0.avx512f._mm512_scalef_pd(a, n)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn get_exp(self, a: __m512d) -> __m512d {
        self.0.avx512f._mm512_getexp_pd(a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn get_mant(self, a: __m512d) -> __m512d {
        let m = self.0.avx512f._mm512_getmant_pd::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_ZERO>(a);
        // Zeros and infinities have mantissa 1, as in the scalar semantics.
        let abs = self.abs(a);
        let special = self.eq_mask(abs, self.splat(0.0)) | self.eq_mask(abs, self.splat(f64::INFINITY));
        self.blend(special, self.splat(1.0), m)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lt_mask(self, a: __m512d, b: __m512d) -> __mmask8 {
        self.0.avx512f._mm512_cmp_pd_mask::<LT>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn gt_mask(self, a: __m512d, b: __m512d) -> __mmask8 {
        self.0.avx512f._mm512_cmp_pd_mask::<GT>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn eq_mask(self, a: __m512d, b: __m512d) -> __mmask8 {
        self.0.avx512f._mm512_cmp_pd_mask::<EQ>(a, b)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn and_mask(self, a: __mmask8, b: __mmask8) -> __mmask8 {
        a & b
    }
    /// Comparisons under the mask of the previous ones, without separate ANDs, in chains of
    /// two rows: one chain over a whole block makes the test's latency that of all its
    /// comparisons (the Gaussian sum ran 2-5 % slower so).
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all_below_abs(self, xs: &[__m512d], bound: f64) -> bool {
        let v = self.0.avx512f;
        let (lo, hi) = (self.splat(-bound), self.splat(bound));
        let mut all = 0xFF;
        for pair in xs.chunks(2) {
            let mut chain = 0xFF;
            for &x in pair {
                chain = v._mm512_mask_cmp_pd_mask::<LT>(v._mm512_mask_cmp_pd_mask::<GT>(chain, x, lo), x, hi);
            }
            all &= chain;
        }
        all == 0xFF
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn or_mask(self, a: __mmask8, b: __mmask8) -> __mmask8 {
        a | b
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn any(self, mask: __mmask8) -> bool {
        mask != 0
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn all(self, mask: __mmask8) -> bool {
        mask == 0xFF
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lane_bits(self, mask: __mmask8) -> u64 {
        u64::from(mask)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn blend(self, mask: __mmask8, a: __m512d, b: __m512d) -> __m512d {
        self.0.avx512f._mm512_mask_blend_pd(mask, b, a)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn tail(self, valid: usize) -> __mmask8 {
        if valid >= 8 { u8::MAX } else { (1u8 << valid) - 1 }
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn lanes_between(self, from: usize, to: usize) -> __mmask8 {
        self.tail(to) & !self.tail(from)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn iota(self, base: u32) -> __m256i {
        let v = &self.0;
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
    fn blend_idx(self, mask: __mmask8, a: __m256i, b: __m256i) -> __m256i {
        self.0.avx512f._mm256_mask_blend_epi32(mask, b, a)
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
    fn rotate_up(self, v: __m512d) -> __m512d {
        let f = self.0.avx512f;
        f._mm512_permutexvar_pd(f._mm512_setr_epi64(7, 0, 1, 2, 3, 4, 5, 6), v)
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn rotate_up_idx(self, i: __m256i) -> __m256i {
        // The indices are 8 32-bit lanes.
        let v = self.0;
        v.avx2._mm256_permutevar8x32_epi32(i, v.avx._mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6))
    }
    #[cfg_attr(any(not(debug_assertions), keops_optimized), inline(always))]
    fn reduce_sum(self, v: __m512d) -> f64 {
        self.0.avx512f._mm512_reduce_add_pd(v)
    }
}
