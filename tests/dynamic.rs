//! Kernels with dimensions given at run time (`[f32; _]`, feature `dynamic`): every reduction
//! at several dimensions against the reference evaluator, the typed `eval`'s dimensions from
//! its inputs' types (a const generic among them), and the errors of dimensions that do not fit.

mod common;

use common::{Rng, assert_close, check_reference};
use keops::{Backend, Error, keops};

/// Each reduction kind, its dimensions `_` at 1, 3, 16 and 64, in f32 and f64.
#[test]
fn every_reduction_at_several_dimensions() {
    let gauss = keops!(|x_i: [f32; _], y_j: [f32; _], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let vector =
        keops!(|x_i: [f64; _], y_j: [f64; _], v_j: [f64; _], s: f64| sum_j exp(-s * sqdist(x_i, y_j)) * v_j);
    let knn = keops!(|x_i: [f32; _], y_j: [f32; _]| argkmin_j::<3> sqdist(x_i, y_j));
    let nearest = keops!(|x_i: [f64; _], y_j: [f64; _]| min_argmin_j norm2(x_i - y_j));
    let lse = keops!(|x_i: [f32; _], y_j: [f32; _], w_j: [f32; _]| logsumexp_j(-sqdist(x_i, y_j), w_j));
    let attention =
        keops!(|q_i: [f32; _], k_j: [f32; _], v_j: [f32; _]| sumsoftmaxweight_j(dot(q_i, k_j), v_j));
    let sum_i = keops!(|x_i: [f64; _], y_j: [f64; _], p: [f64; _]| max_i dot(x_i - y_j, p));
    for (seed, d) in [1, 3, 16, 64].into_iter().enumerate() {
        let seed = seed as u64;
        check_reference(&*gauss.with_dims(&[d, d]), 40, 70, -1.0, 1.0, seed);
        check_reference(&*vector.with_dims(&[d, d, d.min(5)]), 40, 70, -1.0, 1.0, seed);
        check_reference(&*knn.with_dims(&[d, d]), 40, 70, -1.0, 1.0, seed);
        check_reference(&*nearest.with_dims(&[d, d]), 40, 70, -1.0, 1.0, seed);
        check_reference(&*lse.with_dims(&[d, d, 2]), 40, 70, -1.0, 1.0, seed);
        check_reference(&*attention.with_dims(&[d, d, 4]), 40, 70, -0.5, 0.5, seed);
        check_reference(&*sum_i.with_dims(&[d, d, d]), 40, 70, -1.0, 1.0, seed);
    }
}

/// `D` rows and the fixed-dimension kernel's result, for a `D` that is a const generic.
fn gauss_in_generic_code<const D: usize>(x: &[[f32; D]], y: &[[f32; D]], b: &[[f32; 1]]) -> Vec<[f32; 1]> {
    let k = keops!(|x_i: [f32; _], y_j: [f32; _], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    k.eval(x, y, b).unwrap()
}

fn rows<const D: usize>(rng: &mut Rng, n: usize) -> Vec<[f32; D]> {
    (0..n).map(|_| std::array::from_fn(|_| rng.uniform(-1.0, 1.0) as f32)).collect()
}

#[test]
fn typed_eval_takes_the_dimensions_from_its_inputs() {
    let mut rng = Rng::new(7);
    let (x, y, b) = (rows::<3>(&mut rng, 30), rows::<3>(&mut rng, 50), rows::<1>(&mut rng, 50));
    let fixed = keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let want = fixed.eval(&x, &y, &b).unwrap();
    let got = gauss_in_generic_code(&x, &y, &b);
    let flat = |v: &[[f32; 1]]| v.iter().map(|r| r[0] as f64).collect::<Vec<f64>>();
    assert_close(&flat(&got), &flat(&want), 1e-6, 1e-6, "D = 3 against the fixed kernel");

    // A kernel type, its output width given by a dimension `_`, and a parameter of one.
    keops! {
        struct Scaled = |x_i: [f64; _], y_j: [f64; _], v_j: [f64; _], p: [f64; _]| sum_j exp(-sqdist(x_i * p, y_j)) * v_j;
    }
    let (x, y, v) = (rows::<5>(&mut rng, 4), rows::<5>(&mut rng, 6), rows::<2>(&mut rng, 6));
    let x: Vec<[f64; 5]> = x.iter().map(|r| r.map(f64::from)).collect();
    let y: Vec<[f64; 5]> = y.iter().map(|r| r.map(f64::from)).collect();
    let v: Vec<[f64; 2]> = v.iter().map(|r| r.map(f64::from)).collect();
    let p = [0.5, 1.0, 1.5, 2.0, 2.5];
    let out: Vec<[f64; 2]> = Scaled::new().eval(&x, &y, &v, p).unwrap();
    for (i, row) in out.iter().enumerate() {
        for (c, &got) in row.iter().enumerate() {
            let want: f64 = (0..y.len())
                .map(|j| {
                    let d: f64 = (0..5).map(|k| (x[i][k] * p[k] - y[j][k]).powi(2)).sum();
                    (-d).exp() * v[j][c]
                })
                .sum();
            assert!((got - want).abs() <= 1e-12 * (1.0 + want.abs()), "row {i}, column {c}: {got} != {want}");
        }
    }
    // A kernel picked at run time: compiled for D = 3, else dimensions `_`, behind one type.
    let pick = |d: usize| -> Box<dyn keops::FlatKernel<f32>> {
        match d {
            3 => Box::new(keops!(|x_i: [f32; 3], y_j: [f32; 3]| sum_j exp(-sqdist(x_i, y_j)))),
            _ => {
                let k = keops!(|x_i: [f32; _], y_j: [f32; _]| sum_j exp(-sqdist(x_i, y_j)));
                Box::new(keops::DynKernel::from(k.with_dims(&[d, d])))
            }
        }
    };
    for d in [3, 7] {
        let (x, y) = (vec![0.0; d], vec![0.0; 2 * d]);
        assert_eq!(pick(d).eval(&[&x, &y]).unwrap(), [2.0], "D = {d}");
    }
    let info = Scaled::new().info_for(&[5, 5, 2, 5]).unwrap();
    assert_eq!((info.value_width, info.index_width), (2, 0));
    assert_eq!(info.vars.iter().map(|v| v.dim).collect::<Vec<_>>(), [5, 5, 2, 5]);
}

#[test]
fn dimensions_that_do_not_fit_are_errors() {
    let gauss = keops!(|x_i: [f32; _], y_j: [f32; _], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let (x, y, b) = ([[0.0f32; 3]; 2], [[0.0f32; 4]; 5], [[1.0f32]; 5]);
    let err = gauss.eval::<3, 4, 1>(&x, &y, &b).unwrap_err();
    let Error::Dimensions { reason } = &err else { panic!("{err}") };
    assert!(reason.contains("dimension mismatch"), "{err}");
    // The output's width.
    let y = [[0.0f32; 3]; 5];
    let err = gauss.eval::<3, 3, 2>(&x, &y, &b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dimensions given at run time: the output rows have width 1, but `eval` was asked for rows of width 2"
    );
    // Flat inputs need the dimensions.
    let inputs = [x.as_flattened(), y.as_flattened(), b.as_flattened()];
    let err = gauss.eval_flat(&inputs).unwrap_err();
    assert!(err.to_string().contains("set them with `with_dims`"), "{err}");
    let err = gauss.with_dims(&[3]).eval_flat(&inputs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dimensions given at run time: expected 2 dimensions of at least 1 (for `x_i`, `y_j`), got [3]"
    );
    // Inputs checked against the dimensions, as fixed kernels check them.
    let err = gauss.with_dims(&[2, 2]).eval_flat(&inputs).unwrap_err();
    assert!(matches!(err, Error::Length { var: "y_j", len: 15, dim: 2 }), "{err}");
    let out = gauss.with_dims(&[3, 3]).eval_flat(&inputs).unwrap();
    assert_eq!(out, [5.0, 5.0]);
    // What the declaration says before the dimensions are known.
    let declared = gauss.info();
    assert_eq!(declared.vars.iter().map(|v| v.dim).collect::<Vec<_>>(), [0, 0, 1]);
    assert_eq!(gauss.with_dims(&[3, 3]).info().vars[0].dim, 3);
    // Gradients check their inputs as `eval_flat` does, and `e` against the output.
    let err = gauss.with_dims(&[3, 3]).grad_flat(0, &inputs, &[1.0]).unwrap_err();
    assert_eq!(err, Error::GradientShape { len: 1, expected: 2 });
    let err = gauss.with_dims(&[3, 3]).grad_flat(3, &inputs, &[1.0, 1.0]).unwrap_err();
    assert_eq!(err, Error::NoSuchVariable { pos: 3, count: 3 });
    // Not yet: gradients of selections.
    let nearest = keops!(|x_i: [f64; _], y_j: [f64; _]| min_j sqdist(x_i, y_j)).with_dims(&[2, 2]);
    let err = nearest.grad_flat(0, &[&[0.0, 0.0][..], &[1.0, 1.0]], &[1.0]).unwrap_err();
    assert!(err.to_string().contains("not available yet"), "{err}");
    // Without a device, `Cuda` is an error, as for fixed kernels.
    if keops::Backend::Cuda(0).active().is_err() {
        assert!(gauss.on(Backend::Cuda(0)).eval::<3, 3, 1>(&x, &y, &b).is_err());
    }
}

/// `grad_flat` against finite differences, for each reduction with backward kernels, and
/// against the kernel compiled for the same dimensions.
#[test]
fn gradients_at_several_dimensions() {
    let sum =
        keops!(|x_i: [f64; _], y_j: [f64; _], b_j: [f64; _], s: f64| sum_j exp(-s * sqdist(x_i, y_j)) * b_j);
    let lse = keops!(|x_i: [f64; _], y_j: [f64; _], w_j: [f64; _]| logsumexp_j(-sqdist(x_i, y_j), w_j));
    let softmax =
        keops!(|q_i: [f64; _], k_j: [f64; _], v_j: [f64; _]| sumsoftmaxweight_j(dot(q_i, k_j), v_j));
    let over_i = keops!(|x_i: [f64; _], y_j: [f64; _], p: [f64; _]| sum_i sin(dot(x_i - y_j, p)));
    for (seed, d) in [1, 3, 16].into_iter().enumerate() {
        let seed = seed as u64;
        common::check_gradients(&*sum.with_dims(&[d, d, 2]), 6, 9, -1.0, 1.0, seed);
        // Positive weights: a log of a negative sum has no gradient.
        common::check_gradients(&*lse.with_dims(&[d, d, 2]), 6, 9, 0.1, 1.0, seed);
        common::check_gradients(&*softmax.with_dims(&[d, d, 3]), 6, 9, -0.5, 0.5, seed);
        common::check_gradients(&*over_i.with_dims(&[d, d, d]), 6, 9, -1.0, 1.0, seed);
    }
    let fixed =
        keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 2], s: f64| sum_j exp(-s * sqdist(x_i, y_j)) * b_j);
    let dynamic = sum.with_dims(&[3, 3, 2]);
    let inputs = common::random_inputs(&fixed, 30, 40, -1.0, 1.0, 5);
    let e = Rng::new(6).vec(30 * 2, -1.0, 1.0);
    for pos in 0..4 {
        let (got, want) =
            (dynamic.grad_flat(pos, &inputs, &e).unwrap(), fixed.grad_flat(pos, &inputs, &e).unwrap());
        assert_close(&got, &want, 1e-12, 1e-12, &format!("gradient {pos} against the fixed kernel"));
    }
}
