//! Portable lanes: `N` values in an array, each lane computed exactly as [`Scalar`] computes
//! it. Compiled inside a tier's `vectorize`, the compiler turns the lane loops into that tier's
//! vector instructions (SSE2, NEON).

use std::marker::PhantomData;

use crate::cpu::math::{Math, Scalar, Task, drive_method, exp_beyond_method};

/// The target features a tier's code is compiled with.
pub trait Features: Copy + Send + Sync + 'static {
    /// Runs `task` compiled with these features (it must be inlined into this call).
    fn vectorize<W: Task>(self, task: W) -> W::Output;
}

/// The architecture's baseline (SSE2 on x86-64, NEON on aarch64): always available.
#[derive(Clone, Copy, Debug)]
pub struct Baseline;

impl Features for Baseline {
    #[inline(always)]
    fn vectorize<W: Task>(self, task: W) -> W::Output {
        task.run()
    }
}

/// `N` lanes of `T`, compiled with the features `F`.
#[derive(Debug)]
pub struct Lanes<T, const N: usize, F>(F, PhantomData<T>);

impl<T, const N: usize, F: Copy> Clone for Lanes<T, N, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, const N: usize, F: Copy> Copy for Lanes<T, N, F> {}

impl<T, const N: usize, F> Lanes<T, N, F> {
    pub fn new(features: F) -> Self {
        Lanes(features, PhantomData)
    }
}

/// Lane-wise application of a scalar operation.
macro_rules! map {
    (|$l:ident| $e:expr) => {
        core::array::from_fn(|$l| $e)
    };
}

macro_rules! lanes_math {
    ($t:ty) => {
        impl<const N: usize, F: Features> Math<$t> for Lanes<$t, N, F> {
            type V = [$t; N];
            type Mask = [bool; N];
            type Idx = [u32; N];
            const LANES: usize = N;

            #[inline(always)]
            fn vectorize<W: Task>(self, task: W) -> W::Output {
                self.0.vectorize(task)
            }
            drive_method!($t);
            exp_beyond_method!();
            #[inline(always)]
            fn splat(self, x: $t) -> [$t; N] {
                [x; N]
            }
            #[inline(always)]
            fn load(self, src: &[$t]) -> [$t; N] {
                map!(|l| src[l])
            }
            #[inline(always)]
            fn store(self, v: [$t; N], dst: &mut [$t]) {
                dst[..N].copy_from_slice(&v);
            }
            #[inline(always)]
            fn add(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| a[l] + b[l])
            }
            #[inline(always)]
            fn sub(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| a[l] - b[l])
            }
            #[inline(always)]
            fn mul(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| a[l] * b[l])
            }
            #[inline(always)]
            fn div(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| a[l] / b[l])
            }
            #[inline(always)]
            fn mul_add(self, a: [$t; N], b: [$t; N], c: [$t; N]) -> [$t; N] {
                map!(|l| a[l].mul_add(b[l], c[l]))
            }
            #[inline(always)]
            fn neg(self, a: [$t; N]) -> [$t; N] {
                map!(|l| -a[l])
            }
            #[inline(always)]
            fn abs(self, a: [$t; N]) -> [$t; N] {
                map!(|l| a[l].abs())
            }
            #[inline(always)]
            fn min(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| if a[l] < b[l] { a[l] } else { b[l] })
            }
            #[inline(always)]
            fn max(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| if a[l] > b[l] { a[l] } else { b[l] })
            }
            #[inline(always)]
            fn sqrt(self, a: [$t; N]) -> [$t; N] {
                map!(|l| a[l].sqrt())
            }
            #[inline(always)]
            fn floor(self, a: [$t; N]) -> [$t; N] {
                map!(|l| a[l].floor())
            }
            #[inline(always)]
            fn round_even(self, a: [$t; N]) -> [$t; N] {
                map!(|l| a[l].round_ties_even())
            }
            #[inline(always)]
            fn sign(self, a: [$t; N]) -> [$t; N] {
                map!(|l| Scalar::<$t>::new().sign(a[l]))
            }
            #[inline(always)]
            fn step(self, a: [$t; N]) -> [$t; N] {
                map!(|l| if a[l] < 0.0 { 0.0 } else { 1.0 })
            }
            #[inline(always)]
            fn select(self, c: [$t; N], a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| if c[l] >= 0.0 { a[l] } else { b[l] })
            }
            #[inline(always)]
            fn lt(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| if a[l] < b[l] { 1.0 } else { 0.0 })
            }
            #[inline(always)]
            fn le(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| if a[l] <= b[l] { 1.0 } else { 0.0 })
            }
            #[inline(always)]
            fn eq(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| if a[l] == b[l] { 1.0 } else { 0.0 })
            }
            #[inline(always)]
            fn ne(self, a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| if a[l] != b[l] { 1.0 } else { 0.0 })
            }
            #[inline(always)]
            fn ldexp(self, a: [$t; N], n: [$t; N]) -> [$t; N] {
                map!(|l| Scalar::<$t>::new().ldexp(a[l], n[l]))
            }
            #[inline(always)]
            fn get_exp(self, a: [$t; N]) -> [$t; N] {
                map!(|l| Scalar::<$t>::new().get_exp(a[l]))
            }
            #[inline(always)]
            fn get_mant(self, a: [$t; N]) -> [$t; N] {
                map!(|l| Scalar::<$t>::new().get_mant(a[l]))
            }
            #[inline(always)]
            fn lt_mask(self, a: [$t; N], b: [$t; N]) -> [bool; N] {
                map!(|l| a[l] < b[l])
            }
            #[inline(always)]
            fn gt_mask(self, a: [$t; N], b: [$t; N]) -> [bool; N] {
                map!(|l| a[l] > b[l])
            }
            #[inline(always)]
            fn eq_mask(self, a: [$t; N], b: [$t; N]) -> [bool; N] {
                map!(|l| a[l] == b[l])
            }
            #[inline(always)]
            fn and_mask(self, a: [bool; N], b: [bool; N]) -> [bool; N] {
                map!(|l| a[l] & b[l])
            }
            #[inline(always)]
            fn or_mask(self, a: [bool; N], b: [bool; N]) -> [bool; N] {
                map!(|l| a[l] | b[l])
            }
            #[inline(always)]
            fn any(self, mask: [bool; N]) -> bool {
                mask.iter().fold(false, |acc, &m| acc | m)
            }
            #[inline(always)]
            fn all(self, mask: [bool; N]) -> bool {
                mask.iter().fold(true, |acc, &m| acc & m)
            }
            #[inline(always)]
            fn lane_bits(self, mask: [bool; N]) -> u64 {
                mask.iter().rev().fold(0, |acc, &m| acc << 1 | u64::from(m))
            }
            #[inline(always)]
            fn blend(self, mask: [bool; N], a: [$t; N], b: [$t; N]) -> [$t; N] {
                map!(|l| if mask[l] { a[l] } else { b[l] })
            }
            #[inline(always)]
            fn tail(self, valid: usize) -> [bool; N] {
                map!(|l| l < valid)
            }
            #[inline(always)]
            fn lanes_between(self, from: usize, to: usize) -> [bool; N] {
                map!(|l| from <= l && l < to)
            }
            #[inline(always)]
            fn iota(self, base: u32) -> [u32; N] {
                map!(|l| base + l as u32)
            }
            #[inline(always)]
            fn splat_idx(self, i: u32) -> [u32; N] {
                [i; N]
            }
            #[inline(always)]
            fn blend_idx(self, mask: [bool; N], a: [u32; N], b: [u32; N]) -> [u32; N] {
                map!(|l| if mask[l] { a[l] } else { b[l] })
            }
            #[inline(always)]
            fn store_idx(self, i: [u32; N], dst: &mut [u32]) {
                dst[..N].copy_from_slice(&i);
            }
            #[inline(always)]
            fn load_idx(self, src: &[u32]) -> [u32; N] {
                map!(|l| src[l])
            }
            #[inline(always)]
            fn rotate_up(self, v: [$t; N]) -> [$t; N] {
                map!(|l| v[(l + N - 1) % N])
            }
            #[inline(always)]
            fn rotate_up_idx(self, i: [u32; N]) -> [u32; N] {
                map!(|l| i[(l + N - 1) % N])
            }
            #[inline(always)]
            fn reduce_sum(self, v: [$t; N]) -> $t {
                // Pairwise, in a fixed order.
                let mut v = v;
                let mut n = N;
                while n > 1 {
                    let half = n / 2;
                    for l in 0..half {
                        v[l] += v[l + n - half];
                    }
                    n -= half;
                }
                v[0]
            }
        }
    };
}

lanes_math!(f32);
lanes_math!(f64);
