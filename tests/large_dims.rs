//! Large dimensions, as pykeops' chunked modes test them: a Gaussian kernel sum over D = 300
//! (`test_chunks.py`) and `Min_ArgMin` over i of a sum over D = 990 (`test_torch.py`), against
//! pykeops 2.3's results in `tests/data/keops_chunks/cases.json` (made by `make.py` beside it,
//! which says how the inputs are computed; they are computed the same way here rather than
//! stored). Its gradient and `test_finalchunks.py`'s output of width 300 run in keops-core's PTX
//! emulator only: compiled in a debug build, their kernels take stack frames of 2.5 MiB with
//! AVX-512, past what `.ci/check-frames` allows.

mod common;

use common::{assert_close, on_big_stacks, recorded_case};
use keops::{Kernel, genred};

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
