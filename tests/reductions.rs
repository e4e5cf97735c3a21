//! Every reduction, over i and over j, f32 and f64, against the reference implementation, on
//! sizes that are not multiples of the lane or tile sizes, including N < K; and each batched,
//! with broadcasting, and restricted to block-sparse ranges, against calls on each problem.

mod common;

use common::{
    check_batched, check_batched_gradients, check_gradients, check_inputs, check_ranged,
    check_ranged_gradients, check_recorded, check_reference, checked, random_inputs, recorded_case,
};
use keops::{Kernel, keops};
use keops_core::reduction::Gradient;

const SIZES: &[(usize, usize)] = &[(0, 5), (5, 0), (1, 1), (3, 2), (7, 33), (61, 1100), (300, 47)];

fn at_all_sizes<K: Kernel>(k: &K) {
    for (seed, &(m, n)) in SIZES.iter().enumerate() {
        check_reference(k, m, n, -1.0, 1.0, 100 + seed as u64);
    }
}

/// Forward against the reference implementation, on sizes around the lane counts and N < K = 3
/// (the tests below add sizes beyond a tile).
fn forward<K: Kernel>(k: &K) {
    for (seed, &(m, n)) in [(0, 5), (5, 0), (1, 1), (3, 2), (7, 33), (70, 65)].iter().enumerate() {
        check_reference(k, m, n, -1.0, 1.0, 400 + seed as u64);
    }
    check_batched(k, 4, 9, 450);
    check_ranged(k, 460);
}

/// Backward kernels against finite differences of the forward kernel, with respect to the
/// i-variable, the j-variables and the parameter; for a reduction without a gradient, the
/// error that says why for the inputs its formulas read (zero for the others).
fn gradient<K: Kernel<T = f64>>(k: &K) {
    if let Gradient::Refused(why) = checked(k).reduction.kind.spec().gradient {
        let inputs = random_inputs(k, 3, 4, -1.0, 1.0, 300);
        let e = vec![1.0; k.eval_flat(&inputs).unwrap().len()];
        let mut refused = 0;
        for (pos, var) in k.info().vars.iter().enumerate() {
            match k.grad_flat(pos, &inputs, &e) {
                Err(keops::Error::NotDifferentiable { var: v, reason })
                    if (v, &reason[..]) == (var.name, why) =>
                {
                    refused += 1
                }
                Ok(g) if g.iter().all(|&x| x == 0.0) => {}
                other => panic!("{}: gradient of `{}`: {other:?}", k.info().formula, var.name),
            }
        }
        assert!(refused > 0, "{}: no input refused its gradient", k.info().formula);
        return;
    }
    for (seed, &(m, n)) in [(1, 1), (5, 2), (13, 40), (0, 3), (37, 19)].iter().enumerate() {
        check_gradients(k, m, n, -1.0, 1.0, 300 + seed as u64);
    }
    check_batched_gradients(k, 4, 9, 350);
    check_ranged_gradients(k, 360);
}

#[test]
fn every_reduction_over_i_and_j_in_f32_and_f64() {
    keops::__reduction_kernels!(forward, gradient);
}

#[test]
fn min_and_max() {
    at_all_sizes(&keops!(|x_i: [f32; 3], y_j: [f32; 3]| min_j sqdist(x_i, y_j)));
    at_all_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3]| max_i x_i * y_j));
    at_all_sizes(&keops!(|x_i: [f32; 2], y_j: [f32; 2]| max_j dot(x_i, y_j)));
    at_all_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2]| min_i x_i - y_j));
}

#[test]
fn arg_min_and_max() {
    at_all_sizes(&keops!(|x_i: [f32; 3], y_j: [f32; 3]| argmin_j sqdist(x_i, y_j)));
    at_all_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3]| argmax_i x_i * y_j));
    at_all_sizes(&keops!(|x_i: [f32; 4], y_j: [f32; 4]| min_argmin_i sin(x_i + y_j)));
    at_all_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2]| max_argmax_j x_i * y_j));
}

#[test]
fn k_min() {
    at_all_sizes(&keops!(|x_i: [f32; 3], y_j: [f32; 3]| kmin_j::<5> sqdist(x_i, y_j)));
    at_all_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3]| argkmin_i::<3> x_i - y_j));
    at_all_sizes(&keops!(|x_i: [f32; 2], y_j: [f32; 2]| kmin_argkmin_j::<4> x_i * y_j));
    at_all_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2]| kmin_argkmin_i::<10> sqdist(x_i, y_j)));
    // Selections of more slots than a vector has lanes (8 or 16 f32), not a multiple of them.
    at_all_sizes(&keops!(|x_i: [f32; 2], y_j: [f32; 2]| kmin_argkmin_j::<19> x_i * y_j));
    at_all_sizes(&keops!(|x_i: [f32; 3], y_j: [f32; 3]| argkmin_j::<33> sqdist(x_i, y_j)));
}

#[test]
fn log_sum_exp() {
    at_all_sizes(&keops!(|x_i: [f32; 3], y_j: [f32; 3], g: f32| logsumexp_j - g * sqdist(x_i, y_j)));
    at_all_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3], h_i: f64| logsumexp_i h_i - sqdist(x_i, y_j)));
    // With a weight: log sum_j exp(F) W, component-wise.
    at_all_sizes(&keops!(|x_i: [f32; 2], y_j: [f32; 2], w_j: [f32; 3]| logsumexp_j(dot(x_i, y_j), exp(w_j))));
    at_all_sizes(&keops!(|x_i: [f64; 2], y_j: [f64; 2], w_i: f64| logsumexp_i(-sqdist(x_i, y_j), 2.0 + w_i)));
}

#[test]
fn sum_soft_max_weight() {
    at_all_sizes(&keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 3]| sumsoftmaxweight_j(
        -sqdist(x_i, y_j),
        b_j
    )));
    at_all_sizes(&keops!(|x_i: [f64; 3], y_j: [f64; 3], b_i: [f64; 2]| sumsoftmaxweight_i(
        dot(x_i, y_j),
        b_i
    )));
}

/// Log-sum-exps whose terms reach far below the largest, into and past the range where `exp`
/// is subnormal (the CPU kernels raise such exponents to -80, which must not change a sum that
/// is at least 1).
#[test]
fn log_sum_exp_of_widely_spread_terms() {
    let k = keops!(|x_i: [f32; 3], y_j: [f32; 3]| logsumexp_j - 100.0 * sqdist(x_i, y_j));
    check_reference(&k, 61, 1100, -1.0, 1.0, 11);
    let k = keops!(|x_i: [f64; 3], y_j: [f64; 3]| logsumexp_i - 1000.0 * sqdist(x_i, y_j));
    check_reference(&k, 300, 47, -1.0, 1.0, 12);
    let k = keops!(|f_j: f32| logsumexp_j f_j);
    let f: Vec<f32> = (0..300).map(|j| -(j as f32) * 0.37).collect();
    let want = f.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
    let got = k.eval_flat(&[&f]).unwrap()[0];
    assert!((f64::from(got) - want).abs() <= 1e-6, "{got} vs {want}");
}

#[test]
fn split_reductions_for_few_output_rows() {
    // Few output rows, many reduced rows: segments are merged in order.
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2]| kmin_argkmin_j::<3> sqdist(x_i, y_j));
    check_reference(&k, 2, 40_000, -1.0, 1.0, 7);
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2]| kmin_argkmin_j::<19> sqdist(x_i, y_j));
    check_reference(&k, 2, 40_000, -1.0, 1.0, 10);
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2]| logsumexp_j - 4.0 * sqdist(x_i, y_j));
    check_reference(&k, 3, 40_000, -1.0, 1.0, 8);
    let k = keops!(|x_i: [f32; 1], y_j: [f32; 1]| min_argmin_j sqdist(x_i, y_j));
    check_reference(&k, 1, 50_000, -1.0, 1.0, 9);
}

#[test]
fn ties_resolve_to_the_lowest_index() {
    // Every y_j is one of three points, so every distance is tied many times.
    let k = keops!(|x_i: [f32; 1], y_j: [f32; 1]| kmin_argkmin_j::<4> sqdist(x_i, y_j));
    let x = vec![0.1f32, 0.9, 0.5];
    let y: Vec<f32> = (0..2000).map(|j| [0.0f32, 1.0, 0.5][j % 3]).collect();
    let (values, indices) =
        k.eval(&[[0.1], [0.9], [0.5]], &y.iter().map(|&v| [v]).collect::<Vec<_>>()).unwrap();
    assert_eq!(indices[0], [0, 3, 6, 9]);
    assert_eq!(indices[1], [1, 4, 7, 10]);
    assert_eq!(indices[2], [2, 5, 8, 11]);
    assert_eq!(values[2], [0.0; 4]);
    check_inputs(&k, &[x, y], "tied values");
    // Ties across the vectors of a selection of 20 slots.
    let k = keops!(|x_i: f32, y_j: f32| argkmin_j::<20> sqdist(x_i, y_j));
    let y: Vec<f32> = (0..2000).map(|j| [0.0f32, 1.0, 0.5][j % 3]).collect();
    let indices = k.eval(&[0.1, 0.9], &y).unwrap();
    assert_eq!(indices[0], core::array::from_fn(|k| 3 * k));
    assert_eq!(indices[1], core::array::from_fn(|k| 3 * k + 1));
    let k = keops!(|x_i: f64, y_j: f64| argmax_j - abs(x_i - y_j));
    let a = k.eval(&[0.0], &[1.0, -1.0, 1.0, -1.0]).unwrap();
    assert_eq!(a, vec![[0]]);
}

#[test]
fn fewer_rows_than_k() {
    // Slots beyond the number of reduced rows hold +inf and index 0, as in KeOps.
    let k = keops!(|x_i: f32, y_j: f32| kmin_argkmin_j::<5> sqdist(x_i, y_j));
    let (values, indices) = k.eval(&[0.0], &[2.0, 1.0]).unwrap();
    assert_eq!(values, vec![[1.0, 4.0, f32::INFINITY, f32::INFINITY, f32::INFINITY]]);
    assert_eq!(indices, vec![[1, 0, 0, 0, 0]]);
}

#[test]
fn empty_reductions_give_identities() {
    let none: [[f32; 2]; 0] = [];
    let x = [[0.5f32, 0.5]];
    assert_eq!(
        keops!(|x_i: [f32; 2], y_j: [f32; 2]| min_j sqdist(x_i, y_j)).eval(&x, &none).unwrap(),
        vec![[f32::INFINITY]]
    );
    assert_eq!(
        keops!(|x_i: [f32; 2], y_j: [f32; 2]| max_j sqdist(x_i, y_j)).eval(&x, &none).unwrap(),
        vec![[f32::NEG_INFINITY]]
    );
    assert_eq!(
        keops!(|x_i: [f32; 2], y_j: [f32; 2]| argmin_j sqdist(x_i, y_j)).eval(&x, &none).unwrap(),
        vec![[0]]
    );
    assert_eq!(
        keops!(|x_i: [f32; 2], y_j: [f32; 2]| logsumexp_j sqdist(x_i, y_j)).eval(&x, &none).unwrap(),
        vec![[f32::NEG_INFINITY]]
    );
    let softmax = keops!(|x_i: [f32; 2], y_j: [f32; 2]| sumsoftmaxweight_j(sqdist(x_i, y_j), y_j))
        .eval(&x, &none)
        .unwrap();
    assert!(softmax[0].iter().all(|v| v.is_nan()), "0 / 0: {softmax:?}");
}

#[test]
fn log_sum_exp_is_stable_in_f32() {
    // Values around +-1e4: exp overflows f32 far below that.
    let k = keops!(|x_i: f32, y_j: f32| logsumexp_j x_i * y_j);
    let x = [1e4f32, -1e4, 5e3];
    let y: Vec<f32> = (0..1000).map(|j| 1.0 - j as f32 * 1e-4).collect();
    let got = k.eval(&x, &y).unwrap();
    for (i, &xi) in x.iter().enumerate() {
        let values: Vec<f64> = y.iter().map(|&yj| xi as f64 * yj as f64).collect();
        let m = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let want = m + values.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let g = got[i][0] as f64;
        assert!(g.is_finite(), "row {i}: {g}");
        assert!((g - want).abs() <= 1e-4 * want.abs(), "row {i}: {g} vs {want}");
    }
}

#[test]
fn soft_max_weight_is_stable_in_f32() {
    // Softmax weights of values around +-1e4, over i this time.
    let k = keops!(|x_i: f32, y_j: f32, b_i: [f32; 2]| sumsoftmaxweight_i(x_i * y_j, b_i));
    let x: Vec<f32> = (0..1000).map(|i| 1.0 - i as f32 * 1e-4).collect();
    let b: Vec<[f32; 2]> = (0..1000).map(|i| [i as f32, (i % 7) as f32 - 3.0]).collect();
    let y = [1e4f32, -1e4, 5e3];
    let got = k.eval(&x, &y, &b).unwrap();
    for (j, &yj) in y.iter().enumerate() {
        let values: Vec<f64> = x.iter().map(|&xi| xi as f64 * yj as f64).collect();
        let m = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = values.iter().map(|v| (v - m).exp()).collect();
        let total: f64 = w.iter().sum();
        for c in 0..2 {
            let want = w.iter().zip(&b).map(|(w, b)| w * b[c] as f64).sum::<f64>() / total;
            let g = got[j][c] as f64;
            assert!(g.is_finite(), "row {j}: {g}");
            assert!((g - want).abs() <= 1e-4 * (1.0 + want.abs()), "row {j}, component {c}: {g} vs {want}");
        }
    }
}

#[test]
fn typed_outputs() {
    let x = [[0.0f32, 0.0], [3.0, 3.0]];
    let y = [[1.0f32, 1.0], [2.9, 3.1], [0.1, 0.0]];
    let nearest = keops!(|x_i: [f32; 2], y_j: [f32; 2]| argmin_j sqdist(x_i, y_j)).eval(&x, &y).unwrap();
    assert_eq!(nearest, vec![[2], [1]]);
    let (d, i) = keops!(|x_i: [f32; 2], y_j: [f32; 2]| min_argmin_j sqdist(x_i, y_j)).eval(&x, &y).unwrap();
    assert_eq!(i, vec![[2], [1]]);
    assert!((d[0][0] - 0.01).abs() < 1e-6);
    let two = keops!(|x_i: [f32; 2], y_j: [f32; 2]| argkmin_j::<2> sqdist(x_i, y_j)).eval(&x, &y).unwrap();
    assert_eq!(two, vec![[2, 0], [1, 0]]);
    // eval_flat returns values then indices, as numbers, like pykeops.
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2]| min_argmin_j sqdist(x_i, y_j));
    let flat = k.eval_flat(&[x.as_flattened(), y.as_flattened()]).unwrap();
    assert_eq!(flat.len(), 4);
    assert_eq!(&flat[2..], &[2.0, 1.0]);
}

/// The log-sum-exp's fast step (no lane of a block of rows raises its maximum) and its slow
/// one, in every order: maxima that rise late, in one lane and one row of a block only, ties
/// with the maximum, infinite values.
#[test]
fn log_sum_exp_whose_maximum_moves() {
    let k = keops!(|x_i: f32, f_j: f32| logsumexp_j x_i * f_j);
    let x = [1.0f32, 0.5, -1.0, 2.0, 1.5, -0.25, 3.0];
    let mut f: Vec<f32> = (0..5000).map(|j| (j as f32 * 0.37).sin() * 4.0).collect();
    for (j, v) in [(1500, 9.0), (1501, 9.0), (2999, 12.0), (3000, -12.0), (4000, 12.0), (4991, 15.0)] {
        f[j] = v;
    }
    f[2500] = f32::NEG_INFINITY;
    let got = k.eval(&x, &f).unwrap();
    for (i, &xi) in x.iter().enumerate() {
        let values: Vec<f64> = f.iter().map(|&v| f64::from(xi) * f64::from(v)).collect();
        let max = values.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
        let want = if values.contains(&f64::INFINITY) {
            f64::INFINITY
        } else {
            max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
        };
        let g = f64::from(got[i][0]);
        // The f32 products and the final `max + log(sum)` round at a few 1e-6 here.
        assert!(g == want || (g - want).abs() <= 1e-5 + 2e-7 * want.abs(), "row {i}: {g} vs {want}");
    }
    check_inputs(&k, &[x.to_vec(), f], "moving maxima");
}

/// The same for the weighted members of the family, whose fast step keeps terms far below the
/// maximum exact: softmax weights and weighted log-sum-exps (positive weights) whose maxima rise
/// late (in one lane and one row of a block only), ties, terms from `exp(-40)` down to
/// underflow, infinite values, over several tiles of 1024 reduced rows.
#[test]
fn weighted_log_sum_exps_whose_maximum_moves() {
    let x = [1.0f32, 0.5, -1.0, 2.0, 1.5, -0.25, 3.0];
    let mut f: Vec<f32> = (0..5000).map(|j| (j as f32 * 0.37).sin() * 4.0 - (j % 9) as f32 * 12.0).collect();
    for (j, v) in [(1500, 9.0), (1501, 9.0), (2999, 12.0), (3000, -12.0), (4000, 12.0), (4991, 15.0)] {
        f[j] = v;
    }
    f[2500] = f32::NEG_INFINITY;
    let w: Vec<[f32; 2]> =
        (0..5000).map(|j| [(j % 13) as f32 * 0.5 + 0.25, 1.0 + (j as f32 * 0.11).cos()]).collect();
    let softmax = keops!(|x_i: f32, f_j: f32, w_j: [f32; 2]| sumsoftmaxweight_j(x_i * f_j, w_j));
    let weighted = keops!(|x_i: f32, f_j: f32, w_j: [f32; 2]| logsumexp_j(x_i * f_j, w_j));
    let (got_softmax, got_weighted) = (softmax.eval(&x, &f, &w).unwrap(), weighted.eval(&x, &f, &w).unwrap());
    for (i, &xi) in x.iter().enumerate() {
        let values: Vec<f64> = f.iter().map(|&v| f64::from(xi) * f64::from(v)).collect();
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Terms equal to the maximum weigh 1, also when it is infinite.
        let e: Vec<f64> = values.iter().map(|&v| if v == max { 1.0 } else { (v - max).exp() }).collect();
        let total: f64 = e.iter().sum();
        for c in 0..2 {
            let sum = e.iter().zip(&w).map(|(e, w)| e * f64::from(w[c])).sum::<f64>();
            let (g, want) = (f64::from(got_softmax[i][c]), sum / total);
            assert!((g - want).abs() <= 1e-5 * want, "softmax row {i}, component {c}: {g} vs {want}");
            let (g, want) = (f64::from(got_weighted[i][c]), max + sum.ln());
            assert!(
                g == want || (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "weighted row {i}, component {c}: {g} vs {want}"
            );
        }
    }
    let inputs = [x.to_vec(), f, w.as_flattened().to_vec()];
    check_inputs(&softmax, &inputs, "moving maxima");
    check_inputs(&weighted, &inputs, "moving maxima");
}

/// `KEOPS_SIMD=wide` (CI runs this file with it) must not fall back to the machine's own tier
/// without saying so: the run would then test nothing new.
#[test]
fn the_requested_portable_width_is_used() {
    if std::env::var("KEOPS_SIMD").is_ok_and(|v| v.eq_ignore_ascii_case("wide")) {
        assert_eq!(keops::cpu_simd(), "wide", "KEOPS_SIMD=wide needs the `all-tiers` feature");
    }
}

/// KeOps' raw log-sum-exps, the maximum `m` then the sums of `exp(F - m) W`, as pykeops 2.3
/// computes them (`tests/data/keops_reductions`, made by `make.py` there).
#[test]
fn max_sum_shift_exp_as_pykeops() {
    macro_rules! case {
        ($name:literal, [$($alias:literal),*], $dtype:ident, $tol:expr $(, $key:ident = $value:literal)*) => {{
            let k = keops::genred!("-SqDist(x, y) * 4", [$($alias),*] $(, $key = $value)*, dtype = $dtype);
            let case = recorded_case("keops_reductions", $name);
            check_recorded(&k, case, "-SqDist(x, y) * 4", &[$($alias),*], $tol);
        }};
    }
    case!(
        "max_sumshiftexp_j",
        ["x = Vi(3)", "y = Vj(3)"],
        f64,
        1e-12,
        reduction = "Max_SumShiftExp",
        axis = 1
    );
    case!(
        "max_sumshiftexp_i",
        ["x = Vi(3)", "y = Vj(3)"],
        f64,
        1e-12,
        reduction = "Max_SumShiftExp",
        axis = 0
    );
    case!(
        "max_sumshiftexp_j_f32",
        ["x = Vi(3)", "y = Vj(3)"],
        f32,
        1e-5,
        reduction = "Max_SumShiftExp",
        axis = 1
    );
    case!(
        "max_sumshiftexpweight_j",
        ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)"],
        f64,
        1e-12,
        reduction = "Max_SumShiftExpWeight",
        formula2 = "b",
        axis = 1
    );
    case!(
        "max_sumshiftexpweight_i",
        ["x = Vi(3)", "y = Vj(3)", "a = Vi(2)"],
        f64,
        1e-12,
        reduction = "Max_SumShiftExpWeight",
        formula2 = "a",
        axis = 0
    );
}

/// pykeops' accuracy case: `n` times 0.1 in f32, and their exact sum. Each partial sum rounds
/// its additions the same way, so a plain sum's error grows with `n`.
fn tenths(n: usize) -> (Vec<f32>, f64) {
    (vec![0.1f32; n], n as f64 * f64::from(0.1f32))
}

/// The error of `got` in ulps of the f32 nearest to `exact`.
fn ulps(got: f32, exact: f64) -> f64 {
    let nearest = exact as f32;
    (f64::from(got) - exact).abs() / f64::from(nearest.next_up() - nearest)
}

/// Compensated sums (`sum_j::<kahan>`, `genred!`'s `sum_scheme = "kahan_scheme"`) are within
/// an ulp of the exact sum where the block sum, on the same values, is many ulps off; over j
/// and over i, and their gradients sum the same way.
#[test]
fn compensated_sums_are_within_an_ulp() {
    let (b, exact) = tenths(1 << 20);
    let x = [0.0f32; 3];
    let block = keops!(|x_i: f32, b_j: f32| sum_j b_j + 0 * x_i);
    let kahan = keops!(|x_i: f32, b_j: f32| sum_j::<kahan> b_j + 0 * x_i);
    let kahan_i = keops!(|b_i: f32, x_j: f32| sum_i::<kahan> b_i + 0 * x_j);
    let genred = keops::genred!(
        "b + 0 * x",
        ["x = Vi(1)", "b = Vj(1)"],
        reduction_op = "Sum",
        axis = 1,
        sum_scheme = "kahan_scheme"
    );
    let off = ulps(block.eval_flat(&[&x[..], &b]).unwrap()[0], exact);
    assert!(off > 8.0, "the block sum is {off} ulps off: the values should defeat it");
    for (what, out) in [
        ("sum_j::<kahan>", kahan.eval_flat(&[&x[..], &b]).unwrap()),
        ("sum_i::<kahan>", kahan_i.eval_flat(&[&b[..], &x]).unwrap()),
        ("kahan_scheme", genred.eval_flat(&[&x[..], &b]).unwrap()),
    ] {
        for &v in &out {
            assert!(ulps(v, exact) <= 1.0, "{what}: {v} is {} ulps from {exact}", ulps(v, exact));
        }
    }
    // The gradient with respect to x of sum_i e_i sum_j (x_i * b_j): each row sum_j b_j e_i.
    let scaled = keops!(|x_i: f32, b_j: f32| sum_j::<kahan> x_i * b_j);
    let g = scaled.grad_flat(0, &[&x[..], &b], &[1.0, 1.0, 1.0]).unwrap();
    for &v in &g {
        assert!(ulps(v, exact) <= 1.0, "gradient: {v} is {} ulps from {exact}", ulps(v, exact));
    }
}

/// Sums of f32 values in f64 (`sum_j::<f64>`, `genred!`'s `dtype_acc = "float64"` and
/// `use_double_acc = true`) give the f32 nearest the exact sum, over j and over i, and their
/// gradients sum the same way. The exact sum of 2^20 tenths (each a 24-bit f32) takes 44 bits,
/// so f64 sums hold it exactly, whatever the order.
#[test]
fn sums_in_f64_are_the_nearest_f32() {
    let (b, exact) = tenths(1 << 20);
    let nearest = exact as f32;
    let x = [0.0f32; 3];
    let double = keops!(|x_i: f32, b_j: f32| sum_j::<f64> b_j + 0 * x_i);
    let double_i = keops!(|b_i: f32, x_j: f32| sum_i::<f64> b_i + 0 * x_j);
    let dtype_acc = keops::genred!("b + 0 * x", ["x = Vi(1)", "b = Vj(1)"], axis = 1, dtype_acc = "float64");
    let use_double_acc =
        keops::genred!("b + 0 * x", ["x = Vi(1)", "b = Vj(1)"], axis = 1, use_double_acc = true);
    for (what, out) in [
        ("sum_j::<f64>", double.eval_flat(&[&x[..], &b]).unwrap()),
        ("sum_i::<f64>", double_i.eval_flat(&[&b[..], &x]).unwrap()),
        ("dtype_acc", dtype_acc.eval_flat(&[&x[..], &b]).unwrap()),
        ("use_double_acc", use_double_acc.eval_flat(&[&x[..], &b]).unwrap()),
    ] {
        assert_eq!(out, [nearest; 3], "{what}");
    }
    // Rows that end in a partial chunk, and a reduced range that is not a whole number of
    // tiles: the masked lanes add nothing.
    let (b, exact) = tenths(100_003);
    assert_eq!(double.eval_flat(&[&[0.0f32; 5][..], &b]).unwrap(), [exact as f32; 5]);
    // The gradient with respect to x of sum_i e_i sum_j (x_i * b_j): each row sum_j b_j e_i.
    let (b, _) = tenths(1 << 20);
    let scaled = keops!(|x_i: f32, b_j: f32| sum_j::<f64> x_i * b_j);
    let g = scaled.grad_flat(0, &[&x[..], &b], &[1.0, 1.0, 1.0]).unwrap();
    assert_eq!(g, [nearest; 3], "gradient");
}
