//! Inputs taken from array libraries without copying them, and outputs shaped for them: what
//! the array modules (`keops::ndarray`, `keops::nalgebra`, `keops::faer`) share. A kernel
//! declared with dimensions `_` (a `DynKernel`) takes them from its inputs' columns.

use std::borrow::Cow;

/// One input of a kernel as rows of `cols` numbers, row-major, as the kernels read it: borrowed
/// from the caller's array when its memory already has that layout, copied into this value
/// otherwise. The array modules convert their types into it (`From` impls, and functions where
/// a type's rows could mean either of its axes).
///
/// ```
/// use keops::Rows;
///
/// let points = [[0.0f32, 1.0], [2.0, 3.0]];
/// let rows = Rows::from(&points[..]);
/// assert!(rows.is_borrowed());
/// assert_eq!((rows.nrows(), rows.ncols()), (2, 2));
/// assert_eq!(rows.as_slice().as_ptr(), points.as_flattened().as_ptr());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Rows<'a, T: Clone> {
    data: Cow<'a, [T]>,
    cols: usize,
}

impl<'a, T: Clone> Rows<'a, T> {
    /// Rows of `cols` numbers in `data`, borrowed. `data.len()` should be a multiple of `cols`;
    /// evaluation reports it otherwise.
    pub fn borrowed(data: &'a [T], cols: usize) -> Self {
        Rows { data: Cow::Borrowed(data), cols }
    }

    /// Rows of `cols` numbers in `data`, owned (a copy made from a layout the kernels cannot
    /// read in place).
    pub fn owned(data: Vec<T>, cols: usize) -> Self {
        Rows { data: Cow::Owned(data), cols }
    }

    /// Whether the numbers are the caller's own memory, not a copy.
    pub fn is_borrowed(&self) -> bool {
        matches!(self.data, Cow::Borrowed(_))
    }

    /// The numbers, row after row.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The number of whole rows.
    pub fn nrows(&self) -> usize {
        self.data.len().checked_div(self.cols).unwrap_or(0)
    }

    /// The numbers per row.
    pub fn ncols(&self) -> usize {
        self.cols
    }
}

impl<T: Clone> AsRef<[T]> for Rows<'_, T> {
    fn as_ref(&self) -> &[T] {
        &self.data
    }
}

impl<'a, T: Clone, const D: usize> From<&'a [[T; D]]> for Rows<'a, T> {
    fn from(rows: &'a [[T; D]]) -> Self {
        Rows::borrowed(rows.as_flattened(), D)
    }
}

#[cfg(any(test, feature = "ndarray", feature = "nalgebra", feature = "faer"))]
pub(crate) use calls::{eval_rows, grad_rows};

/// `eval_flat`'s output (all values, then all indices) as rows of values followed by indices.
#[cfg(any(test, feature = "ndarray", feature = "nalgebra", feature = "faer", feature = "candle"))]
pub(crate) fn by_rows<T: Copy>(info: &crate::KernelInfo, flat: Vec<T>) -> Vec<T> {
    let (values, indices) = (info.value_width, info.index_width);
    if values == 0 || indices == 0 {
        return flat;
    }
    let rows = flat.len() / (values + indices);
    let (v, i) = flat.split_at(rows * values);
    v.chunks(values).zip(i.chunks(indices)).flat_map(|(v, i)| v.iter().chain(i)).copied().collect()
}

/// The calls of the array modules.
#[cfg(any(test, feature = "ndarray", feature = "nalgebra", feature = "faer"))]
mod calls {
    use super::{Rows, by_rows};
    use crate::error::{Error, Result};
    use crate::kernel::Kernel;

    /// The inputs' numbers of columns.
    fn columns<T: Clone>(inputs: &[Rows<'_, T>]) -> Vec<usize> {
        inputs.iter().map(Rows::ncols).collect()
    }

    /// Checks that `inputs` are `k`'s inputs in number and in columns.
    fn check_columns<K: Kernel>(k: &K, inputs: &[Rows<'_, K::T>]) -> Result<()> {
        let info = k.info();
        if inputs.len() != info.vars.len() {
            return Err(Error::InputCount { expected: info.vars.len(), got: inputs.len() });
        }
        // A dimension 0 is one given at run time that does not fit the formula: the kernel's
        // call says why.
        for (v, x) in info.vars.iter().zip(inputs) {
            if v.dim != 0 && x.ncols() != v.dim {
                return Err(Error::Columns { var: v.name, cols: x.ncols(), dim: v.dim });
            }
        }
        Ok(())
    }

    /// `k`'s output for `inputs`, one row per output index: its values, then its indices as
    /// numbers (`eval_flat` gives all values, then all indices). Returns the rows and their width.
    pub(crate) fn eval_rows<K: Kernel>(k: &K, inputs: &[Rows<'_, K::T>]) -> Result<(Vec<K::T>, usize)> {
        let sized = k.sized_for(&columns(inputs));
        let k = sized.as_ref().unwrap_or(k);
        check_columns(k, inputs)?;
        let info = k.info();
        Ok((by_rows(&info, k.eval_flat(inputs)?), info.value_width + info.index_width))
    }

    /// The gradient of `sum <output, e>` with respect to input `pos`, as rows of that input;
    /// `e` has the output's rows (values only). Returns the rows and their width.
    pub(crate) fn grad_rows<K: Kernel>(
        k: &K,
        pos: usize,
        inputs: &[Rows<'_, K::T>],
        e: &Rows<'_, K::T>,
    ) -> Result<(Vec<K::T>, usize)> {
        let sized = k.sized_for(&columns(inputs));
        let k = sized.as_ref().unwrap_or(k);
        check_columns(k, inputs)?;
        let width = k.info().value_width;
        if e.ncols() != width {
            return Err(Error::Columns { var: "e", cols: e.ncols(), dim: width });
        }
        let cols = inputs.get(pos).map_or(0, Rows::ncols);
        Ok((k.grad_flat(pos, inputs, e.as_slice())?, cols))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn values_and_indices_are_interleaved_by_row() {
        let k = crate::keops!(|x_i: f64, y_j: f64| min_argmin_j(x_i - y_j) * (x_i - y_j));
        let (x, y) = ([0.0, 3.0, 1.1], [1.0, 3.5, -1.0]);
        let inputs = [Rows::borrowed(&x[..], 1), Rows::borrowed(&y[..], 1)];
        let (out, width) = eval_rows(&k, &inputs).unwrap();
        assert_eq!(width, 2);
        // x = 0 is nearest to y = 1 (index 0, ties broken by the first), 3 to 3.5, 1.1 to 1.
        let expect = [1.0, 0.0, 0.25, 1.0, 0.01, 0.0];
        for (got, want) in out.iter().zip(expect) {
            assert!((got - want).abs() < 1e-12, "{out:?}");
        }
    }

    #[test]
    fn wrong_columns_and_counts_are_errors() {
        let k = crate::keops!(|x_i: [f32; 2], y_j: [f32; 2]| sum_j sqdist(x_i, y_j));
        let (x, y) = ([0.0f32; 4], [0.0f32; 6]);
        let err = eval_rows(&k, &[Rows::borrowed(&x[..], 2), Rows::borrowed(&y[..], 3)]).unwrap_err();
        assert_eq!(err, Error::Columns { var: "y_j", cols: 3, dim: 2 });
        let err = eval_rows(&k, &[Rows::borrowed(&x[..], 2)]).unwrap_err();
        assert_eq!(err, Error::InputCount { expected: 2, got: 1 });
        let e = Rows::borrowed(&x[..], 2);
        let inputs = [Rows::borrowed(&x[..], 2), Rows::borrowed(&y[..4], 2)];
        assert_eq!(grad_rows(&k, 0, &inputs, &e).unwrap_err(), Error::Columns { var: "e", cols: 2, dim: 1 });
    }
}
