//! `genred!`, KeOps formula strings: every pykeops reference case (every reduction) through
//! `genred!` with its formula, alias strings and options verbatim; every reference case through
//! the parser, the checker and the reference evaluator too; and `genred!` against `keops!` on the
//! same formulas.

mod common;

use common::json::Json;
use common::{OracleCase, Rng, check_oracle};
use keops::{Index, Kernel, genred, keops};
use keops_core::check::check;
use keops_core::syntax::keops::parse_genred_str;

/// A test running `genred!` on a reference case's strings, after checking that they are the
/// case's own (formula, aliases, reduction, axis, dtype).
macro_rules! oracle {
    ($case:ident: $formula:tt, [$($alias:tt),*] $(, $key:ident = $value:tt)*) => {
        #[test]
        fn $case() {
            let k = genred!($formula, [$($alias),*] $(, $key = $value)*);
            check_case(&k, stringify!($case), $formula, &[$($alias),*]);
        }
    };
}

/// The cases of `tests/data/keops_oracle`, each tested below.
const CASES: &[&str] = &[
    "gauss_sum",
    "gauss_sum_f64",
    "generic_syntax",
    "generic_syntax_axis0",
    "pow_scalprod",
    "laplace_kernel",
    "cauchy_kernel",
    "cos_minus",
    "log_rsqrt",
    "elem_extract_concat",
    "relu_abs_sign",
    "normalize_dot",
    "matvec",
    "weighted_sqdist_gmm",
    "atan2_ifelse",
    "grad_in_formula",
    "big_dim_gauss",
    "lse_gauss",
    "softmax_weight",
    "argkmin_3",
    "kmin_5",
    "argmin_kmeans",
    "min_argmin_axis0",
    "max_scalprod",
];

oracle!(gauss_sum: "Exp(-SqDist(x,y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"], axis = 1);
oracle!(gauss_sum_f64: "Exp(-g*SqDist(x,y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)", "g = Pm(1)"], dtype = f64, axis = 1);
oracle!(generic_syntax: "Square(p-a)*Exp(x+y)", ["p = Pm(1)", "a = Vj(1)", "x = Vi(3)", "y = Vj(3)"], axis = 1);
oracle!(generic_syntax_axis0: "Square(p-a)*Exp(x+y)", ["p = Pm(1)", "a = Vj(1)", "x = Vi(3)", "y = Vj(3)"], axis = 0);
oracle!(pow_scalprod: "Pow((X|Y),2) * ((Elem(P,0) * X) + (Elem(P,1) * Y))", ["P = Pm(2)", "X = Vi(3)", "Y = Vj(3)"], axis = 1);
oracle!(laplace_kernel: "Exp(-Sqrt(SqDist(x,y))) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"], axis = 1);
oracle!(cauchy_kernel: "Inv(IntCst(1) + SqDist(x,y)) * b", ["x = Vi(2)", "y = Vj(2)", "b = Vj(1)"], axis = 1);
oracle!(cos_minus: "Sum(Cos(x)-y) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)"], axis = 1);
oracle!(log_rsqrt: "Log(IntCst(1) + SqNorm2(x-y)) * Rsqrt(a) * b", ["x = Vi(3)", "y = Vj(3)", "a = Vj(1)", "b = Vj(1)"], axis = 1);
oracle!(elem_extract_concat: "Concat(Elem(x,0)*Extract(y,1,2), Sin(x))", ["x = Vi(3)", "y = Vj(3)"], axis = 1);
oracle!(relu_abs_sign: "ReLU(x-y) + Abs(x)*Sign(y) + Step(x+y)", ["x = Vi(4)", "y = Vj(4)"], axis = 1);
oracle!(normalize_dot: "(Normalize(x)|Normalize(y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"], axis = 1);
oracle!(matvec: "MatVecMult(A, y)", ["A = Vi(6)", "y = Vj(3)"], axis = 1);
oracle!(weighted_sqdist_gmm: "Exp(-WeightedSqDist(g, x, m)) * w", ["x = Vi(2)", "m = Vj(2)", "g = Vj(2)", "w = Vj(1)"], axis = 1);
oracle!(atan2_ifelse: "Atan2(x, y) * IfElse(x-y, x, y)", ["x = Vi(2)", "y = Vj(2)"], axis = 1);
oracle!(grad_in_formula: "Grad(Exp(-SqDist(x,y)) * b, x, e)", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "e = Vi(1)"], axis = 1);
oracle!(big_dim_gauss: "Exp(-SqDist(x,y)*IntInv(64)) * b", ["x = Vi(64)", "y = Vj(64)", "b = Vj(4)"], axis = 1);
oracle!(lse_gauss: "Square(p-a)*Exp(-SqNorm2(x-y))", ["p = Pm(1)", "a = Vj(1)", "x = Vi(3)", "y = Vj(3)"], reduction = "LogSumExp", axis = 1);
oracle!(softmax_weight: "SqDist(x,y)", ["x = Vi(3)", "y = Vj(3)", "b = Vj(3)"], reduction = "SumSoftMaxWeight", formula2 = "b", axis = 1);
oracle!(argkmin_3: "SqDist(x,y)", ["x = Vi(3)", "y = Vj(3)"], reduction = "ArgKMin", opt_arg = 3, axis = 1);
oracle!(kmin_5: "SqDist(x,y)", ["x = Vi(2)", "y = Vj(2)"], reduction = "KMin", opt_arg = 5, axis = 1);
oracle!(argmin_kmeans: "SqDist(x,c)", ["x = Vi(4)", "c = Vj(4)"], reduction = "ArgMin", axis = 1);
oracle!(min_argmin_axis0: "Sum(Exp(-Square(x+y)))", ["x = Vi(5)", "y = Vj(5)"], reduction = "Min_ArgMin", axis = 0);
oracle!(max_scalprod: "(x|y)", ["x = Vi(3)", "y = Vj(3)"], reduction_op = "Max", axis = 1);

/// Checks that the macro call used the case's own strings and options, then its output.
fn check_case<K: Kernel>(k: &K, case: &str, formula: &str, aliases: &[&str]) {
    let json = &OracleCase::load(case).json;
    assert_eq!(json.get("formula").unwrap().str(), formula, "{case}: formula");
    let want: Vec<&str> = json.get("aliases").unwrap().arr().iter().map(Json::str).collect();
    assert_eq!(want, aliases, "{case}: aliases");
    let info = k.info();
    assert_eq!(info.reduction, json.get("reduction").map_or("Sum", Json::str), "{case}: reduction");
    let dtype = match json.get("dtype").map_or("float32", Json::str) {
        "float64" => "f64",
        _ => "f32",
    };
    assert_eq!(info.dtype, dtype, "{case}: dtype");
    let reduced = if json.get("axis").map_or(1.0, Json::num) == 0.0 { Index::I } else { Index::J };
    assert_eq!(info.reduced, reduced, "{case}: axis");
    check_oracle(k, case);
}

/// The reference cases, as `(name, json)`.
fn all_cases() -> Vec<(String, Json)> {
    let dir = format!("{}/tests/data/keops_oracle", env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<(String, Json)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, Json::parse(&std::fs::read_to_string(&p).unwrap()))
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

#[test]
fn every_case_goes_through_genred() {
    let names: Vec<String> = all_cases().into_iter().map(|(name, _)| name).collect();
    let mut listed: Vec<&str> = CASES.to_vec();
    listed.sort_unstable();
    assert_eq!(names, listed, "every case of tests/data/keops_oracle has an `oracle!` test above");
}

/// The `genred!` arguments of a reference case, as they would be written.
fn genred_args(json: &Json) -> String {
    let s = |key: &str| json.get(key).map(|v| format!("{:?}", v.str()));
    let aliases: Vec<String> =
        json.get("aliases").unwrap().arr().iter().map(|a| format!("{:?}", a.str())).collect();
    let mut args = format!("{}, [{}]", s("formula").unwrap(), aliases.join(", "));
    if let Some(r) = s("reduction") {
        args += &format!(", reduction = {r}");
    }
    // The files' default axis is 1, pykeops' is 0.
    args += &format!(", axis = {}", json.get("axis").map_or(1.0, Json::num));
    if let Some(d) = s("dtype") {
        args += &format!(", dtype = {d}");
    }
    if let Some(k) = json.get("opt_arg") {
        args += &format!(", opt_arg = {}", k.num());
    }
    if let Some(f) = s("formula2") {
        args += &format!(", formula2 = {f}");
    }
    args
}

/// Every reference case, whatever its reduction, parses and checks as `genred!` arguments, has
/// the output shape pykeops gave, and the reference evaluator reproduces pykeops' output.
#[test]
fn every_case_parses_checks_and_evaluates() {
    for (name, json) in all_cases() {
        let args = genred_args(&json);
        let src = parse_genred_str(&args).unwrap_or_else(|d| panic!("{name}: {args}: {:?}", d.errors()));
        let kernel = check(&src).unwrap_or_else(|d| panic!("{name}: {:?}", d.errors()));
        let case = OracleCase::load(&name);
        let inputs: Vec<Vec<f64>> = kernel.params.iter().map(|p| case.input(&p.name)).collect();
        let refs: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
        let out = keops_core::eval::evaluate(&kernel, &refs).unwrap();
        let shape: Vec<usize> =
            json.get("output_shape").unwrap().nums().iter().map(|&x| x as usize).collect();
        let (values, indices) = out.widths;
        match shape[..] {
            [2, rows, width] => assert_eq!((out.rows, values, indices), (rows, width, width), "{name}"),
            [rows, width] => assert_eq!((out.rows, values.max(indices)), (rows, width), "{name}"),
            _ => panic!("{name}: unexpected output shape {shape:?}"),
        }
        let tol = case.tolerance();
        common::assert_close(&out.flat(), &case.output(), tol, tol, &format!("{name} (reference evaluator)"));
    }
}

/// Random rows of `N` values in `[-1, 1)`.
fn rows<const N: usize, T: keops::Real>(rng: &mut Rng, n: usize) -> Vec<[T; N]> {
    (0..n).map(|_| std::array::from_fn(|_| T::from_f64(rng.uniform(-1.0, 1.0)))).collect()
}

#[test]
fn same_kernel_as_keops_macro() {
    let mut rng = Rng::new(3);
    let (x, y, b) =
        (rows::<3, f32>(&mut rng, 41), rows::<3, f32>(&mut rng, 29), rows::<1, f32>(&mut rng, 29));
    let g = genred!(
        "Exp(-SqDist(x,y)) * b",
        ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"],
        reduction = "Sum",
        axis = 1,
        dtype = f32
    );
    let m = keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let a: Vec<[f32; 1]> = g.eval(&x, &y, &b).unwrap();
    assert_eq!(a, m.eval(&x, &y, &b).unwrap());
    let flat = g.eval_flat(&[x.as_flattened(), y.as_flattened(), b.as_flattened()]).unwrap();
    assert_eq!(flat, a.as_flattened());
}

#[test]
fn parameters_f64_and_reduction_over_i() {
    let mut rng = Rng::new(4);
    let (x, y, b) =
        (rows::<2, f64>(&mut rng, 17), rows::<2, f64>(&mut rng, 23), rows::<2, f64>(&mut rng, 23));
    let g = genred!(
        "Exp(-g * SqDist(x, y)) * b",
        ["x = Vi(2)", "y = Vj(2)", "b = Vj(2)", "g = Pm(1)"],
        axis = 0,
        dtype = "float64"
    );
    let m =
        keops!(|x_i: [f64; 2], y_j: [f64; 2], b_j: [f64; 2], g: f64| sum_i exp(-g * sqdist(x_i, y_j)) * b_j);
    // `Pm(1)` is passed by value, as `keops!`'s `g: f64`.
    let a = g.eval(&x, &y, &b, 0.7).unwrap();
    assert_eq!(a.len(), 23, "one row per j");
    assert_eq!(a, m.eval(&x, &y, &b, 0.7).unwrap());
}

#[test]
fn var_positions_and_operators() {
    let mut rng = Rng::new(5);
    let (x, y) = (rows::<3, f32>(&mut rng, 13), rows::<3, f32>(&mut rng, 19));
    // Positions out of order, and a `Var` straight in the formula.
    let g = genred!(
        "IfElse(x - Var(1, 3, 1), x**2, (x|y) * IntInv(2)) + (x < y) + (x >= y) * RatCst(1, 4) - y**-1",
        ["y = Vj(1, 3)", "x = Vi(0, 3)"],
        axis = 1
    );
    let m = keops!(|x_i: [f32; 3], y_j: [f32; 3]| sum_j ifelse(x_i - y_j, pow(x_i, 2), dot(x_i, y_j) * 0.5)
        + (x_i < y_j)
        + (x_i >= y_j) * 0.25
        - pow(y_j, -1));
    let names: Vec<_> = g.info().vars.iter().map(|v| (v.name, v.index, v.dim)).collect();
    assert_eq!(names, [("x", Index::I, 3), ("y", Index::J, 3)]);
    let a = g.eval(&x, &y).unwrap();
    let want = m.eval(&x, &y).unwrap();
    for (a, w) in a.as_flattened().iter().zip(want.as_flattened()) {
        assert!((a - w).abs() <= 1e-5 * (1.0 + w.abs()), "{a} vs {w}");
    }
}

#[test]
fn new_operations_through_genred() {
    // A few of the operations added with the KeOps set, against the reference evaluator.
    common::check_reference(
        &genred!(
            "Concat(ComplexMult(z, w), TensorDot(A, B, (2, 3), (3, 2), (1,), (0,))) + Clamp(Sum(A), -1, 1) + Max(B) * ArgMin(A)",
            ["z = Vi(4)", "w = Vj(4)", "A = Vi(6)", "B = Vj(6)"],
            dtype = f64
        ),
        9,
        14,
        -1.0,
        1.0,
        1,
    );
    common::check_reference(
        &genred!(
            "WeightedSqNorm(s, x - y) + XLogX(Abs(x) + 1) + SinXDivX(y) + Atan(x) + Mod(x, IntCst(2), 0)",
            ["x = Vi(3)", "y = Vj(3)", "s = Pm(9)"]
        ),
        11,
        6,
        -1.0,
        1.0,
        2,
    );
}

/// pykeops' own install check (`pykeops.test_numpy_bindings()`): without `axis`, `Genred`
/// reduces over i. With x = 1..9 (3 x 3) and y = 3..8 (2 x 3), `sum_i |x_i - y_j|^2` is
/// 4+4+4 + 1+1+1 + 16+16+16 = 63 for y_0 and 25+25+25 + 4+4+4 + 1+1+1 = 90 for y_1, the values
/// that check expects.
#[test]
fn without_axis_reduces_over_i_as_pykeops() {
    let k = genred!("SqNorm2(x - y)", ["x = Vi(3)", "y = Vj(3)"]);
    let x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
    let y = [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]];
    assert_eq!(k.eval(&x, &y).unwrap(), [[63.0], [90.0]]);
}

#[test]
fn info_of_a_genred_kernel() {
    let g = genred!("SqDist(x, y) * p", ["x = Vi(2)", "y = Vj(2)", "p = Pm(3)"], dtype = f64);
    let info = g.info();
    // Without `axis`, over i, as pykeops' `Genred` (`axis=0`).
    assert_eq!((info.reduction, info.reduced, info.dtype), ("Sum", Index::I, "f64"));
    assert_eq!((info.value_width, info.index_width), (3, 0));
    assert!(info.formula.starts_with("\"SqDist(x, y) * p\""), "{}", info.formula);
}

#[test]
fn keops_special_values_in_generated_code() {
    // XLogX(0) = 0, SinXDivX(0) = 1, Rsqrt(0) = 0, Step(0) = 1, IfElse tests `>= 0`.
    let k = genred!(
        "Concat(Concat(XLogX(x), SinXDivX(x)), Concat(Rsqrt(x), Concat(Step(x), IfElse(x, IntCst(2), IntCst(3)))))",
        ["x = Vi(1)"],
        dtype = f64
    );
    assert_eq!(k.eval_flat(&[[0.0]]).unwrap(), [0.0, 1.0, 0.0, 1.0, 2.0]);
    let k = genred!(
        "Concat(Concat(XLogX(x), SinXDivX(x)), Concat(Rsqrt(x), Concat(Step(x), IfElse(x, IntCst(2), IntCst(3)))))",
        ["x = Vi(1)"]
    );
    assert_eq!(k.eval_flat(&[[0.0f32]]).unwrap(), [0.0, 1.0, 0.0, 1.0, 2.0]);
}

/// pykeops' options that do not change the result here are accepted, as they would be copied
/// from Python: `cuda_type` (the old `dtype`), `sum_scheme = "direct_sum"` (summed as
/// `block_sum`), `dtype_acc = "auto"`, `use_double_acc = False`, `enable_chunks`,
/// `rec_multVar_highdim`.
#[test]
fn pykeops_options_that_change_nothing_are_accepted() {
    let mut rng = Rng::new(9);
    let (x, y) = (rows::<3, f64>(&mut rng, 23), rows::<3, f64>(&mut rng, 31));
    let plain = genred!(
        "SqDist(x, y)",
        ["x = Vi(3)", "y = Vj(3)"],
        reduction_op = "Sum",
        axis = 1,
        dtype = "float64"
    );
    let options = genred!(
        "SqDist(x, y)",
        ["x = Vi(3)", "y = Vj(3)"],
        reduction_op = "Sum",
        axis = 1,
        cuda_type = "float64",
        sum_scheme = "direct_sum",
        dtype_acc = "auto",
        use_double_acc = False,
        enable_chunks = True,
        rec_multVar_highdim = False
    );
    let a: Vec<[f64; 1]> = plain.eval(&x, &y).unwrap();
    assert_eq!(a, options.eval(&x, &y).unwrap());
}
