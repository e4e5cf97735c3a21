//! `faer` interop (feature `faer`, faer 0.24): inputs as `MatRef`s, one row per point (a
//! parameter is a `1 x dim` matrix), outputs as `Mat`, one row per output index. Row-major
//! inputs (`MatRef::from_row_major_slice`, a transposed column-major `Mat`) are read in place;
//! others, a column-major `Mat` among them, are copied.
//!
//! ```
//! use keops::faer::{self, Mat, MatRef};
//! use keops::keops;
//!
//! let k = keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_j sqdist(x_i, y_j));
//! let x = [0.0, 0.0, 1.0, 1.0, 2.0, 0.0];
//! let y = Mat::from_fn(2, 2, |j, c| (j + c) as f64);
//! let out = faer::eval(&k, &[MatRef::from_row_major_slice(&x, 3, 2), y.as_ref()])?;
//! // sqdist of (0, 0) to (0, 1) and to (1, 2): 1 + 5.
//! assert_eq!(out[(0, 0)], 6.0);
//! assert_eq!(out.shape(), (3, 1));
//! # Ok::<(), keops::Error>(())
//! ```

pub use faer::{Mat, MatRef};

use crate::error::Result;
use crate::kernel::Kernel;
use crate::rows::{Rows, eval_rows, grad_rows};

impl<'a, T: Clone> From<MatRef<'a, T>> for Rows<'a, T> {
    /// Borrows a row-major matrix, copies any other.
    fn from(m: MatRef<'a, T>) -> Self {
        let (nrows, ncols) = m.shape();
        let dense_rows = ncols <= 1 || m.col_stride() == 1;
        let dense = nrows <= 1 || m.row_stride() == ncols as isize;
        if dense_rows && dense && nrows * ncols > 0 {
            // SAFETY: with unit column stride and a row stride of `ncols` (or a single row or
            // column), the `nrows * ncols` elements `m` views are contiguous from `as_ptr`, in
            // row-major order, and `m` borrows them, immutably, for `'a`.
            let data = unsafe { std::slice::from_raw_parts(m.as_ptr(), nrows * ncols) };
            return Rows::borrowed(data, ncols);
        }
        Rows::owned((0..nrows).flat_map(|i| (0..ncols).map(move |j| m[(i, j)].clone())).collect(), ncols)
    }
}

impl<'a, T: Clone> From<&MatRef<'a, T>> for Rows<'a, T> {
    fn from(m: &MatRef<'a, T>) -> Self {
        Rows::from(*m)
    }
}

/// Evaluates `k` on inputs in declaration order: one row per output index, holding its values,
/// then its indices as numbers.
pub fn eval<K: Kernel>(k: &K, inputs: &[MatRef<'_, K::T>]) -> Result<Mat<K::T>> {
    let inputs: Vec<Rows<'_, K::T>> = inputs.iter().map(Rows::from).collect();
    let (out, width) = eval_rows(k, &inputs)?;
    Ok(into_mat(&out, width))
}

/// The gradient of `sum <output, e>` with respect to input `pos`, shaped as that input; `e` is
/// shaped as the output's values.
pub fn grad<K: Kernel>(
    k: &K,
    pos: usize,
    inputs: &[MatRef<'_, K::T>],
    e: MatRef<'_, K::T>,
) -> Result<Mat<K::T>> {
    let inputs: Vec<Rows<'_, K::T>> = inputs.iter().map(Rows::from).collect();
    let (g, width) = grad_rows(k, pos, &inputs, &Rows::from(e))?;
    Ok(into_mat(&g, width))
}

/// Row-major rows of `width` as a matrix (faer stores columns, so this copies).
fn into_mat<T: Copy>(flat: &[T], width: usize) -> Mat<T> {
    let rows = flat.len().checked_div(width).unwrap_or(0);
    Mat::from_fn(rows, width, |i, j| flat[i * width + j])
}
