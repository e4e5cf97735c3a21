//! `ndarray` interop (feature `ndarray`): inputs as 2-D views, one row per point (a parameter is
//! a `1 x dim` view), outputs as `Array2`, one row per output index. The `ndarray` types are
//! re-exported here; inputs made with your own `ndarray` dependency work if its version is the
//! same (0.16).

pub use ndarray::{Array2, ArrayView2};

use crate::cpu::math::Real;
use crate::error::{Error, Result};
use crate::kernel::Kernel;

/// Evaluates `k` on 2-D inputs in declaration order: the output has one row per output index
/// and the kernel's output width as columns (the values, then the indices as numbers, as
/// [`Kernel::eval_flat`]). Views need not be contiguous.
pub fn eval<K: Kernel>(k: &K, inputs: &[ArrayView2<'_, K::T>]) -> Result<Array2<K::T>> {
    let flat = flatten(k, inputs)?;
    let out = k.eval_flat(&flat)?;
    let info = k.info();
    let width = info.value_width + info.index_width;
    into_rows(out, width)
}

/// The gradient of `sum <output, e>` with respect to input `pos`, shaped as that input.
pub fn grad<K: Kernel>(
    k: &K,
    pos: usize,
    inputs: &[ArrayView2<'_, K::T>],
    e: ArrayView2<'_, K::T>,
) -> Result<Array2<K::T>> {
    let flat = flatten(k, inputs)?;
    let e: Vec<K::T> = e.iter().copied().collect();
    let g = k.grad_flat(pos, &flat, &e)?;
    into_rows(g, inputs[pos].ncols())
}

/// Row-major copies of the inputs, after checking each has its variable's number of columns.
fn flatten<K: Kernel>(k: &K, inputs: &[ArrayView2<'_, K::T>]) -> Result<Vec<Vec<K::T>>> {
    let info = k.info();
    if inputs.len() != info.vars.len() {
        return Err(Error::InputCount { expected: info.vars.len(), got: inputs.len() });
    }
    info.vars
        .iter()
        .zip(inputs)
        .map(|(v, x)| {
            if x.ncols() != v.dim {
                return Err(Error::Columns { var: v.name, cols: x.ncols(), dim: v.dim });
            }
            Ok(x.iter().copied().collect())
        })
        .collect()
}

/// `flat` as rows of `width`.
fn into_rows<T: Real>(flat: Vec<T>, width: usize) -> Result<Array2<T>> {
    let rows = flat.len().checked_div(width).unwrap_or(0);
    Ok(Array2::from_shape_vec((rows, width), flat).expect("a whole number of rows"))
}
