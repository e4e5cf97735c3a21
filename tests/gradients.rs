//! Backward kernels against finite differences of the forward kernel (f64): every reduction,
//! both axes, gradients with respect to i-variables, j-variables and parameters.

mod common;

use common::check_gradients;
use common::json::Json;
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

/// The case `name` of `tests/data/keops_second_order/cases.json` (made by `make.py` there with
/// pykeops 2.3): its arrays by name.
fn second_order_case(name: &str) -> impl Fn(&str) -> Vec<f64> {
    let path = format!("{}/tests/data/keops_second_order/cases.json", env!("CARGO_MANIFEST_DIR"));
    let json = Json::parse(&std::fs::read_to_string(&path).unwrap());
    let case = json.get(name).unwrap().clone();
    move |key| case.get(key).unwrap().nums()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    let largest = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-11 * largest, "{what}[{k}]: {g}, pykeops {w}");
    }
}

fn scaled(v: &[f64], c: f64) -> Vec<f64> {
    v.iter().map(|x| c * x).collect()
}

/// pykeops' `test_lazytensor_grad.py`: g1 = d/dx sum(out^2), then g2 = d/dx sum(g1^2), where out
/// sums `Sum(Cos(x_i) - y_j) * b_j` over j. The gradient kernel, written with `grad`, is itself
/// differentiated (with respect to x and to the incoming gradient e, which depends on x through
/// out), against pykeops' values.
#[test]
fn second_order_through_a_reduction_matches_pykeops() {
    let case = second_order_case("cos");
    let (x, y, b) = (case("x"), case("y"), case("b"));
    let k = keops!(|x_i: [f64; 3], y_j: f64, b_j: f64| sum_j sum(cos(x_i) - y_j) * b_j);
    let g =
        keops!(|x_i: [f64; 3], y_j: f64, b_j: f64, e_i: f64| sum_j grad(sum(cos(x_i) - y_j) * b_j, x_i, e_i));
    let out = k.eval_flat(&[&x, &y, &b]).unwrap();
    assert_close("out", &out, &case("out"));
    let e = scaled(&out, 2.0);
    let g1 = g.eval_flat(&[&x, &y, &b, &e]).unwrap();
    assert_close("g1", &g1, &case("g1"));
    assert_eq!(g1, k.grad_flat(0, &[&x, &y, &b], &e).unwrap(), "the kernel's own backward pass");
    let v = scaled(&g1, 2.0);
    let direct = g.grad_flat(0, &[&x, &y, &b, &e], &v).unwrap();
    let s = g.grad_flat(3, &[&x, &y, &b, &e], &v).unwrap();
    let through_e = k.grad_flat(0, &[&x, &y, &b], &s).unwrap();
    let g2: Vec<f64> = direct.iter().zip(&through_e).map(|(d, t)| d + 2.0 * t).collect();
    assert_close("g2", &g2, &case("g2"));
}

/// pykeops' `test_lazytensor_gaussian_cpu.py`: the same with respect to b for a Gaussian kernel
/// sum, with pykeops' formula strings ported verbatim to `genred!`.
#[test]
fn second_order_gaussian_matches_pykeops() {
    let case = second_order_case("gauss");
    let (x, y, b) = (case("x"), case("y"), case("b"));
    let k = keops::genred!(
        "Exp(-SqDist(x, y)) * b",
        ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"],
        axis = 1,
        dtype = f64
    );
    let out = k.eval_flat(&[&x, &y, &b]).unwrap();
    assert_close("out", &out, &case("out"));
    let e = scaled(&out, 2.0);
    let g1 = k.grad_flat(2, &[&x, &y, &b], &e).unwrap();
    assert_close("g1", &g1, &case("g1"));
    let s = keops::genred!(
        "Grad(Grad(Exp(-SqDist(x, y)) * b, b, e), e, v)",
        ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "e = Vi(1)", "v = Vj(1)"],
        axis = 1,
        dtype = f64
    )
    .eval_flat(&[&x, &y, &b, &e, &scaled(&g1, 2.0)])
    .unwrap();
    let g2 = scaled(&k.grad_flat(2, &[&x, &y, &b], &s).unwrap(), 2.0);
    assert_close("g2", &g2, &case("g2"));
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
