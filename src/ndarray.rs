//! `ndarray` interop (feature `ndarray`): inputs as 2-D views, one row per point (a parameter is
//! a `1 x dim` view), outputs as `Array2`, one row per output index. Views in standard (row-major,
//! contiguous) layout are read in place; others are copied. Works with ndarray 0.16 and 0.17:
//! the types are re-exported here, and a view made with your own `ndarray` dependency works if
//! Cargo resolves it to the same version as keops' (it does when both are in that range).

/// The `ndarray` crate keops was built with, for views of that version whatever yours is.
#[doc(no_inline)]
pub use ndarray;
pub use ndarray::{Array2, ArrayView2};

use crate::error::Result;
use crate::kernel::Kernel;
use crate::rows::{Rows, eval_rows, grad_rows};

impl<'a, T: Clone> From<ArrayView2<'a, T>> for Rows<'a, T> {
    /// Borrows a view in standard layout, copies any other.
    fn from(view: ArrayView2<'a, T>) -> Self {
        let cols = view.ncols();
        match view.to_slice() {
            Some(data) => Rows::borrowed(data, cols),
            None => Rows::owned(view.iter().cloned().collect(), cols),
        }
    }
}

impl<'a, T: Clone> From<&ArrayView2<'a, T>> for Rows<'a, T> {
    fn from(view: &ArrayView2<'a, T>) -> Self {
        Rows::from(*view)
    }
}

/// Evaluates `k` on 2-D inputs in declaration order: the output has one row per output index
/// and the kernel's output width as columns (a row's values, then its indices as numbers).
pub fn eval<K: Kernel>(k: &K, inputs: &[ArrayView2<'_, K::T>]) -> Result<Array2<K::T>> {
    let inputs: Vec<Rows<'_, K::T>> = inputs.iter().map(Rows::from).collect();
    let (out, width) = eval_rows(k, &inputs)?;
    Ok(into_array(out, width))
}

/// The gradient of `sum <output, e>` with respect to input `pos`, shaped as that input; `e` is
/// shaped as the output's values.
pub fn grad<K: Kernel>(
    k: &K,
    pos: usize,
    inputs: &[ArrayView2<'_, K::T>],
    e: ArrayView2<'_, K::T>,
) -> Result<Array2<K::T>> {
    let inputs: Vec<Rows<'_, K::T>> = inputs.iter().map(Rows::from).collect();
    let (g, width) = grad_rows(k, pos, &inputs, &Rows::from(e))?;
    Ok(into_array(g, width))
}

/// `flat` as rows of `width`; `flat` holds whole rows.
fn into_array<T>(flat: Vec<T>, width: usize) -> Array2<T> {
    let rows = flat.len().checked_div(width).unwrap_or(0);
    Array2::from_shape_vec((rows, width), flat).expect("the kernels return whole rows")
}
