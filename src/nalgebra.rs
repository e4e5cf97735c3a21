//! `nalgebra` interop (feature `nalgebra`, nalgebra 0.35): points are the columns of a matrix,
//! as nalgebra stores them (`Matrix3xX<f32>` holds 3-D points), or a slice of `Point`s; both are
//! read in place. Outputs are a `DMatrix` with one column per output index. A matrix whose rows
//! are the points (a `DVector` of weights, a `DMatrix` read as `n x dim`) goes through [`rows`].
//!
//! ```
//! use keops::nalgebra::{self, DVector, Matrix3xX, Point3};
//! use keops::{Rows, keops};
//!
//! let k = keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32, s: f32| sum_j exp(-s * sqdist(x_i, y_j)) * b_j);
//! let x = Matrix3xX::from_fn(4, |c, i| (c + i) as f32 * 0.1);
//! let y = [Point3::new(0.0f32, 0.1, 0.2), Point3::new(1.0, 0.0, -1.0)];
//! let b = DVector::from_vec(vec![1.0f32, 2.0]);
//! let s = [0.5f32];
//! let out = nalgebra::eval(&k, &[(&x).into(), y[..].into(), nalgebra::rows(&b), Rows::borrowed(&s, 1)])?;
//! // One column per point x_i.
//! assert_eq!(out.shape(), (1, 4));
//! # Ok::<(), keops::Error>(())
//! ```

pub use nalgebra::{DMatrix, DVector, Matrix3xX, Point3};

use nalgebra::base::storage::{IsContiguous, RawStorage};
use nalgebra::{Const, Dim, Dyn, Matrix, OPoint, Scalar};

use crate::error::Result;
use crate::kernel::Kernel;
use crate::rows::{Rows, eval_rows, grad_rows};

impl<'a, T: Scalar, const D: usize, S> From<&'a Matrix<T, Const<D>, Dyn, S>> for Rows<'a, T>
where
    S: RawStorage<T, Const<D>, Dyn> + IsContiguous,
{
    /// A matrix of `D` rows holds one point per column (`Matrix3xX`, `Matrix1xX` for weights).
    fn from(m: &'a Matrix<T, Const<D>, Dyn, S>) -> Self {
        columns(m)
    }
}

impl<'a, T, const D: usize> From<&'a [OPoint<T, Const<D>>]> for Rows<'a, T>
where
    T: Scalar + bytemuck::Pod,
    OPoint<T, Const<D>>: bytemuck::Pod,
{
    /// Points are `D` numbers each, contiguous (nalgebra's `Pod` impl guarantees the layout).
    fn from(points: &'a [OPoint<T, Const<D>>]) -> Self {
        Rows::borrowed(bytemuck::cast_slice(points), D)
    }
}

/// The columns of `m` as the points, read in place.
pub fn columns<'a, T, R, C, S>(m: &'a Matrix<T, R, C, S>) -> Rows<'a, T>
where
    T: Scalar,
    R: Dim,
    C: Dim,
    S: RawStorage<T, R, C> + IsContiguous,
{
    Rows::borrowed(m.as_slice(), m.nrows())
}

/// The rows of `m` as the points: read in place for a single column (a `DVector` of `n` numbers
/// is `n` points of dimension 1) or a single row, copied otherwise (nalgebra stores columns).
pub fn rows<'a, T, R, C, S>(m: &'a Matrix<T, R, C, S>) -> Rows<'a, T>
where
    T: Scalar,
    R: Dim,
    C: Dim,
    S: RawStorage<T, R, C> + IsContiguous,
{
    let (nrows, ncols) = m.shape();
    if nrows <= 1 || ncols == 1 {
        return Rows::borrowed(m.as_slice(), ncols);
    }
    Rows::owned((0..nrows).flat_map(|i| (0..ncols).map(move |j| m[(i, j)].clone())).collect(), ncols)
}

/// Evaluates `k` on its inputs in declaration order: one column per output index, holding the
/// row's values, then its indices as numbers.
pub fn eval<K: Kernel>(k: &K, inputs: &[Rows<'_, K::T>]) -> Result<DMatrix<K::T>>
where
    K::T: Scalar,
{
    let (out, width) = eval_rows(k, inputs)?;
    Ok(columns_of(out, width))
}

/// The gradient of `sum <output, e>` with respect to input `pos`: one column per point of that
/// input. `e` has the output's values, as [`eval`] gives them.
pub fn grad<K: Kernel>(
    k: &K,
    pos: usize,
    inputs: &[Rows<'_, K::T>],
    e: &Rows<'_, K::T>,
) -> Result<DMatrix<K::T>>
where
    K::T: Scalar,
{
    let (g, width) = grad_rows(k, pos, inputs, e)?;
    Ok(columns_of(g, width))
}

/// Row-major rows of `width` as the columns of a matrix: the same memory, no copy.
fn columns_of<T: Scalar>(flat: Vec<T>, width: usize) -> DMatrix<T> {
    let n = flat.len().checked_div(width).unwrap_or(0);
    DMatrix::from_vec(width, n, flat)
}
