//! The KeOps operations that came to the op table last (`SqNormIso`, `SqNormDiag`, `SymSqNorm`,
//! `SumT`, `DiffClampInt`, `BSpline`, `SoftDTW_SqDist`, `TraceOperator`, `AdjointOperator`, and
//! pykeops' `sinc`) give what pykeops gives: `tests/data/keops_ops/cases.json`, made by `make.py`
//! beside it with pykeops 2.3. Each case is a `Genred` formula with its aliases verbatim.
//! `SoftDTW_SqDist`, which pykeops 2.3 gets wrong on the CPU, is held to an independent numpy
//! recursion there instead, and its gradients to finite differences of it.

mod common;

use common::{check_recorded, recorded_case, recorded_tests};
use keops::{Kernel, genred};

/// Evaluates `k` on case `name`'s inputs and compares with the recorded output: within 1e-12
/// relative in float64, 1e-5 in float32 (pykeops computes `BSpline` in float32 only), 1e-7 for
/// gradients recorded as finite differences.
fn check<K: Kernel>(k: &K, name: &str, formula: &str, aliases: &[&str]) {
    let case = recorded_case("keops_ops", name);
    let finite_differences = case.get("reference").is_some() && name.contains("grad");
    let tol = match case.get("dtype").unwrap().str() {
        "float32" => 1e-5,
        _ if finite_differences => 1e-7,
        _ => 1e-12,
    };
    check_recorded(k, case, formula, aliases, tol);
}

recorded_tests! {
    "keops_ops", check;
    sqnormiso_value: f64, "SqNormIso(s, x - y)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(1)"];
    sqnormiso_grad_x: f64, "Grad(SqNormIso(s, x - y), x, e)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(1)", "e = Vi(1)"];
    sqnormiso_grad_s: f64, "Grad(SqNormIso(s, x - y), s, e)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(1)", "e = Vi(1)"];
    sqnormdiag_value: f64, "SqNormDiag(s, x - y)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(3)"];
    sqnormdiag_grad_x: f64, "Grad(SqNormDiag(s, x - y), x, e)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(3)", "e = Vi(1)"];
    sqnormdiag_grad_s: f64, "Grad(SqNormDiag(s, x - y), s, e)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(3)", "e = Vi(1)"];
    symsqnorm_value: f64, "SymSqNorm(s, x - y)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(9)"];
    symsqnorm_grad_x: f64, "Grad(SymSqNorm(s, x - y), x, e)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(9)", "e = Vi(1)"];
    symsqnorm_grad_s: f64, "Grad(SymSqNorm(s, x - y), s, e)", ["x = Vi(3)", "y = Vj(3)", "s = Pm(9)", "e = Vi(1)"];
    sumt_value: f64, "SumT(SqDist(x, y), 3)", ["x = Vi(3)", "y = Vj(3)"];
    sumt_grad_x: f64, "Grad(SumT(SqDist(x, y), 3), x, e)", ["x = Vi(3)", "y = Vj(3)", "e = Vi(3)"];
    diffclampint_value: f64, "DiffClampInt(x - y, -1, 1)", ["x = Vi(1)", "y = Vj(1)"];
    bspline0_value: f32, "BSpline(t, x - y, 0)", ["t = Pm(7)", "x = Vi(1)", "y = Vj(1)"];
    bspline1_value: f32, "BSpline(t, x - y, 1)", ["t = Pm(7)", "x = Vi(1)", "y = Vj(1)"];
    bspline2_value: f32, "BSpline(t, x - y, 2)", ["t = Pm(7)", "x = Vi(1)", "y = Vj(1)"];
    bspline3_value: f32, "BSpline(t, x - y, 3)", ["t = Pm(7)", "x = Vi(1)", "y = Vj(1)"];
    softdtw_value: f64, "SoftDTW_SqDist(x, y, g)", ["x = Vi(4)", "y = Vj(3)", "g = Pm(1)"];
    softdtw_grad_x: f64, "Grad(SoftDTW_SqDist(x, y, g), x, e)", ["x = Vi(4)", "y = Vj(3)", "g = Pm(1)", "e = Vi(1)"];
    softdtw_grad_y: f64, "Grad(SoftDTW_SqDist(x, y, g), y, e)", ["x = Vi(4)", "y = Vj(3)", "g = Pm(1)", "e = Vi(1)"];
    softdtw_small_value: f64, "SoftDTW_SqDist(x, y, g)", ["x = Vi(4)", "y = Vj(3)", "g = Pm(1)"];
    softdtw_small_grad_x: f64, "Grad(SoftDTW_SqDist(x, y, g), x, e)", ["x = Vi(4)", "y = Vj(3)", "g = Pm(1)", "e = Vi(1)"];
    softdtw_small_grad_y: f64, "Grad(SoftDTW_SqDist(x, y, g), y, e)", ["x = Vi(4)", "y = Vj(3)", "g = Pm(1)", "e = Vi(1)"];
    trace_diagonal: f64, "TraceOperator(x * SqDist(y, w) - 2 * x, x)", ["x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Vj(3)"];
    trace_weighted: f64, "TraceOperator(x * y, x, w)", ["x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Vj(3)"];
    trace_scalar: f64, "TraceOperator((x | y), x, w)", ["x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Vj(3)"];
    trace_sumt: f64, "TraceOperator(SumT(Sum(x * y), 3), x)", ["x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Vj(3)"];
    adjoint_diagonal: f64, "AdjointOperator(x * y - SumT(Sum(x), 3), x, u)", ["x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Vj(3)"];
    adjoint_elem: f64, "AdjointOperator(Elem(x, 1) * y, x, u)", ["x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Vj(3)"];
    sinc_value: f64, "Sinc(x - y)", ["x = Vi(3)", "y = Vj(3)"];
}

/// Where KeOps refuses a derivative (`BSpline`'s, `SoftDTW_SqDist`'s with respect to `gamma`),
/// the gradient with respect to that input is an error that says why, and the other inputs
/// keep theirs.
#[test]
fn refused_derivatives_are_errors() {
    let k =
        genred!("SoftDTW_SqDist(x, y, g)", ["x = Vi(4)", "y = Vj(3)", "g = Pm(1)"], axis = 1, dtype = f64);
    let inputs = [vec![0.1, 0.5, -0.3, 0.2], vec![0.4, -0.1, 0.0], vec![0.5]];
    let e = [1.0];
    let err = k.grad_flat(2, &inputs, &e).unwrap_err();
    assert!(matches!(err, keops::Error::NotDifferentiable { var: "g", .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no gradient with respect to `g`: `softdtw_sqdist` cannot be differentiated with respect to its operand `gamma` (nor can it in KeOps)"
    );
    assert_eq!(k.grad_flat(0, &inputs, &e).unwrap().len(), 4);
    let b = genred!("BSpline(t, x, 2)", ["t = Pm(5)", "x = Vi(1)"], axis = 1, dtype = f32);
    let err = b.grad_flat(1, &[vec![0.0f32, 1.0, 2.0, 3.0, 4.0], vec![1.5]], &[1.0, 1.0]).unwrap_err();
    assert!(matches!(err, keops::Error::NotDifferentiable { var: "x", .. }), "{err:?}");
}
