//! `ndarray` interop (feature `ndarray`): inputs as 2-D views, one row per point (a parameter is
//! a `1 x dim` view), outputs as `Array2`, one row per output index. Views in standard (row-major,
//! contiguous) layout are read in place; others are copied. Works with ndarray 0.16 and 0.17:
//! the types are re-exported here, and a view made with your own `ndarray` dependency works if
//! Cargo resolves it to the same version as keops' (it does when both are in that range).
//!
//! [`eval_batched`] and [`grad_batched`] take n-D arrays with KeOps' leading batch dimensions
//! (see [`crate::batch`]), their shapes read from the arrays.

/// The `ndarray` crate keops was built with, for views of that version whatever yours is.
#[doc(no_inline)]
pub use ndarray;
pub use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD};

use std::borrow::Cow;

use crate::batch::{self, Batches};
use crate::error::{Error, Result};
use crate::info::Index;
use crate::kernel::Kernel;
use crate::rows::{Rows, by_rows, eval_rows, grad_rows};

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

/// Evaluates `k` on batched inputs: a variable of shape `(B1, ..., Bk, rows, dim)`, a parameter
/// of shape `(B1, ..., Bk, dim)`, every input with the same `k` batch dimensions, each the batch
/// size or 1 (broadcast). The output is `(B1, ..., Bk, rows, width)` over the broadcast batch
/// shape, each row as in [`eval`].
///
/// ```
/// use keops::ndarray::{eval_batched, ndarray::Array};
///
/// let k = keops::keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_j sqdist(x_i, y_j));
/// let x = Array::<f64, _>::zeros((3, 1, 5, 2)); // batch shape (3, 1)
/// let y = Array::<f64, _>::ones((1, 4, 7, 2)); //  batch shape (1, 4)
/// let out = eval_batched(&k, &[x.view().into_dyn(), y.view().into_dyn()])?;
/// assert_eq!(out.shape(), [3, 4, 5, 1]);
/// assert_eq!(out[[2, 3, 4, 0]], 7.0 * 2.0);
/// # Ok::<(), keops::Error>(())
/// ```
pub fn eval_batched<K: Kernel>(k: &K, inputs: &[ArrayViewD<'_, K::T>]) -> Result<ArrayD<K::T>> {
    let sized = k.sized_for(&columns(inputs)?);
    let k = sized.as_ref().unwrap_or(k);
    let (flat, batches) = batched(k, inputs)?;
    let info = k.info();
    let out = by_rows(&info, batch::eval_flat(k, &flat, &batches)?);
    let width = info.value_width + info.index_width;
    let rows = out.len().checked_div(batches.count() * width).unwrap_or(0);
    let shape: Vec<usize> = batches.shape().iter().copied().chain([rows, width]).collect();
    Ok(ArrayD::from_shape_vec(shape, out).expect("the kernels return whole problems"))
}

/// The gradient of `sum <output, e>` with respect to input `pos` of a batched evaluation (see
/// [`eval_batched`]), shaped as that input: summed over the batches it is broadcast to. `e` is
/// shaped as the output's values, `(B1, ..., Bk, rows, value width)`.
pub fn grad_batched<K: Kernel>(
    k: &K,
    pos: usize,
    inputs: &[ArrayViewD<'_, K::T>],
    e: ArrayViewD<'_, K::T>,
) -> Result<ArrayD<K::T>> {
    let sized = k.sized_for(&columns(inputs)?);
    let k = sized.as_ref().unwrap_or(k);
    let (flat, batches) = batched(k, inputs)?;
    let width = k.info().value_width;
    let batch_dims = e.shape().len().checked_sub(2).map(|n| &e.shape()[..n]);
    if batch_dims != Some(batches.shape()) || e.shape().last() != Some(&width) {
        return Err(Error::Batch {
            reason: format!(
                "e has shape {:?}; expected the output's batch shape {:?}, its rows, then {width}",
                e.shape(),
                batches.shape()
            ),
        });
    }
    let g = batch::grad_flat(k, pos, &flat, &standard(e), &batches)?;
    Ok(ArrayD::from_shape_vec(inputs[pos].shape(), g).expect("a gradient has its input's shape"))
}

/// The inputs' last dimensions, the kernel's columns.
fn columns<T>(inputs: &[ArrayViewD<'_, T>]) -> Result<Vec<usize>> {
    (inputs.iter().enumerate())
        .map(|(k, x)| {
            x.shape()
                .last()
                .copied()
                .ok_or_else(|| Error::Batch { reason: format!("input {k} is 0-dimensional") })
        })
        .collect()
}

/// The inputs as row-major numbers, and their batch shapes (the dimensions before a variable's
/// last two, before a parameter's last one), after checking their columns.
fn batched<'a, K: Kernel>(
    k: &K,
    inputs: &'a [ArrayViewD<'_, K::T>],
) -> Result<(Vec<Flat<'a, K::T>>, Batches)> {
    let info = k.info();
    if inputs.len() != info.vars.len() {
        return Err(Error::InputCount { expected: info.vars.len(), got: inputs.len() });
    }
    let mut shapes = Vec::with_capacity(inputs.len());
    for (v, x) in info.vars.iter().zip(inputs) {
        let shape = x.shape();
        let trailing = if v.index == Index::Param { 1 } else { 2 };
        let Some(batch_dims) = shape.len().checked_sub(trailing) else {
            return Err(Error::Batch {
                reason: format!("input `{}` has shape {shape:?}, fewer than {trailing} dimensions", v.name),
            });
        };
        let cols = shape[shape.len() - 1];
        if v.dim != 0 && cols != v.dim {
            return Err(Error::Columns { var: v.name, cols, dim: v.dim });
        }
        shapes.push(&shape[..batch_dims]);
    }
    let batches = Batches::new(&shapes)?;
    Ok((inputs.iter().map(|x| standard(x.view())).collect(), batches))
}

/// An array's numbers in row-major order, borrowed or copied.
type Flat<'a, T> = Cow<'a, [T]>;

/// The numbers of `view` in row-major order: its own memory when it has that layout.
fn standard<'a, T: Clone>(view: ArrayViewD<'a, T>) -> Flat<'a, T> {
    match view.to_slice() {
        Some(data) => Cow::Borrowed(data),
        None => Cow::Owned(view.iter().cloned().collect()),
    }
}

/// `flat` as rows of `width`; `flat` holds whole rows.
fn into_array<T>(flat: Vec<T>, width: usize) -> Array2<T> {
    let rows = flat.len().checked_div(width).unwrap_or(0);
    Array2::from_shape_vec((rows, width), flat).expect("the kernels return whole rows")
}
