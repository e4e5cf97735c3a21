//! `keops::faer` (feature `faer`): `MatRef` in, `Mat` out, row-major inputs read in place, the
//! same numbers as `eval_flat` and `grad_flat`. Run with `cargo test --features faer --test faer`.

#![cfg(feature = "faer")]

use keops::faer::{Mat, MatRef, eval, grad};
use keops::{Error, Rows, keops};

#[test]
fn row_major_matrices_are_read_in_place() {
    let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let m = MatRef::from_row_major_slice(&data, 4, 3);
    let rows = Rows::from(m);
    assert!(rows.is_borrowed());
    assert_eq!(rows.as_slice().as_ptr(), data.as_ptr());
    assert_eq!((rows.nrows(), rows.ncols()), (4, 3));
    // Whole rows of it, and one column of a column-major matrix, are still contiguous.
    assert_eq!(Rows::from(m.subrows(1, 2)).as_slice(), &data[3..9]);
    assert!(Rows::from(m.subrows(1, 2)).is_borrowed());
    let col_major = Mat::from_fn(4, 3, |i, j| (3 * i + j) as f32);
    assert!(Rows::from(col_major.col(1).as_mat()).is_borrowed());
    // A column-major matrix, or skipped columns, are copied in row-major order.
    let copied = Rows::from(col_major.as_ref());
    assert!(!copied.is_borrowed());
    assert_eq!(copied.as_slice(), &data[..]);
    assert_eq!(Rows::from(m.subcols(1, 2)).as_slice()[..4], [1.0, 2.0, 4.0, 5.0]);
    assert!(!Rows::from(m.subcols(1, 2)).is_borrowed());
}

#[test]
fn results_are_those_of_the_flat_calls() {
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], b_j: f64| min_argmin_j sqdist(x_i, y_j) + b_j);
    let x: Vec<f64> = (0..10).map(|v| 0.3 * v as f64 - 1.0).collect();
    let y = Mat::from_fn(4, 2, |j, c| 0.5 * j as f64 - 0.25 * c as f64);
    let b = Mat::from_fn(4, 1, |j, _| 0.1 * j as f64);
    let inputs = [MatRef::from_row_major_slice(&x, 5, 2), y.as_ref(), b.as_ref()];
    let out = eval(&k, &inputs).unwrap();
    assert_eq!(out.shape(), (5, 2));
    let y_flat: Vec<f64> = (0..4).flat_map(|j| [y[(j, 0)], y[(j, 1)]]).collect();
    let b_flat: Vec<f64> = (0..4).map(|j| b[(j, 0)]).collect();
    let flat = k.eval_flat(&[&x[..], &y_flat, &b_flat]).unwrap();
    // Each row: its value, then its index (`eval_flat` gives all values, then all indices).
    for i in 0..5 {
        assert_eq!((out[(i, 0)], out[(i, 1)]), (flat[i], flat[5 + i]));
    }

    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], b_j: f64| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let e = Mat::from_fn(5, 1, |i, _| 1.0 + i as f64);
    let e_flat: Vec<f64> = (0..5).map(|i| e[(i, 0)]).collect();
    let gy = grad(&k, 1, &inputs, e.as_ref()).unwrap();
    assert_eq!(gy.shape(), (4, 2));
    let want = k.grad_flat(1, &[&x[..], &y_flat, &b_flat], &e_flat).unwrap();
    for j in 0..4 {
        assert_eq!([gy[(j, 0)], gy[(j, 1)]], want[2 * j..2 * j + 2]);
    }
    let err = eval(&k, &[inputs[0], inputs[2], inputs[2]]).unwrap_err();
    assert_eq!(err, Error::Columns { var: "y_j", cols: 1, dim: 2 });
}
