//! `keops::nalgebra` (feature `nalgebra`): points as matrix columns or `Point`s, read in place,
//! and the same numbers as `eval_flat` and `grad_flat`. Run with
//! `cargo test --features nalgebra --test nalgebra`.

#![cfg(feature = "nalgebra")]

use keops::nalgebra::{self, DMatrix, DVector, Matrix3xX, Point3, eval, grad};
use keops::{Error, Rows, keops};

#[test]
fn columns_and_points_are_read_in_place() {
    let x = Matrix3xX::from_fn(5, |c, i| (3 * i + c) as f32);
    let rows = Rows::from(&x);
    assert!(rows.is_borrowed());
    assert_eq!(rows.as_slice().as_ptr(), x.as_ptr());
    assert_eq!((rows.nrows(), rows.ncols()), (5, 3));
    assert_eq!(rows.as_slice()[3..6], [3.0, 4.0, 5.0]);
    // A block of whole columns keeps nalgebra's layout.
    let some = x.columns(1, 2);
    assert_eq!(nalgebra::columns(&some).as_slice(), &x.as_slice()[3..9]);
    assert!(nalgebra::columns(&some).is_borrowed());

    let points = [Point3::new(1.0f64, 2.0, 3.0), Point3::new(4.0, 5.0, 6.0)];
    let rows = Rows::from(&points[..]);
    assert!(rows.is_borrowed());
    assert_eq!(rows.as_slice(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

    // A vector is n points of dimension 1, in place; a matrix read by rows is copied.
    let b = DVector::from_vec(vec![1.0f32, 2.0, 3.0]);
    assert!(nalgebra::rows(&b).is_borrowed());
    assert_eq!((nalgebra::rows(&b).nrows(), nalgebra::rows(&b).ncols()), (3, 1));
    let m = DMatrix::from_row_slice(2, 3, &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let by_rows = nalgebra::rows(&m);
    assert!(!by_rows.is_borrowed());
    assert_eq!(by_rows.as_slice(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn results_are_those_of_the_flat_calls() {
    let k = keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: f64, s: f64| sum_j exp(-s * sqdist(x_i, y_j)) * [b_j, x_i[0] * b_j]);
    let x = Matrix3xX::from_fn(6, |c, i| 0.1 * i as f64 - 0.2 * c as f64);
    let y: Vec<Point3<f64>> = (0..4).map(|j| Point3::new(0.3 * j as f64, -0.1, 0.05 * j as f64)).collect();
    // y as the rows of an n x 3 matrix too: the same input, copied.
    let y_rows = DMatrix::from_fn(4, 3, |j, c| y[j][c]);
    let b = DVector::from_fn(4, |j, _| 1.0 + j as f64);
    let s = [0.7];
    let inputs = [(&x).into(), y[..].into(), nalgebra::rows(&b), Rows::borrowed(&s, 1)];
    let out = eval(&k, &inputs).unwrap();
    assert_eq!(out.shape(), (2, 6));
    let flat_y: Vec<f64> = y.iter().flat_map(|p| p.coords.iter().copied()).collect();
    let flat = [x.as_slice(), &flat_y, b.as_slice(), &s[..]];
    assert_eq!(out.as_slice(), &k.eval_flat(&flat).unwrap()[..]);
    let copied = [(&x).into(), nalgebra::rows(&y_rows), nalgebra::rows(&b), Rows::borrowed(&s, 1)];
    assert_eq!(eval(&k, &copied).unwrap(), out);

    let e = DMatrix::from_fn(2, 6, |c, i| (c + i) as f64);
    let gy = grad(&k, 1, &inputs, &nalgebra::columns(&e)).unwrap();
    assert_eq!(gy.shape(), (3, 4));
    assert_eq!(gy.as_slice(), &k.grad_flat(1, &flat, e.as_slice()).unwrap()[..]);
}

#[test]
fn indices_follow_values_in_each_column() {
    let k = keops!(|x_i: [f32; 3], y_j: [f32; 3]| argmin_j sqdist(x_i, y_j));
    let x = Matrix3xX::from_fn(3, |_, i| i as f32);
    let y = Matrix3xX::from_fn(4, |_, j| 3.25 - j as f32);
    assert_eq!(eval(&k, &[(&x).into(), (&y).into()]).unwrap().as_slice(), [3.0, 2.0, 1.0]);
    let k = keops!(|x_i: [f32; 3], y_j: [f32; 3]| min_argmin_j sqdist(x_i, y_j));
    let out = eval(&k, &[(&x).into(), (&y).into()]).unwrap();
    assert_eq!(out.shape(), (2, 3));
    assert_eq!(out.row(1).iter().copied().collect::<Vec<_>>(), [3.0, 2.0, 1.0]);
    let wrong = DMatrix::<f32>::zeros(2, 4);
    let err = eval(&k, &[(&x).into(), nalgebra::columns(&wrong)]).unwrap_err();
    assert_eq!(err, Error::Columns { var: "y_j", cols: 2, dim: 3 });
}
