//! `keops::ndarray` (feature `ndarray`): 2-D views in, `Array2` out, the same numbers as
//! `eval_flat` and `grad_flat`. Run with `cargo test --features ndarray --test ndarray`.

#![cfg(feature = "ndarray")]

use keops::ndarray::ndarray::s;
use keops::ndarray::{Array2, ArrayView2, eval, grad};
use keops::{Error, Rows, keops};

#[test]
fn views_in_arrays_out() {
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], b_j: f64, s: f64| sum_j exp(-s * sqdist(x_i, y_j)) * [b_j, 2 * b_j]);
    let x = Array2::from_shape_fn((5, 2), |(i, c)| (i * 2 + c) as f64 * 0.1);
    // A transposed (non-contiguous) view: 4 rows of y.
    let yt = Array2::from_shape_fn((2, 4), |(c, j)| 0.3 * j as f64 - 0.2 * c as f64);
    let y = yt.t();
    let b = Array2::from_shape_fn((4, 1), |(j, _)| 1.0 + j as f64);
    let s = Array2::from_elem((1, 1), 0.5);
    let inputs = [x.view(), y, b.view(), s.view()];
    let out = eval(&k, &inputs).unwrap();
    assert_eq!(out.dim(), (5, 2));
    let y_flat: Vec<f64> = y.iter().copied().collect();
    let flat_inputs = [x.as_slice().unwrap(), &y_flat[..], b.as_slice().unwrap(), s.as_slice().unwrap()];
    let flat = k.eval_flat(&flat_inputs).unwrap();
    assert_eq!(out.as_slice().unwrap(), &flat[..]);

    let e = Array2::from_elem((5, 2), 1.0);
    let gy = grad(&k, 1, &inputs, e.view()).unwrap();
    assert_eq!(gy.dim(), (4, 2));
    assert_eq!(gy.as_slice().unwrap(), &k.grad_flat(1, &flat_inputs, e.as_slice().unwrap()).unwrap()[..]);
}

#[test]
fn index_outputs_and_shape_errors() {
    let k = keops!(|x_i: [f32; 3], y_j: [f32; 3]| min_argmin_j sqdist(x_i, y_j));
    // x_i = (i, i, i) is nearest to y_j = (j, j, j) with j = 3 - i.
    let x = Array2::from_shape_fn((3, 3), |(i, _)| i as f32);
    let y = Array2::from_shape_fn((4, 3), |(j, _)| 3.0 - j as f32 + 0.25);
    let out = eval(&k, &[x.view(), y.view()]).unwrap();
    // A row's value, then its index.
    assert_eq!(out.dim(), (3, 2));
    assert_eq!(out.column(0).to_vec(), vec![3.0 * 0.0625; 3]);
    assert_eq!(out.column(1).to_vec(), vec![3.0, 2.0, 1.0]);
    let wrong: Array2<f32> = Array2::zeros((4, 2));
    let err = eval(&k, &[x.view(), wrong.view()]).unwrap_err();
    assert_eq!(err, Error::Columns { var: "y_j", cols: 2, dim: 3 });
    assert_eq!(err.to_string(), "input `y_j` has 2 columns, expected 3 (its dimension)");
    let none: [ArrayView2<f32>; 1] = [x.view()];
    assert_eq!(eval(&k, &none).unwrap_err(), Error::InputCount { expected: 2, got: 1 });
}

#[test]
fn row_major_views_are_read_in_place() {
    let x = Array2::from_shape_fn((6, 3), |(i, c)| (i * 3 + c) as f32);
    // Standard layout, including a block of whole rows: borrowed.
    for view in [x.view(), x.slice(s![2..5, ..])] {
        let rows = Rows::from(view);
        assert!(rows.is_borrowed());
        assert_eq!(rows.as_slice().as_ptr(), view.as_ptr());
        assert_eq!((rows.nrows(), rows.ncols()), view.dim());
    }
    // Transposed or with skipped columns: copied, in row-major order.
    let t = x.t();
    let rows = Rows::from(t);
    assert!(!rows.is_borrowed());
    assert_eq!(rows.as_slice(), t.iter().copied().collect::<Vec<_>>());
    let cols = x.slice(s![.., 1..]);
    assert!(!Rows::from(cols).is_borrowed());
    assert_eq!(Rows::from(cols).as_slice()[..2], [1.0, 2.0]);
}

#[test]
fn gradient_seed_has_the_output_width() {
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_j sqdist(x_i, y_j));
    let x = Array2::<f64>::zeros((4, 2));
    let e = Array2::<f64>::ones((2, 2));
    let err = grad(&k, 0, &[x.view(), x.view()], e.view()).unwrap_err();
    assert_eq!(err, Error::Columns { var: "e", cols: 2, dim: 1 });
}

/// A kernel declared with dimensions `_` takes them from the arrays' columns.
#[cfg(feature = "dynamic")]
#[test]
fn dimensions_given_at_run_time_come_from_the_columns() {
    let k = keops!(|x_i: [f64; _], y_j: [f64; _], b_j: f64| sum_j sqdist(x_i, y_j) * b_j);
    for d in [1, 4] {
        let x = Array2::from_shape_fn((3, d), |(i, c)| (i + c) as f64);
        let y = Array2::from_shape_fn((2, d), |(j, c)| (j * c) as f64 * 0.5);
        let b = Array2::from_shape_fn((2, 1), |(j, _)| 1.0 + j as f64);
        // What `keops!` makes of such a kernel dereferences to its `DynKernel`.
        let out = eval(&*k, &[x.view(), y.view(), b.view()]).unwrap();
        let flat = k.with_dims(&[d, d]).eval_flat(&[
            x.as_slice().unwrap(),
            y.as_slice().unwrap(),
            b.as_slice().unwrap(),
        ]);
        assert_eq!(out.as_slice().unwrap(), &flat.unwrap()[..], "d = {d}");
        let e = Array2::from_elem((3, 1), 1.0);
        let gx = grad(&*k, 0, &[x.view(), y.view(), b.view()], e.view()).unwrap();
        assert_eq!(gx.dim(), (3, d));
    }
    // Rows whose lengths break the formula's rules: the dimensions' error.
    let (x, y, b) =
        (Array2::<f64>::zeros((3, 2)), Array2::<f64>::zeros((2, 3)), Array2::<f64>::zeros((2, 1)));
    assert!(matches!(eval(&*k, &[x.view(), y.view(), b.view()]), Err(Error::Dimensions { .. })));
}

/// Batched n-D arrays: shapes read from the arrays, broadcast batches, a permuted (copied)
/// view, and the same numbers as `keops::batch` on the flat data; an argmin's rows hold its
/// value then its index; shapes that do not fit are errors.
#[test]
fn batched_arrays_take_their_shapes_from_the_arrays() {
    use keops::batch::{self, Batches};
    use keops::ndarray::ndarray::{Array, IxDyn};
    use keops::ndarray::{eval_batched, grad_batched};

    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], s: f64| sum_j exp(-s * sqdist(x_i, y_j)));
    let x = Array::from_shape_fn((2, 1, 3, 2), |(a, _, i, c)| 0.1 * (a + 2 * i + c) as f64);
    // y of batch shape (1, 4), stored with its batch dimensions last: a view to be copied.
    let y_stored = Array::from_shape_fn((5, 2, 1, 4), |(j, c, _, b)| 0.05 * (j + c + 3 * b) as f64);
    let y = y_stored.view().permuted_axes([2, 3, 0, 1]).into_dyn();
    let s = Array::from_shape_fn((2, 4, 1), |(a, b, _)| 0.5 + 0.1 * (a + b) as f64);
    let inputs = [x.view().into_dyn(), y.clone(), s.view().into_dyn()];
    let out = eval_batched(&k, &inputs).unwrap();
    assert_eq!(out.shape(), [2, 4, 3, 1]);

    let y_flat: Vec<f64> = y.iter().copied().collect();
    let flat = [x.as_slice().unwrap(), &y_flat[..], s.as_slice().unwrap()];
    let batches = Batches::new(&[&[2, 1], &[1, 4], &[2, 4]]).unwrap();
    assert_eq!(out.as_slice().unwrap(), &batch::eval_flat(&k, &flat, &batches).unwrap()[..]);

    let e = Array::from_shape_fn(IxDyn(&[2, 4, 3, 1]), |i| 1.0 + i[2] as f64);
    let gy = grad_batched(&k, 1, &inputs, e.view()).unwrap();
    assert_eq!(gy.shape(), [1, 4, 5, 2]);
    let want = batch::grad_flat(&k, 1, &flat, e.as_slice().unwrap(), &batches).unwrap();
    assert_eq!(gy.as_slice().unwrap(), &want[..]);

    let nearest = keops!(|x_i: [f64; 2], y_j: [f64; 2]| min_argmin_j sqdist(x_i, y_j));
    let both = eval_batched(&nearest, &inputs[..2]).unwrap();
    assert_eq!(both.shape(), [2, 4, 3, 2]);
    let flat_out =
        batch::eval_flat(&nearest, &flat[..2], &Batches::new(&[&[2, 1], &[1, 4]]).unwrap()).unwrap();
    let (values, indices) = flat_out.split_at(2 * 4 * 3);
    assert_eq!(both.slice(s![.., .., .., 0]).iter().copied().collect::<Vec<_>>(), values);
    assert_eq!(both.slice(s![.., .., .., 1]).iter().copied().collect::<Vec<_>>(), indices);

    let wrong_e = Array::<f64, _>::zeros(IxDyn(&[2, 3, 3, 1]));
    assert!(matches!(grad_batched(&k, 1, &inputs, wrong_e.view()), Err(Error::Batch { .. })));
    let flat_s = Array::<f64, _>::zeros(IxDyn(&[]));
    let err = eval_batched(&k, &[inputs[0].clone(), inputs[1].clone(), flat_s.view()]).unwrap_err();
    assert!(matches!(err, Error::Batch { .. }), "{err}");
    let three_cols = Array::<f64, _>::zeros(IxDyn(&[2, 1, 3, 3]));
    let err = eval_batched(&k, &[three_cols.view(), inputs[1].clone(), inputs[2].clone()]).unwrap_err();
    assert_eq!(err, Error::Columns { var: "x_i", cols: 3, dim: 2 });
}
