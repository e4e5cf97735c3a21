//! Shared test helpers: a small deterministic RNG, and the comparison of a generated kernel with
//! keops-core's reference evaluator on the same inputs.

#![allow(dead_code)]

use keops::{Index, Kernel, Real, VarInfo};
use keops_core::check::{Kernel as CheckedKernel, check};
use keops_core::syntax::parse_kernel_text;

pub use keops_testkit::Rng;

/// The kernel as keops-core sees it, re-parsed from the text the macro (`keops!` or `genred!`)
/// recorded, with the dimensions given at run time (`[f32; _]`) that `k.info()` reports.
pub fn checked<K: Kernel>(k: &K) -> CheckedKernel {
    let info = k.info();
    let src = parse_kernel_text(info.formula).unwrap_or_else(|d| panic!("{:?}", d.errors()));
    let dims: Vec<usize> =
        (src.params.iter().zip(info.vars)).filter(|(p, _)| p.runtime_dim).map(|(_, v)| v.dim).collect();
    let src = src.with_dims(&dims).expect("the dimensions of the kernel's variables");
    check(&src).unwrap_or_else(|d| panic!("{:?}", d.errors()))
}

/// Random inputs in `[lo, hi)` for `m` i-rows and `n` j-rows, rounded to the kernel's type.
pub fn random_inputs<K: Kernel>(k: &K, m: usize, n: usize, lo: f64, hi: f64, seed: u64) -> Vec<Vec<K::T>> {
    random_inputs_in(k, m, n, &|_| (lo, hi), seed)
}

/// Random inputs for `m` i-rows and `n` j-rows, each variable in its own range `range(var)`.
pub fn random_inputs_in<K: Kernel>(
    k: &K,
    m: usize,
    n: usize,
    range: &dyn Fn(&VarInfo) -> (f64, f64),
    seed: u64,
) -> Vec<Vec<K::T>> {
    let mut rng = Rng::new(seed);
    k.info()
        .vars
        .iter()
        .map(|v| {
            let (lo, hi) = range(v);
            rng.vec(rows(v, m, n) * v.dim, lo, hi).into_iter().map(K::T::from_f64).collect()
        })
        .collect()
}

/// The rows of `var` when `i` has `m` and `j` has `n`.
fn rows(var: &VarInfo, m: usize, n: usize) -> usize {
    match var.index {
        Index::I => m,
        Index::J => n,
        Index::Param => 1,
    }
}

/// KeOps' test criterion: `|a - b| <= atol + rtol |b|`, NaN matching NaN.
pub fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: output length");
    for (k, (&a, &b)) in got.iter().zip(want).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= atol + rtol * b.abs();
        assert!(ok, "{what}: element {k}: got {a}, want {b} (|diff| = {:e})", (a - b).abs());
    }
}

/// Default tolerance for a kernel's type: KeOps' 1e-4 for f32, 1e-10 for f64.
pub fn tolerance<K: Kernel>(k: &K) -> f64 {
    if k.info().dtype == "f32" { 1e-4 } else { 1e-10 }
}

/// Runs `k` on random inputs and compares with the reference evaluator.
pub fn check_reference<K: Kernel>(k: &K, m: usize, n: usize, lo: f64, hi: f64, seed: u64) {
    check_reference_in(k, m, n, &|_| (lo, hi), seed);
}

/// As [`check_reference`], each variable in its own range.
pub fn check_reference_in<K: Kernel>(
    k: &K,
    m: usize,
    n: usize,
    range: &dyn Fn(&VarInfo) -> (f64, f64),
    seed: u64,
) {
    let inputs = random_inputs_in(k, m, n, range, seed);
    check_inputs(k, &inputs, &format!("M = {m}, N = {n}"));
}

/// Compares `k` on `inputs` with the reference evaluator. Indices may differ where the formula
/// values they select agree within the tolerance (near-ties rounded differently in f32).
pub fn check_inputs<K: Kernel>(k: &K, inputs: &[Vec<K::T>], what: &str) {
    let got: Vec<f64> = k.eval_flat(inputs).unwrap().into_iter().map(Real::to_f64).collect();
    check_output(k, &got, inputs, what);
}

/// `got`, a flat output of `k` (values, then indices), against the reference evaluator on
/// `inputs`.
pub fn check_output<K: Kernel>(k: &K, got: &[f64], inputs: &[Vec<K::T>], what: &str) {
    let info = k.info();
    let inputs64: Vec<Vec<f64>> = inputs.iter().map(|v| v.iter().map(|x| x.to_f64()).collect()).collect();
    let refs: Vec<&[f64]> = inputs64.iter().map(Vec::as_slice).collect();
    let kernel = checked(k);
    let want = keops_core::eval::evaluate(&kernel, &refs).unwrap();
    let tol = tolerance(k);
    let what = format!("`{}` with {what}", info.formula);
    let nv = want.values.len();
    assert_eq!(got.len(), nv + want.indices.len(), "{what}: output length");
    assert_close(&got[..nv], &want.values, tol, tol, &what);
    let width = want.widths.1;
    let dim_f = kernel.graph.dim(kernel.formula);
    for (p, (&g, &w)) in got[nv..].iter().zip(&want.indices).enumerate() {
        if g == w as f64 {
            continue;
        }
        // Compare the values the two indices select, for the same output row and component.
        let (row, c) = (p / width, p % width % dim_f);
        let value = |j: usize| pair_value(&kernel, &refs, row, j)[c];
        let (a, b) = (value(g as usize), value(w));
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: index {p}: got {g} (value {a}), want {w} (value {b})"
        );
    }
}

/// The formula's value for output row `row` and reduced row `j`, by the reference evaluator.
pub fn pair_value(kernel: &CheckedKernel, inputs: &[&[f64]], row: usize, j: usize) -> Vec<f64> {
    use keops_core::ir::Role;
    let (i, j) = if kernel.reduction.over == Role::J { (row, j) } else { (j, row) };
    let rows = |pos: usize| -> &[f64] {
        let p = &kernel.params[pos];
        let r = match p.role {
            Role::I => i,
            Role::J => j,
            Role::Param => 0,
        };
        &inputs[pos][r * p.dim..(r + 1) * p.dim]
    };
    let order = kernel.graph.topo_order(&[kernel.formula]);
    keops_core::eval::eval_nodes(&kernel.graph, &order, &rows)[kernel.formula.index()].clone()
}

pub mod json;

/// One pykeops reference case from `tests/data/keops_oracle`.
pub struct OracleCase {
    pub json: json::Json,
}

impl OracleCase {
    pub fn load(name: &str) -> OracleCase {
        let path = format!("{}/tests/data/keops_oracle/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        OracleCase { json: json::Json::parse(&text) }
    }

    pub fn name(&self) -> &str {
        self.json.get("name").unwrap().str()
    }

    /// The values of alias `name`, flat.
    pub fn input(&self, name: &str) -> Vec<f64> {
        self.json.get("inputs").unwrap().get(name).unwrap_or_else(|| panic!("no input `{name}`")).nums()
    }

    pub fn output(&self) -> Vec<f64> {
        self.json.get("output").unwrap().nums()
    }

    /// Tolerance per the issue: 1e-4 for float32 (KeOps' own), 1e-9 for float64.
    pub fn tolerance(&self) -> f64 {
        match self.json.get("dtype").map(json::Json::str) {
            Some("float64") => 1e-9,
            _ => 1e-4,
        }
    }
}

/// The case `name` of `tests/data/<dir>/cases.json` (read once per file).
pub fn recorded_case(dir: &'static str, name: &str) -> &'static json::Json {
    let cases = recorded_cases(dir).get("cases").unwrap().arr();
    cases
        .iter()
        .find(|c| c.get("name").unwrap().str() == name)
        .unwrap_or_else(|| panic!("no case `{name}` in tests/data/{dir}/cases.json"))
}

/// The names of the cases of `tests/data/<dir>/cases.json`, sorted.
pub fn recorded_names(dir: &'static str) -> Vec<&'static str> {
    let mut names: Vec<&str> = recorded_cases(dir)
        .get("cases")
        .unwrap()
        .arr()
        .iter()
        .map(|c| c.get("name").unwrap().str())
        .collect();
    names.sort_unstable();
    names
}

fn recorded_cases(dir: &'static str) -> &'static json::Json {
    type Files = std::sync::Mutex<std::collections::HashMap<&'static str, &'static json::Json>>;
    static FILES: std::sync::OnceLock<Files> = std::sync::OnceLock::new();
    let mut files = FILES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    files.entry(dir).or_insert_with(|| {
        let path = format!("{}/tests/data/{dir}/cases.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Box::leak(Box::new(json::Json::parse(&text)))
    })
}

/// Tests of the recorded `Genred` cases of `tests/data/<dir>/cases.json`: one per case, which
/// compiles its formula and aliases with `genred!` (`Sum` over j, `axis = 1`) in the float type
/// given and calls `check(&kernel, name, formula, aliases)`; and one that every recorded case
/// has its test.
#[allow(unused_macros)]
macro_rules! recorded_tests {
    ($dir:literal, $check:path; $($name:ident: $dtype:ident, $formula:literal, [$($alias:literal),*];)*) => {
        $(
            #[test]
            fn $name() {
                let k = keops::genred!($formula, [$($alias),*], axis = 1, dtype = $dtype);
                $check(&k, stringify!($name), $formula, &[$($alias),*]);
            }
        )*

        #[test]
        fn every_case_is_tested() {
            let mut tested = vec![$(stringify!($name)),*];
            tested.sort_unstable();
            assert_eq!(tested, common::recorded_names($dir));
        }
    };
}
#[allow(unused_imports)]
pub(crate) use recorded_tests;

/// A recorded value: a number, or "nan", "inf", "-inf" (JSON has no such numbers).
pub fn recorded_value(v: &json::Json) -> f64 {
    match v {
        json::Json::Str(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unexpected value {other:?}"),
        },
        v => v.num(),
    }
}

/// Runs `k` on a recorded `Genred` case (`name`, `formula`, `aliases`, `inputs` by alias,
/// `output`) and requires the same class (NaN, the same infinity, or finite) for every output
/// component and, where finite, agreement within `tol` relative (plus `tol` absolute). The
/// kernel's formula and aliases must be the recorded ones verbatim.
pub fn check_recorded<K: Kernel>(k: &K, case: &json::Json, formula: &str, aliases: &[&str], tol: f64) {
    let name = case.get("name").unwrap().str();
    assert_eq!(case.get("formula").unwrap().str(), formula, "{name}: formula");
    let want: Vec<&str> = case.get("aliases").unwrap().arr().iter().map(json::Json::str).collect();
    assert_eq!(want, aliases, "{name}: aliases");
    let inputs: Vec<Vec<K::T>> = aliases
        .iter()
        .map(|a| {
            let values = case.get("inputs").unwrap().get(a.split('=').next().unwrap().trim()).unwrap().nums();
            values.into_iter().map(K::T::from_f64).collect()
        })
        .collect();
    let got: Vec<f64> = k.eval_flat(&inputs).unwrap().into_iter().map(Real::to_f64).collect();
    let want: Vec<f64> = case.get("output").unwrap().arr().iter().map(recorded_value).collect();
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
            "{name} ({formula}), output {n}: {g} here, {w} recorded\n  here:     {got:?}\n  recorded: {want:?}"
        );
    }
}

/// Runs `f` in a thread pool with big stacks: the test profile compiles large kernels into
/// unoptimised functions of thousands of values, whose stack frames overflow the default
/// stacks of the pool's threads.
pub fn on_big_stacks<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = rayon::ThreadPoolBuilder::new().stack_size(1 << 28).build().unwrap();
    pool.install(f)
}

/// The alias name of a math-syntax variable: `x_i` -> `x`.
pub fn alias_of(var: &str) -> &str {
    var.strip_suffix("_i").or_else(|| var.strip_suffix("_j")).unwrap_or(var)
}

/// Runs `k` on the oracle case's inputs (matched by name: `x_i` reads alias `x`) and compares
/// with pykeops' output.
pub fn check_oracle<K: Kernel>(k: &K, case: &str) {
    let names: Vec<&str> = k.info().vars.iter().map(|v| alias_of(v.name)).collect();
    check_oracle_aliased(k, case, &names);
}

/// As [`check_oracle`], with the oracle's alias name of each variable given explicitly.
pub fn check_oracle_aliased<K: Kernel>(k: &K, case: &str, aliases: &[&str]) {
    let case = OracleCase::load(case);
    let inputs: Vec<Vec<K::T>> =
        aliases.iter().map(|a| case.input(a).into_iter().map(K::T::from_f64).collect()).collect();
    let got: Vec<f64> = k.eval_flat(&inputs).unwrap().into_iter().map(Real::to_f64).collect();
    let tol = case.tolerance();
    assert_close(&got, &case.output(), tol, tol, &format!("oracle case `{}`", case.name()));
    // pykeops' gradients of sum(output * e), where the case has them.
    if let Some(grads) = case.json.get("grads") {
        for (alias, g) in grads.obj() {
            let pos = aliases
                .iter()
                .position(|a| a == alias)
                .unwrap_or_else(|| panic!("no variable for `{alias}`"));
            let e: Vec<K::T> = g.get("e").unwrap().nums().into_iter().map(K::T::from_f64).collect();
            let got: Vec<f64> =
                k.grad_flat(pos, &inputs, &e).unwrap().into_iter().map(Real::to_f64).collect();
            let want = g.get("grad").unwrap().nums();
            assert_close(
                &got,
                &want,
                tol,
                tol,
                &format!("oracle case `{}`, gradient with respect to `{alias}`", case.name()),
            );
        }
    }
}

/// Checks `grad_flat` for every input against central finite differences of `eval_flat`, in
/// f64: the gradient of `sum <values, e>` for a random `e`.
pub fn check_gradients<K: Kernel<T = f64>>(k: &K, m: usize, n: usize, lo: f64, hi: f64, seed: u64) {
    check_gradients_at(k, random_inputs(k, m, n, lo, hi, seed), m, n, seed);
}

/// As [`check_gradients`], at the given inputs (of `m` output rows and `n` reduced rows).
pub fn check_gradients_at<K: Kernel<T = f64>>(
    k: &K,
    mut inputs: Vec<Vec<f64>>,
    m: usize,
    n: usize,
    seed: u64,
) {
    let info = k.info();
    let out = k.eval_flat(&inputs).unwrap();
    let values = out.len() * info.value_width / (info.value_width + info.index_width).max(1);
    // Outputs that are not finite (empty reductions, unfilled K-min slots) get no weight.
    let e: Vec<f64> = Rng::new(seed ^ 0xe)
        .vec(values, -1.0, 1.0)
        .into_iter()
        .zip(&out)
        .map(|(e, o)| if o.is_finite() { e } else { 0.0 })
        .collect();
    let objective = |inputs: &[Vec<f64>]| -> f64 {
        k.eval_flat(inputs).unwrap()[..values]
            .iter()
            .zip(&e)
            .filter(|(_, e)| **e != 0.0)
            .map(|(a, b)| a * b)
            .sum()
    };
    let scale = 1.0 + objective(&inputs).abs();
    for (pos, var) in info.vars.iter().enumerate() {
        let g = k.grad_flat(pos, &inputs, &e).unwrap();
        assert_eq!(g.len(), inputs[pos].len(), "gradient of `{}`: length", var.name);
        for c in 0..inputs[pos].len() {
            let x = inputs[pos][c];
            let h = 1e-5 * x.abs().max(1.0);
            inputs[pos][c] = x + h;
            let plus = objective(&inputs);
            inputs[pos][c] = x - h;
            let minus = objective(&inputs);
            inputs[pos][c] = x;
            let fd = (plus - minus) / (2.0 * h);
            assert!(
                (g[c] - fd).abs() <= 1e-6 * scale,
                "`{}`, M = {m}, N = {n}: d/d{}[{c}]: backward kernel {}, finite differences {fd}",
                info.formula,
                var.name,
                g[c]
            );
        }
    }
}

/// The batch shapes [`check_batched`] gives each kind of input: i-variables shared along the
/// second batch dimension, j-variables along the first, parameters batched along both.
fn batch_shape(var: &VarInfo) -> &'static [usize] {
    match var.index {
        Index::I => &[2, 1],
        Index::J => &[1, 3],
        Index::Param => &[2, 3],
    }
}

/// Random batched inputs of `m` i-rows and `n` j-rows per batch, shaped by [`batch_shape`], the
/// views of problem `b` of them, and their batches.
pub fn batched_inputs<K: Kernel>(
    k: &K,
    m: usize,
    n: usize,
    seed: u64,
) -> (Vec<Vec<K::T>>, keops::batch::Batches) {
    let mut rng = Rng::new(seed);
    let info = k.info();
    let inputs = info
        .vars
        .iter()
        .map(|v| {
            let count: usize = batch_shape(v).iter().product();
            rng.vec(count * rows(v, m, n) * v.dim, -1.0, 1.0).into_iter().map(K::T::from_f64).collect()
        })
        .collect();
    let shapes: Vec<&[usize]> = info.vars.iter().map(batch_shape).collect();
    (inputs, keops::batch::Batches::new(&shapes).unwrap())
}

/// The inputs of problem `b` of the 2 x 3 problems of [`batched_inputs`], and, per input, the
/// index of the batch it reads.
pub fn problem<'a, K: Kernel>(k: &K, inputs: &'a [Vec<K::T>], b: usize) -> (Vec<&'a [K::T]>, Vec<usize>) {
    let (b0, b1) = (b / 3, b % 3);
    k.info()
        .vars
        .iter()
        .zip(inputs)
        .map(|(v, x)| {
            let shape = batch_shape(v);
            let at = if shape[0] == 1 { 0 } else { b0 } * shape[1] + if shape[1] == 1 { 0 } else { b1 };
            let len = x.len() / shape.iter().product::<usize>();
            (&x[at * len..(at + 1) * len], at)
        })
        .unzip()
}

/// `keops::batch::eval_flat` over 2 x 3 problems with broadcast inputs: each problem's values
/// and indices are those of a call on its own inputs, which match the reference evaluator.
pub fn check_batched<K: Kernel>(k: &K, m: usize, n: usize, seed: u64) {
    let info = k.info();
    let (inputs, batches) = batched_inputs(k, m, n, seed);
    let got = keops::batch::eval_flat(k, &inputs, &batches).unwrap();
    let (vw, iw) = (info.value_width, info.index_width);
    let rows = got.len() / (6 * (vw + iw)).max(1);
    for b in 0..6 {
        let (views, _) = problem(k, &inputs, b);
        let want = k.eval_flat(&views).unwrap();
        let what = format!("`{}`, problem {b}", info.formula);
        assert_eq!(got[b * rows * vw..(b + 1) * rows * vw], want[..rows * vw], "{what}: values");
        let indices = &got[6 * rows * vw..];
        assert_eq!(indices[b * rows * iw..(b + 1) * rows * iw], want[rows * vw..], "{what}: indices");
        let owned: Vec<Vec<K::T>> = views.iter().map(|v| v.to_vec()).collect();
        check_inputs(k, &owned, &format!("batch problem {b}, M = {m}, N = {n}"));
    }
}

/// `keops::batch::grad_flat` with respect to every input: the sum of the problems' own gradients
/// over the problems that read each batch of it.
pub fn check_batched_gradients<K: Kernel<T = f64>>(k: &K, m: usize, n: usize, seed: u64) {
    let info = k.info();
    let (inputs, batches) = batched_inputs(k, m, n, seed);
    let values = keops::batch::eval_flat(k, &inputs, &batches).unwrap();
    let e_len = values.len() * info.value_width / (info.value_width + info.index_width).max(1);
    let e: Vec<f64> = Rng::new(seed ^ 0xe)
        .vec(e_len, -1.0, 1.0)
        .into_iter()
        .zip(&values)
        .map(|(e, o)| if o.is_finite() { e } else { 0.0 })
        .collect();
    let per_problem = e_len / 6;
    for (pos, var) in info.vars.iter().enumerate() {
        let got = keops::batch::grad_flat(k, pos, &inputs, &e, &batches).unwrap();
        let mut want = vec![0.0; inputs[pos].len()];
        for b in 0..6 {
            let (views, at) = problem(k, &inputs, b);
            let g = k.grad_flat(pos, &views, &e[b * per_problem..(b + 1) * per_problem]).unwrap();
            let len = g.len();
            for (w, g) in want[at[pos] * len..(at[pos] + 1) * len].iter_mut().zip(g) {
                *w += g;
            }
        }
        assert_close(&got, &want, 1e-12, 1e-12, &format!("`{}`: batched d/d{}", info.formula, var.name));
    }
}

/// Output rows of [`ranged_case`].
const RANGED_ROWS: usize = 12;

/// Blocks of the 12 output rows of [`check_ranged`] and the reduced rows (of 1,100) each one
/// reduces over: ranges that start and end inside SIMD chunks, one inside a single chunk,
/// one across a tile (1,024 rows), one longer than a tile, an empty one, lists out of order,
/// a block over none, and rows in no block.
#[allow(clippy::type_complexity)]
fn ranged_case() -> (Vec<(std::ops::Range<usize>, &'static [[usize; 2]])>, keops::ranges::Ranges, usize) {
    let blocks: Vec<(std::ops::Range<usize>, &'static [[usize; 2]])> = vec![
        (0..4, &[[3, 40], [1020, 1100]]),
        (4..6, &[]),
        (6..9, &[[17, 21], [50, 50], [0, 16]]),
        (9..10, &[[5, 1100]]),
        (10..12, &[]),
    ];
    let in_blocks = &blocks[..4];
    let mut slices = Vec::new();
    for (_, reduced) in in_blocks {
        slices.push(slices.last().copied().unwrap_or(0) + reduced.len());
    }
    let ranges = keops::ranges::Ranges::new(
        in_blocks.iter().map(|(rows, _)| [rows.start, rows.end]).collect(),
        slices,
        in_blocks.iter().flat_map(|(_, r)| r.iter().copied()).collect(),
    )
    .unwrap();
    (blocks, ranges, 1100)
}

/// Random inputs of [`RANGED_ROWS`] output rows and `n` reduced rows.
fn ranged_inputs<K: Kernel>(k: &K, n: usize, seed: u64) -> Vec<Vec<K::T>> {
    match k.info().reduced {
        Index::I => random_inputs(k, n, RANGED_ROWS, -1.0, 1.0, seed),
        _ => random_inputs(k, RANGED_ROWS, n, -1.0, 1.0, seed),
    }
}

/// The inputs of the sub-problem of output rows `rows` against the reduced rows `reduced`,
/// gathered.
fn sub_problem<K: Kernel>(
    k: &K,
    inputs: &[Vec<K::T>],
    rows: &std::ops::Range<usize>,
    reduced: &[[usize; 2]],
) -> Vec<Vec<K::T>> {
    let info = k.info();
    info.vars
        .iter()
        .zip(inputs)
        .map(|(v, x)| match v.index {
            Index::Param => x.clone(),
            index if index == info.output_index() => x[rows.start * v.dim..rows.end * v.dim].to_vec(),
            _ => reduced.iter().flat_map(|&[s, e]| x[s * v.dim..e * v.dim].iter().copied()).collect(),
        })
        .collect()
}

/// `keops::ranges::eval_flat` over the blocks of [`ranged_case`]: each block's values and
/// indices are the reference evaluator's on its rows and its reduced rows gathered (indices
/// counted among all the reduced rows), rows in no block get the reduction of nothing.
pub fn check_ranged<K: Kernel>(k: &K, seed: u64) {
    let info = k.info();
    let (blocks, ranges, n) = ranged_case();
    let inputs = ranged_inputs(k, n, seed);
    let refs: Vec<&[K::T]> = inputs.iter().map(Vec::as_slice).collect();
    let got = keops::ranges::eval_flat(k, &refs, &ranges).unwrap();
    let (vw, iw) = (info.value_width, info.index_width);
    let (values, indices) = got.split_at(RANGED_ROWS * vw);
    for (rows, reduced) in blocks {
        let sub = sub_problem(k, &inputs, &rows, reduced);
        // The block's output, its indices counted among its gathered reduced rows.
        let mut block: Vec<f64> = values[rows.start * vw..rows.end * vw].iter().map(|x| x.to_f64()).collect();
        block.extend(indices[rows.start * iw..rows.end * iw].iter().map(|&j| {
            let j = j.to_f64() as usize;
            let mut local = 0;
            for &[s, e] in reduced {
                if (s..e).contains(&j) {
                    return (local + j - s) as f64;
                }
                local += e - s;
            }
            assert!(j == 0, "`{}`: index {j} outside the reduced rows {reduced:?}", info.formula);
            0.0
        }));
        check_output(k, &block, &sub, &format!("rows {rows:?} over {reduced:?} of {n}"));
    }
}

/// `keops::ranges::grad_flat` over the blocks of [`ranged_case`] with respect to every input:
/// the sum of the blocks' own gradients (their sub-problems', as [`check_ranged`] gathers them).
pub fn check_ranged_gradients<K: Kernel<T = f64>>(k: &K, seed: u64) {
    let info = k.info();
    let (blocks, ranges, n) = ranged_case();
    let inputs = ranged_inputs(k, n, seed);
    let refs: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
    let values = keops::ranges::eval_flat(k, &refs, &ranges).unwrap();
    let vw = info.value_width;
    let e: Vec<f64> = Rng::new(seed ^ 0xe)
        .vec(RANGED_ROWS * vw, -1.0, 1.0)
        .into_iter()
        .zip(&values)
        .map(|(e, o)| if o.is_finite() { e } else { 0.0 })
        .collect();
    for (pos, var) in info.vars.iter().enumerate() {
        let got = keops::ranges::grad_flat(k, pos, &refs, &e, &ranges).unwrap();
        let mut want = vec![0.0; inputs[pos].len()];
        for (rows, reduced) in &blocks {
            let sub = sub_problem(k, &inputs, rows, reduced);
            let g = k.grad_flat(pos, &sub, &e[rows.start * vw..rows.end * vw]).unwrap();
            let dim = var.dim;
            match var.index {
                Index::Param => want.iter_mut().zip(&g).for_each(|(w, g)| *w += g),
                index if index == info.output_index() => {
                    want[rows.start * dim..rows.end * dim].copy_from_slice(&g)
                }
                _ => {
                    let mut at = 0;
                    for &[s, e] in reduced.iter() {
                        let part = &g[at..at + (e - s) * dim];
                        want[s * dim..e * dim].iter_mut().zip(part).for_each(|(w, g)| *w += g);
                        at += (e - s) * dim;
                    }
                }
            }
        }
        assert_close(&got, &want, 1e-12, 1e-12, &format!("`{}`: ranged d/d{}", info.formula, var.name));
    }
}
