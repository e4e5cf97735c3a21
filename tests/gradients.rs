//! Backward kernels against finite differences of the forward kernel (f64): every reduction,
//! both axes, gradients with respect to i-variables, j-variables and parameters.

mod common;

use common::check_gradients;
use keops::{Kernel, keops};

fn at_sizes<K: Kernel<T = f64>>(k: &K) {
    for (seed, &(m, n)) in [(1, 1), (5, 7), (13, 40), (0, 3)].iter().enumerate() {
        check_gradients(k, m, n, -1.0, 1.0, 200 + seed as u64);
    }
}

#[test]
fn sum() {
    at_sizes(
        &keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 2], g: f64| sum_j exp(-g * sqdist(x_i, y_j)) * b_j),
    );
    at_sizes(
        &keops!(|x_i: [f64; 2], y_j: [f64; 2], p: [f64; 2]| sum_i sin(x_i * y_j + p) / (2.0 + cos(x_i))),
    );
}

#[test]
fn log_sum_exp() {
    at_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3], g: f64| logsumexp_j - g * sqdist(x_i, y_j)));
    at_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2], h_i: f64| logsumexp_i h_i + dot(x_i, y_j)));
    at_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2], w_j: [f64; 3]| logsumexp_j(
        dot(x_i, y_j),
        exp(w_j * x_i[0])
    )));
}

#[test]
fn soft_max() {
    at_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 2], s: f64| sumsoftmaxweight_j(
        -s * sqdist(x_i, y_j),
        b_j
    )));
    at_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2]| sumsoftmaxweight_i(dot(x_i, y_j), x_i * y_j)));
}

#[test]
fn min_max_through_the_selected_indices() {
    at_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3], s: f64| min_j s * sqdist(x_i, y_j)));
    at_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2]| max_i x_i * y_j + sin(y_j)));
    at_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2], p: f64| min_argmin_j p * x_i - y_j));
    at_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2]| max_argmax_i dot(x_i, y_j)));
}

#[test]
fn k_min_through_the_selected_indices() {
    at_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3]| kmin_j::<3> sqdist(x_i, y_j)));
    at_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2], p: f64| kmin_argkmin_i::<2> p * x_i + y_j));
}

#[test]
fn index_only_reductions_have_zero_gradient() {
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2]| argkmin_j::<2> sqdist(x_i, y_j));
    let x = [0.1, 0.2, 0.3, 0.4];
    let y = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
    let e = [1.0; 4];
    assert_eq!(k.grad_flat(0, &[&x[..], &y[..]], &e).unwrap(), vec![0.0; 4]);
    assert_eq!(k.grad_flat(1, &[&x[..], &y[..]], &e).unwrap(), vec![0.0; 6]);
}

#[test]
fn second_order_gaussian() {
    // The gradient of a gradient: differentiate the kernel whose formula is a gradient.
    at_sizes(
        &keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: f64, e_i: f64| sum_j grad(exp(-sqdist(x_i, y_j)) * b_j, x_i, e_i)),
    );
}

#[test]
fn typed_gradients() {
    keops! {
        struct Gauss = |x_i: [f64; 2], y_j: [f64; 2], b_j: f64, s: f64| sum_j exp(-s * sqdist(x_i, y_j)) * b_j;
    }
    let k = Gauss::new();
    let x = [[0.0, 0.0], [1.0, 0.5]];
    let y = [[0.5, 0.5], [1.0, 1.0], [-1.0, 0.0]];
    let b = [1.0, 2.0, 3.0];
    let e = [[1.0], [-0.5]];
    let g = k.grad(&x, &y, &b, 0.7, &e).unwrap();
    let flat = |v: &[[f64; 2]]| v.as_flattened().to_vec();
    let inputs = [x.as_flattened(), y.as_flattened(), &b[..], &[0.7]];
    assert_eq!(flat(&g.x_i), k.grad_flat(0, &inputs, e.as_flattened()).unwrap());
    assert_eq!(flat(&g.y_j), k.grad_flat(1, &inputs, e.as_flattened()).unwrap());
    assert_eq!(g.b_j, k.grad_flat(2, &inputs, e.as_flattened()).unwrap());
    assert_eq!(vec![g.s], k.grad_flat(3, &inputs, e.as_flattened()).unwrap());
    // d/db_j = sum_i e_i exp(-s |x_i - y_j|^2).
    let want: f64 = (0..2)
        .map(|i| e[i][0] * (-0.7 * ((x[i][0] - y[0][0]).powi(2) + (x[i][1] - y[0][1]).powi(2))).exp())
        .sum();
    assert!((g.b_j[0] - want).abs() < 1e-15);
    // One input at a time: the same values, each from its own backward kernel.
    assert_eq!(k.grad_x_i(&x, &y, &b, 0.7, &e).unwrap(), g.x_i);
    assert_eq!(k.grad_y_j(&x, &y, &b, 0.7, &e).unwrap(), g.y_j);
    assert_eq!(k.grad_b_j(&x, &y, &b, 0.7, &e).unwrap(), g.b_j);
    assert_eq!(k.grad_s(&x, &y, &b, 0.7, &e).unwrap(), g.s);
    // Of a selection too, whose gradient goes through the selected indices.
    let nearest = keops!(|x_i: [f64; 2], y_j: [f64; 2]| min_j sqdist(x_i, y_j));
    let g = nearest.grad(&x, &y, &e).unwrap();
    assert_eq!(nearest.grad_y_j(&x, &y, &e).unwrap(), g.y_j);
    assert_eq!(g.y_j[2], [0.0, 0.0]);
}

#[test]
fn gradient_errors() {
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_j sqdist(x_i, y_j));
    let x = [0.0; 4];
    let y = [0.0; 6];
    let err = k.grad_flat(0, &[&x[..], &y[..]], &[1.0; 3]).unwrap_err();
    assert_eq!(err, keops::Error::GradientShape { len: 3, expected: 2 });
    let err = k.grad_flat(2, &[&x[..], &y[..]], &[1.0; 2]).unwrap_err();
    assert_eq!(err, keops::Error::NoSuchVariable { pos: 2, count: 2 });
}
