//! Half precision (feature `half`): [`struct@f16`] and [`struct@bf16`] inputs and outputs for
//! any `f32` kernel, with f32 arithmetic and accumulation in between.
//!
//! Each input is converted to f32 once, before the reduction (`f16` with the processor's
//! conversion instructions where it has them, F16C on x86-64 and FP16 on aarch64, which the
//! `half` crate detects at run time; `bf16` is the upper half of an `f32`); the values are then
//! rounded to the inputs' type once, to nearest. The
//! conversion copies the inputs: `(M + N) * D * 4` bytes more, next to a reduction over all
//! `M * N` pairs. The GPU backend takes the converted f32 inputs too (no half-precision
//! arithmetic on the device).
//!
//! Values above the type's range (65504 for `f16`) round to infinity. Indices are returned as
//! `usize` (an `f16` holds integers exactly only up to 2048), exact below 2^24, as the `f32`
//! flat API's.
//!
//! ```
//! use keops::half::{self, f16};
//! use keops::keops;
//!
//! let k = keops!(|x_i: [f32; 2], y_j: [f32; 2]| min_argmin_j sqdist(x_i, y_j));
//! let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
//! let (x, y) = (h(&[0.0, 0.0, 3.0, 3.0]), h(&[1.0, 1.0, 2.5, 3.0, 9.0, 9.0]));
//! let out = half::eval_flat(&k, &[&x, &y])?;
//! assert_eq!(out.values, h(&[2.0, 0.25]));
//! assert_eq!(out.indices, [0, 1]);
//! # Ok::<(), keops::Error>(())
//! ```

use ::half::slice::HalfFloatSliceExt;
pub use ::half::{bf16, f16};

use crate::error::Result;
use crate::kernel::Kernel;

/// [`struct@f16`] or [`struct@bf16`].
pub trait Half:
    Copy + Send + Sync + std::fmt::Debug + PartialEq + Into<f32> + 'static + sealed::Sealed
{
    /// The values, exactly, as f32.
    #[doc(hidden)]
    fn widen(values: &[Self]) -> Vec<f32>;
    /// The values, each rounded to nearest.
    #[doc(hidden)]
    fn narrow(values: &[f32]) -> Vec<Self>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for ::half::f16 {}
    impl Sealed for ::half::bf16 {}
}

macro_rules! half_type {
    ($t:ty) => {
        impl Half for $t {
            fn widen(values: &[Self]) -> Vec<f32> {
                values.to_f32_vec()
            }

            fn narrow(values: &[f32]) -> Vec<Self> {
                let mut out = vec![<$t>::ZERO; values.len()];
                out.convert_from_f32_slice(values);
                out
            }
        }
    };
}

half_type!(f16);
half_type!(bf16);

/// A reduction's output rows: the values in the inputs' type, then the indices, each row after
/// row (either may be empty, as the reduction has them).
#[derive(Clone, Debug, PartialEq)]
pub struct Reduced<H> {
    pub values: Vec<H>,
    pub indices: Vec<usize>,
}

/// [`Kernel::eval_flat`] on half-precision inputs.
pub fn eval_flat<K, H, S>(k: &K, inputs: &[S]) -> Result<Reduced<H>>
where
    K: Kernel<T = f32>,
    H: Half,
    S: AsRef<[H]>,
{
    let wide: Vec<Vec<f32>> = inputs.iter().map(|s| H::widen(s.as_ref())).collect();
    let out = k.eval_flat(&wide)?;
    let info = k.info();
    let rows = out.len().checked_div(info.value_width + info.index_width).unwrap_or(0);
    let (values, indices) = out.split_at(rows * info.value_width);
    Ok(Reduced { values: H::narrow(values), indices: indices.iter().map(|&i| i as usize).collect() })
}

/// [`Kernel::grad_flat`] on half-precision inputs and incoming gradient: the gradient with
/// respect to input `pos`, in the inputs' type.
pub fn grad_flat<K, H, S>(k: &K, pos: usize, inputs: &[S], e: &[H]) -> Result<Vec<H>>
where
    K: Kernel<T = f32>,
    H: Half,
    S: AsRef<[H]>,
{
    let wide: Vec<Vec<f32>> = inputs.iter().map(|s| H::widen(s.as_ref())).collect();
    Ok(H::narrow(&k.grad_flat(pos, &wide, &H::widen(e))?))
}
