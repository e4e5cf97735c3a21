//! pykeops 2.3 reference results (tests/data/keops_oracle), with the formulas written in the
//! math syntax of `keops!`.

mod common;

use common::{check_oracle, check_oracle_aliased};
use keops::keops;

#[test]
fn gauss_sum() {
    check_oracle(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j),
        "gauss_sum",
    );
}

#[test]
fn gauss_sum_f64() {
    check_oracle(
        &keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 2], g: f64| sum_j exp(-g * sqdist(x_i, y_j)) * b_j),
        "gauss_sum_f64",
    );
}

#[test]
fn generic_syntax() {
    check_oracle(
        &keops!(|p: f32, a_j: f32, x_i: [f32; 3], y_j: [f32; 3]| sum_j square(p - a_j) * exp(x_i + y_j)),
        "generic_syntax",
    );
}

#[test]
fn generic_syntax_axis0() {
    check_oracle(
        &keops!(|p: f32, a_j: f32, x_i: [f32; 3], y_j: [f32; 3]| sum_i square(p - a_j) * exp(x_i + y_j)),
        "generic_syntax_axis0",
    );
}

#[test]
fn laplace_kernel() {
    check_oracle(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-sqrt(sqdist(x_i, y_j))) * b_j),
        "laplace_kernel",
    );
}

#[test]
fn cauchy_kernel() {
    check_oracle(
        &keops!(|x_i: [f32; 2], y_j: [f32; 2], b_j: f32| sum_j inv(1 + sqdist(x_i, y_j)) * b_j),
        "cauchy_kernel",
    );
}

#[test]
fn cos_minus() {
    check_oracle(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 2]| sum_j sum(cos(x_i) - y_j) * b_j),
        "cos_minus",
    );
}

#[test]
fn log_rsqrt() {
    check_oracle(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], a_j: f32, b_j: f32| sum_j log(1 + sqnorm2(x_i - y_j)) * rsqrt(a_j) * b_j),
        "log_rsqrt",
    );
}

#[test]
fn elem_extract_concat() {
    check_oracle(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3]| sum_j [x_i[0] * y_j[1..3], sin(x_i)]),
        "elem_extract_concat",
    );
}

#[test]
fn relu_abs_sign() {
    check_oracle(
        &keops!(|x_i: [f32; 4], y_j: [f32; 4]| sum_j relu(x_i - y_j) + abs(x_i) * sign(y_j) + step(x_i + y_j)),
        "relu_abs_sign",
    );
}

#[test]
fn normalize_dot() {
    check_oracle(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j dot(normalize(x_i), normalize(y_j)) * b_j),
        "normalize_dot",
    );
}

#[test]
fn atan2_ifelse() {
    check_oracle(
        &keops!(|x_i: [f32; 2], y_j: [f32; 2]| sum_j atan2(x_i, y_j) * ifelse(x_i - y_j, x_i, y_j)),
        "atan2_ifelse",
    );
}

#[test]
fn pow_scalprod() {
    check_oracle_aliased(
        &keops!(|p: [f32; 2], x_i: [f32; 3], y_j: [f32; 3]| sum_j pow(dot(x_i, y_j), 2) * (p[0] * x_i + p[1] * y_j)),
        "pow_scalprod",
        &["P", "X", "Y"],
    );
}

#[test]
fn big_dim_gauss() {
    check_oracle(
        &keops!(|x_i: [f32; 64], y_j: [f32; 64], b_j: [f32; 4]| sum_j exp(-sqdist(x_i, y_j) / 64) * b_j),
        "big_dim_gauss",
    );
}

#[test]
fn grad_in_formula() {
    check_oracle(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32, e_i: f32| sum_j grad(exp(-sqdist(x_i, y_j)) * b_j, x_i, e_i)),
        "grad_in_formula",
    );
}

#[test]
fn lse_gauss() {
    check_oracle(
        &keops!(|p: f32, a_j: f32, x_i: [f32; 3], y_j: [f32; 3]| logsumexp_j square(p - a_j) * exp(-sqnorm2(x_i - y_j))),
        "lse_gauss",
    );
}

#[test]
fn matvec() {
    check_oracle_aliased(
        &keops!(|a_i: [f32; 6], y_j: [f32; 3]| sum_j matvecmult(a_i, y_j)),
        "matvec",
        &["A", "y"],
    );
}

#[test]
fn softmax_weight() {
    check_oracle(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 3]| sumsoftmaxweight_j(sqdist(x_i, y_j), b_j)),
        "softmax_weight",
    );
}

#[test]
fn argkmin_3() {
    check_oracle(&keops!(|x_i: [f32; 3], y_j: [f32; 3]| argkmin_j::<3> sqdist(x_i, y_j)), "argkmin_3");
}

#[test]
fn kmin_5() {
    check_oracle(&keops!(|x_i: [f32; 2], y_j: [f32; 2]| kmin_j::<5> sqdist(x_i, y_j)), "kmin_5");
}

#[test]
fn argmin_kmeans() {
    check_oracle(&keops!(|x_i: [f32; 4], c_j: [f32; 4]| argmin_j sqdist(x_i, c_j)), "argmin_kmeans");
}

#[test]
fn min_argmin_axis0() {
    check_oracle(
        &keops!(|x_i: [f32; 5], y_j: [f32; 5]| min_argmin_i sum(exp(-square(x_i + y_j)))),
        "min_argmin_axis0",
    );
}

#[test]
fn max_scalprod() {
    check_oracle(&keops!(|x_i: [f32; 3], y_j: [f32; 3]| max_j dot(x_i, y_j)), "max_scalprod");
}

#[test]
fn weighted_sqdist_gmm() {
    check_oracle(
        &keops!(|x_i: [f32; 2], m_j: [f32; 2], g_j: [f32; 2], w_j: f32| sum_j exp(-weightedsqdist(g_j, x_i, m_j)) * w_j),
        "weighted_sqdist_gmm",
    );
}
