//! Operations and their derivatives at their singular points (`Sqrt` at 0, `Atan2` at the
//! origin, `Pow` with a negative exponent at 0, ...) give what pykeops gives, NaN and infinities
//! included: `tests/data/keops_singular/cases.json`, made by `make.py` beside it with pykeops 2.3.
//! Each case is a `Genred` formula, an operation or its `Grad`, with its aliases verbatim.

mod common;

use common::json::Json;
use keops::{Kernel, genred};

/// The reference file's cases, by name.
fn cases() -> &'static Json {
    static CASES: std::sync::OnceLock<Json> = std::sync::OnceLock::new();
    CASES.get_or_init(|| {
        let path = format!("{}/tests/data/keops_singular/cases.json", env!("CARGO_MANIFEST_DIR"));
        Json::parse(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
    })
}

/// A reference value: a number, or "nan", "inf", "-inf".
fn reference(v: &Json) -> f64 {
    match v {
        Json::Str(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unexpected value {other:?}"),
        },
        v => v.num(),
    }
}

/// Evaluates `k` on case `name`'s inputs and compares with pykeops' output: the same class
/// (NaN, the same infinity, or finite) and, if finite, within 1e-12 relative; 1e-6 for `Powf`,
/// which pykeops computes with C's single-precision `powf` even in float64.
fn check<K: Kernel<T = f64>>(k: &K, name: &str, formula: &str, aliases: &[&str]) {
    let tol = if name.starts_with("powf") { 1e-6 } else { 1e-12 };
    let case = cases().get("cases").unwrap().arr().iter().find(|c| c.get("name").unwrap().str() == name);
    let case = case.unwrap_or_else(|| panic!("no case `{name}` in cases.json"));
    assert_eq!(case.get("formula").unwrap().str(), formula, "{name}: formula");
    let want: Vec<&str> = case.get("aliases").unwrap().arr().iter().map(Json::str).collect();
    assert_eq!(want, aliases, "{name}: aliases");
    let inputs: Vec<Vec<f64>> = aliases
        .iter()
        .map(|a| case.get("inputs").unwrap().get(a.split('=').next().unwrap().trim()).unwrap().nums())
        .collect();
    let got = k.eval_flat(&inputs).unwrap();
    let want: Vec<f64> = case.get("output").unwrap().arr().iter().map(reference).collect();
    assert_eq!(got.len(), want.len(), "{name}: output length");
    for (n, (&g, &w)) in got.iter().zip(&want).enumerate() {
        let same = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            g.is_finite() && (g - w).abs() <= tol * (1.0 + w.abs())
        };
        assert!(
            same,
            "{name} ({formula}), output {n}: {g} here, {w} in pykeops\n  here:    {got:?}\n  pykeops: {want:?}"
        );
    }
}

/// A test of case `$name`: `genred!` on its formula and aliases, `Sum` over j in f64.
macro_rules! singular {
    ($($name:ident: $formula:literal, [$($alias:literal),*];)*) => {
        $(
            #[test]
            fn $name() {
                let k = genred!($formula, [$($alias),*], axis = 1, dtype = f64);
                check(&k, stringify!($name), $formula, &[$($alias),*]);
            }
        )*

        #[test]
        fn every_case_is_tested() {
            let mut tested = vec![$(stringify!($name)),*];
            let mut all: Vec<&str> =
                cases().get("cases").unwrap().arr().iter().map(|c| c.get("name").unwrap().str()).collect();
            tested.sort_unstable();
            all.sort_unstable();
            assert_eq!(tested, all);
        }
    };
}

singular! {
    sqrt_value: "Sqrt(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    sqrt_grad: "Grad(Sqrt(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    rsqrt_value: "Rsqrt(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    rsqrt_grad: "Grad(Rsqrt(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    log_value: "Log(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    log_grad: "Grad(Log(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    inv_value: "Inv(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    inv_grad: "Grad(Inv(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    abs_value: "Abs(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    abs_grad: "Grad(Abs(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    sign_value: "Sign(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    sign_grad: "Grad(Sign(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    step_value: "Step(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    step_grad: "Grad(Step(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    relu_value: "ReLU(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    relu_grad: "Grad(ReLU(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    xlogx_value: "XLogX(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    xlogx_grad: "Grad(XLogX(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    sinxdivx_value: "SinXDivX(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    sinxdivx_grad: "Grad(SinXDivX(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    acos_value: "Acos(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    acos_grad: "Grad(Acos(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    asin_value: "Asin(x - y)", ["x = Vi(1)", "y = Vj(1)"];
    asin_grad: "Grad(Asin(x - y), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    powm1_value: "Pow(x - y, -1)", ["x = Vi(1)", "y = Vj(1)"];
    powm1_grad: "Grad(Pow(x - y, -1), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    pow2_value: "Pow(x - y, 2)", ["x = Vi(1)", "y = Vj(1)"];
    pow2_grad: "Grad(Pow(x - y, 2), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    pow3_value: "Pow(x - y, 3)", ["x = Vi(1)", "y = Vj(1)"];
    pow3_grad: "Grad(Pow(x - y, 3), x, e)", ["x = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    powf_value: "Powf(x - y, z)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)"];
    powf_grad_x: "Grad(Powf(x - y, z), x, e)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    powf_grad_z: "Grad(Powf(x - y, z), z, e)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    atan2_value: "Atan2(x - y, z)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)"];
    atan2_grad_x: "Grad(Atan2(x - y, z), x, e)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    atan2_grad_z: "Grad(Atan2(x - y, z), z, e)", ["x = Vi(1)", "z = Vi(1)", "y = Vj(1)", "e = Vi(1)"];
    norm2_value: "Norm2(x - y)", ["x = Vi(3)", "y = Vj(3)"];
    norm2_grad: "Grad(Norm2(x - y), x, e)", ["x = Vi(3)", "y = Vj(3)", "e = Vi(1)"];
    normalize_value: "Normalize(x - y)", ["x = Vi(3)", "y = Vj(3)"];
    normalize_grad: "Grad(Normalize(x - y), x, e)", ["x = Vi(3)", "y = Vj(3)", "e = Vi(3)"];
    laplace_grad: "Grad(Exp(-Sqrt(SqDist(x, y))) * b, x, e)", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "e = Vi(1)"];
}
