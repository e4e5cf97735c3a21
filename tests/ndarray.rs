//! `keops::ndarray` (feature `ndarray`): 2-D views in, `Array2` out, the same numbers as
//! `eval_flat` and `grad_flat`. Run with `cargo test --features ndarray --test ndarray`.

#![cfg(feature = "ndarray")]

use keops::ndarray::{Array2, ArrayView2, eval, grad};
use keops::{Error, keops};

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
    let x = Array2::<f32>::zeros((3, 3));
    let y = Array2::from_shape_fn((4, 3), |(j, _)| j as f32);
    let out = eval(&k, &[x.view(), y.view()]).unwrap();
    // Values then indices, as columns.
    assert_eq!(out.dim(), (3, 2));
    assert_eq!(out.column(1).to_vec(), vec![0.0; 3]);
    let wrong: Array2<f32> = Array2::zeros((4, 2));
    let err = eval(&k, &[x.view(), wrong.view()]).unwrap_err();
    assert_eq!(err, Error::Columns { var: "y_j", cols: 2, dim: 3 });
    assert_eq!(err.to_string(), "input `y_j` has 2 columns, expected 3 (its dimension)");
    let none: [ArrayView2<f32>; 1] = [x.view()];
    assert_eq!(eval(&k, &none).unwrap_err(), Error::InputCount { expected: 2, got: 1 });
}
