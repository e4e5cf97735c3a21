//! Operations and their derivatives at their singular points (`Sqrt` at 0, `Atan2` at the
//! origin, `Pow` with a negative exponent at 0, ...) give what pykeops gives, NaN and infinities
//! included: `tests/data/keops_singular/cases.json`, made by `make.py` beside it with pykeops 2.3.
//! Each case is a `Genred` formula, an operation or its `Grad`, with its aliases verbatim.

mod common;

use common::{check_recorded, recorded_case, recorded_tests};
use keops::Kernel;

/// Evaluates `k` on case `name`'s inputs and compares with pykeops' output within 1e-12
/// relative; 1e-6 for `Powf`, which pykeops computes with C's single-precision `powf` even in
/// float64.
fn check<K: Kernel<T = f64>>(k: &K, name: &str, formula: &str, aliases: &[&str]) {
    let tol = if name.starts_with("powf") { 1e-6 } else { 1e-12 };
    let case = recorded_case("keops_singular", name);
    check_recorded(k, case, formula, aliases, tol);
}

recorded_tests! {
    "keops_singular", check;
    sqrt_value: f64, "Sqrt(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    sqrt_grad: f64, "Grad(Sqrt(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    rsqrt_value: f64, "Rsqrt(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    rsqrt_grad: f64, "Grad(Rsqrt(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    log_value: f64, "Log(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    log_grad: f64, "Grad(Log(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    inv_value: f64, "Inv(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    inv_grad: f64, "Grad(Inv(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    abs_value: f64, "Abs(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    abs_grad: f64, "Grad(Abs(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    sign_value: f64, "Sign(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    sign_grad: f64, "Grad(Sign(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    step_value: f64, "Step(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    step_grad: f64, "Grad(Step(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    relu_value: f64, "ReLU(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    relu_grad: f64, "Grad(ReLU(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    xlogx_value: f64, "XLogX(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    xlogx_grad: f64, "Grad(XLogX(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    sinxdivx_value: f64, "SinXDivX(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    sinxdivx_grad: f64, "Grad(SinXDivX(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    acos_value: f64, "Acos(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    acos_grad: f64, "Grad(Acos(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    asin_value: f64, "Asin(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    asin_grad: f64, "Grad(Asin(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    powm1_value: f64, "Pow(x - y, -1)", ["x = Vi(1)", "y = Vj(1)"];
    powm1_grad: f64, "Grad(Pow(x - y, -1), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    pow2_value: f64, "Pow(x - y, 2)", ["x = Vi(1)", "y = Vj(1)"];
    pow2_grad: f64, "Grad(Pow(x - y, 2), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    pow3_value: f64, "Pow(x - y, 3)", ["x = Vi(1)", "y = Vj(1)"];
    pow3_grad: f64, "Grad(Pow(x - y, 3), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    powf_value: f64, "Powf(x - y, z)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)"];
    powf_grad_x: f64, "Grad(Powf(x - y, z), x, e)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    powf_grad_z: f64, "Grad(Powf(x - y, z), z, e)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    atan2_value: f64, "Atan2(x - y, z)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)"];
    atan2_grad_x: f64, "Grad(Atan2(x - y, z), x, e)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    atan2_grad_z: f64, "Grad(Atan2(x - y, z), z, e)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    norm2_value: f64, "Norm2(x - y)", ["x = Vi(3)", "y = Vj(3)"];
    norm2_grad: f64, "Grad(Norm2(x - y), x, e)", ["x = Vi(3)", "y = Vj(3)", "e = Vi(1)"];
    normalize_value: f64, "Normalize(x - y)", ["x = Vi(3)", "y = Vj(3)"];
    normalize_grad: f64, "Grad(Normalize(x - y), x, e)", ["x = Vi(3)", "y = Vj(3)", "e = Vi(3)"];
    laplace_grad: f64, "Grad(Exp(-Sqrt(SqDist(x, y))) * b, x, e)", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "e = Vi(1)"];
}
