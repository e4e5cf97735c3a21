//! Large dimensions, as pykeops' chunked modes test them: a Gaussian kernel sum over D = 300
//! (`test_chunks.py`) and `Min_ArgMin` over i of a sum over D = 990 (`test_torch.py`), against
//! pykeops 2.3's results in `tests/data/keops_chunks/cases.json` (made by `make.py` beside it,
//! which says how the inputs are computed; they are computed the same way here rather than
//! stored). Then the CPU kernels' loops over long dot products (keops-core's `codegen::reroll`):
//! forward kernels against the reference evaluator and gradients against finite differences,
//! over lengths that are and are not a multiple of the four chains of a dot product.

mod common;

use common::{
    assert_close, check_gradients, check_gradients_at, check_reference, on_big_stacks, recorded_case,
};
use keops::{Kernel, genred, keops};

/// Component `k` of row `r` of the input number `v`, as `make.py` computes it.
fn input(rows: usize, dim: usize, v: usize, scale: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * dim);
    for r in 0..rows {
        for k in 0..dim {
            out.push((((r * 37 + k * 11 + v * 5) % 101) as f64 / (101.0 * scale)) as f32);
        }
    }
    out
}

/// Runs `k` on the inputs of case `name` and compares with pykeops: values within 1e-4
/// relative (KeOps' own tolerance for these tests), indices exactly.
fn check<K: Kernel<T = f32>>(k: &K, name: &str, formula: &str, aliases: &[&str]) {
    let case = recorded_case("keops_chunks", name);
    assert_eq!(case.get("formula").unwrap().str(), formula, "{name}: formula");
    let recorded: Vec<&str> = case.get("aliases").unwrap().arr().iter().map(|a| a.str()).collect();
    assert_eq!(recorded, aliases, "{name}: aliases");
    let inputs: Vec<Vec<f32>> = (case.get("shapes").unwrap().arr().iter().enumerate())
        .map(|(v, s)| {
            let s = s.nums();
            input(s[0] as usize, s[1] as usize, v, s[2])
        })
        .collect();
    let got: Vec<f64> = on_big_stacks(|| k.eval_flat(&inputs)).unwrap().into_iter().map(f64::from).collect();
    let want = case.get("output").unwrap().nums();
    assert_eq!(got.len(), want.len(), "{name}: output length");
    let info = k.info();
    if info.index_width == 0 {
        assert_close(&got, &want, 1e-4, 1e-4, name);
        return;
    }
    // pykeops' rows are a value then an index; `eval_flat` gives all the values, then all the
    // indices.
    let width = info.value_width + info.index_width;
    let split = got.len() / width * info.value_width;
    let part = |indices: bool| -> Vec<f64> {
        let range = if indices { info.value_width..width } else { 0..info.value_width };
        want.chunks(width).flat_map(|row| row[range.clone()].to_vec()).collect()
    };
    let (values, indices) = got.split_at(split);
    assert_close(values, &part(false), 1e-4, 1e-4, &format!("{name}: values"));
    assert_eq!(indices, part(true), "{name}: indices");
}

#[test]
fn gaussian_sum_over_300_dimensions() {
    let k = genred!("Exp(-SqDist(x, y)) * b", ["x = Vi(300)", "y = Vj(300)", "b = Vj(1)"], axis = 1);
    check(&k, "chunks", "Exp(-SqDist(x, y)) * b", &["x = Vi(300)", "y = Vj(300)", "b = Vj(1)"]);
}

#[test]
fn min_argmin_over_i_of_990_dimensions() {
    let k = genred!(
        "Sum(Exp(-Square(x + y)))",
        ["x = Vi(990)", "y = Vj(990)"],
        reduction = "Min_ArgMin",
        axis = 0
    );
    check(&k, "min_argmin_990", "Sum(Exp(-Square(x + y)))", &["x = Vi(990)", "y = Vj(990)"]);
}

#[test]
fn gaussian_gradients_over_150_dimensions() {
    // Every input's backward kernel: those of x and y have 150 components, `c * (x_k - y_k)`,
    // summed where a loop computes them; that of b has one and loops over the differences.
    // 11 rows of each: whole chunks of every tier's lanes (the loop's sums), then a partial one.
    let k = keops!(|x_i: [f64; 150], y_j: [f64; 150], b_j: f64| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    on_big_stacks(|| check_gradients(&k, 3, 5, -0.05, 0.05, 1));
    on_big_stacks(|| check_gradients(&k, 11, 11, -0.05, 0.05, 2));
    // Every other x row far from every y row (`exp` of about -900, past f64's normal range): the
    // blocks and chunks that hold one take the loops' `mul_add_tiny` branch, for the near rows'
    // values too, which the finite differences then check.
    let (m, n) = (12, 11);
    let mut rng = common::Rng::new(3);
    let x: Vec<f64> =
        (0..m * 150).map(|c| if c / 150 % 2 == 1 { 2.5 } else { rng.uniform(-0.05, 0.05) }).collect();
    let inputs = vec![x, rng.vec(n * 150, -0.05, 0.05), rng.vec(n, -1.0, 1.0)];
    on_big_stacks(|| check_gradients_at(&k, inputs, m, n, 3));
}

#[test]
fn long_vectors_against_the_reference() {
    // A dot product of the features themselves, 131 = 4 * 32 + 3 components.
    check_reference(
        &keops!(|x_i: [f32; 131], y_j: [f32; 131], b_j: f32| sum_j exp(dot(x_i, y_j)) * b_j),
        7,
        33,
        -0.1,
        0.1,
        2,
    );
    // A formula of 130 components: unrolled.
    check_reference(
        &keops!(|x_i: [f32; 130], y_j: [f32; 130]| sum_i(x_i - y_j) * exp(-sqdist(x_i, y_j))),
        9,
        20,
        -0.05,
        0.05,
        3,
    );
    // 70 products of a difference and a feature, summed where the loop computes them.
    check_reference(
        &keops!(|x_i: [f32; 70], y_j: [f32; 70], b_j: [f32; 70]| sum_j(x_i - y_j) * b_j),
        6,
        37,
        -1.0,
        1.0,
        6,
    );
    // 600 components: more than 1,024 instructions per pair, compiled as loops.
    check_reference(
        &keops!(|x_i: [f32; 600], y_j: [f32; 600], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j),
        5,
        21,
        -0.03,
        0.03,
        5,
    );
    // A log-sum-exp over j of a squared distance over 257 components, in f64.
    check_reference(
        &keops!(|x_i: [f64; 257], y_j: [f64; 257]| logsumexp_j(-sqdist(x_i, y_j))),
        6,
        40,
        -0.1,
        0.1,
        4,
    );
}
