//! The conjugate-gradient solver: `(alpha I + K) a = b` against a dense solve, its errors, and its gradient.

mod common;

use common::Rng;
use common::json::Json;
use keops::{Error, Kernel, SolveOptions, StopRule, keops};

/// Solves the dense symmetric positive definite system `m a = b` by Cholesky, in f64.
fn dense_solve(mut m: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for j in 0..n {
        for k in 0..j {
            let l = m[j * n + k];
            for i in j..n {
                m[i * n + j] -= m[i * n + k] * l;
            }
        }
        let d = m[j * n + j].sqrt();
        for i in j..n {
            m[i * n + j] /= d;
        }
    }
    for i in 0..n {
        b[i] = (b[i] - (0..i).map(|k| m[i * n + k] * b[k]).sum::<f64>()) / m[i * n + i];
    }
    for i in (0..n).rev() {
        b[i] = (b[i] - (i + 1..n).map(|k| m[k * n + i] * b[k]).sum::<f64>()) / m[i * n + i];
    }
    b
}

#[test]
fn gaussian_system_matches_a_dense_solve() {
    let n = 300;
    let mut rng = Rng::new(11);
    let x: Vec<f32> = rng.vec(2 * n, 0.0, 1.0).into_iter().map(|v| v as f32).collect();
    let b: Vec<f32> = rng.vec(n, -1.0, 1.0).into_iter().map(|v| v as f32).collect();
    let alpha = 0.1f32;
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2], b_j: f32| sum_j exp(-10.0 * sqdist(x_i, y_j)) * b_j);
    let options = SolveOptions { tol: 1e-6, max_iter: Some(1000), ..SolveOptions::default() };
    let solution = k.solve_flat(2, &[&x[..], &x[..], &b[..]], alpha, &options).unwrap();
    assert!(solution.residual <= 1e-6, "{solution:?}");
    let mut m = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            let d2: f64 = (0..2).map(|c| (x[2 * i + c] as f64 - x[2 * j + c] as f64).powi(2)).sum();
            m[i * n + j] = (-10.0 * d2).exp() + if i == j { alpha as f64 } else { 0.0 };
        }
    }
    let want = dense_solve(m, b.iter().map(|&v| v as f64).collect());
    let norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
    let err = solution.a.iter().zip(&want).map(|(&a, w)| (a as f64 - w).powi(2)).sum::<f64>().sqrt();
    assert!(err <= 1e-4 * norm, "relative error {:e} after {} iterations", err / norm, solution.iterations);
}

#[test]
fn several_right_hand_sides_in_f64() {
    // Two components: the kernel applies to each; the solve treats them together.
    let n = 57;
    let mut rng = Rng::new(12);
    let x = rng.vec(3 * n, -1.0, 1.0);
    let b = rng.vec(2 * n, -1.0, 1.0);
    let k = keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 2]| sum_j inv(1 + sqdist(x_i, y_j)) * b_j);
    let options = SolveOptions { tol: 1e-12, max_iter: None, ..SolveOptions::default() };
    let s = k.solve_flat(2, &[&x[..], &x[..], &b[..]], 0.5, &options).unwrap();
    // Check the residual directly: (0.5 I + K) a = b.
    let ka = k.eval_flat(&[&x[..], &x[..], &s.a[..]]).unwrap();
    for ((ka, a), b) in ka.iter().zip(&s.a).zip(&b) {
        assert!((ka + 0.5 * a - b).abs() <= 1e-10, "{ka} + 0.5 * {a} != {b}");
    }
}

#[test]
fn non_convergence_is_an_error() {
    let mut rng = Rng::new(13);
    let x = rng.vec(2 * 100, 0.0, 1.0);
    let b = rng.vec(100, -1.0, 1.0);
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], b_j: f64| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let options = SolveOptions { tol: 1e-14, max_iter: Some(3), ..SolveOptions::default() };
    match k.solve_flat(2, &[&x[..], &x[..], &b[..]], 1e-6, &options) {
        Err(Error::NotConverged { iterations: 3, residual, tol }) => {
            assert!(residual > tol && residual.is_finite(), "{residual}");
        }
        other => panic!("expected NotConverged, got {other:?}"),
    }
}

/// KeOps' rule (`SolveOptions::keops`) stops at the first iterate with `|r|^2 < n eps^2`, as
/// pykeops' `ConjugateGradientSolver`: an absolute bound, so with large values in `b` it runs
/// longer than the relative rule at the same tolerance, and with small ones shorter.
#[test]
fn keops_stopping_rule_is_absolute() {
    let n = 200;
    let mut rng = Rng::new(14);
    let x = rng.vec(2 * n, 0.0, 1.0);
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], b_j: f64| sum_j exp(-20.0 * sqdist(x_i, y_j)) * b_j);
    let solve = |b: &[f64], options: &SolveOptions| k.solve_flat(2, &[&x[..], &x[..], b], 0.5, options);
    let eps = 1e-6;
    let keops = SolveOptions::keops(eps);
    assert_eq!((keops.tol, keops.max_iter, keops.stop), (eps, None, StopRule::KeOps));
    for scale in [1e3, 1e-3] {
        let b = rng.vec(n, -scale, scale);
        let b_norm = b.iter().map(|b| b * b).sum::<f64>().sqrt();
        let bound = n as f64 * eps * eps;
        let s = solve(&b, &keops).unwrap();
        assert!((s.residual * b_norm).powi(2) < bound, "{s:?}");
        // The iterate before did not meet the rule.
        let before = SolveOptions { max_iter: Some(s.iterations - 1), ..keops };
        match solve(&b, &before) {
            Err(Error::NotConverged { residual, .. }) => assert!((residual * b_norm).powi(2) >= bound),
            other => panic!("expected NotConverged, got {other:?}"),
        }
        let relative = solve(&b, &SolveOptions { tol: eps, ..SolveOptions::default() }).unwrap();
        if scale > 1.0 {
            assert!(s.iterations > relative.iterations, "{} vs {}", s.iterations, relative.iterations);
        } else {
            assert!(s.iterations < relative.iterations, "{} vs {}", s.iterations, relative.iterations);
        }
    }
}

/// `SolveOptions::keops` gives pykeops' `KernelSolve` solutions, for a right-hand side of
/// ordinary values and one a thousand times larger (where the absolute rule runs longer):
/// `tests/data/keops_solve/make.py`, pykeops 2.3. Both stop at the same iterate: the last
/// iteration moves the solution by about 1e-6 of its size here, while the two sides' rounding
/// (their sums run in different orders) leaves them about 3e-9 apart.
#[test]
fn keops_rule_matches_pykeops_kernel_solve() {
    let path = format!("{}/tests/data/keops_solve/gauss.json", env!("CARGO_MANIFEST_DIR"));
    let json = Json::parse(&std::fs::read_to_string(&path).unwrap());
    let (x, b) = (json.get("x").unwrap().nums(), json.get("b").unwrap().nums());
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], b_j: f64, g: f64| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    for (scale, want) in json.get("a").unwrap().obj() {
        let scale: f64 = scale.parse().unwrap();
        let want = want.nums();
        let rhs: Vec<f64> = b.iter().map(|b| b * scale).collect();
        let s =
            k.solve_flat(2, &[&x[..], &x[..], &rhs[..], &[20.0]], 0.5, &SolveOptions::keops(1e-6)).unwrap();
        let largest = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        let worst = s.a.iter().zip(&want).fold(0.0f64, |m, (a, w)| m.max((a - w).abs()));
        assert!(
            worst <= 1e-7 * largest,
            "b x {scale}: {worst:e} from pykeops (largest {largest:e}) after {} iterations",
            s.iterations
        );
    }
}

#[test]
fn kernels_that_are_not_square_linear_operators() {
    let x = [0.0f32, 1.0, 2.0];
    let b = [1.0f32, 2.0, 3.0];
    let options = SolveOptions::default();
    let min = keops!(|x_i: f32, y_j: f32, b_j: f32| min_j sqdist(x_i, y_j) * b_j);
    let err = min.solve_flat(2, &[&x[..], &x[..], &b[..]], 1.0, &options).unwrap_err();
    assert_eq!(err.to_string(), "cannot solve: the kernel's reduction is Min, but only a Sum is linear");
    let sum = keops!(|x_i: f32, y_j: f32, b_j: f32| sum_j sqdist(x_i, y_j) * b_j);
    let err = sum.solve_flat(0, &[&x[..], &x[..], &b[..]], 1.0, &options).unwrap_err();
    assert!(err.to_string().contains("`x_i` is not indexed by the reduced index"), "{err}");
    let err = sum.solve_flat(2, &[&x[..], &x[..2], &b[..2]], 1.0, &options).unwrap_err();
    assert!(err.to_string().contains("the system must be square"), "{err}");
    let wide = keops!(|x_i: f32, y_j: f32, b_j: [f32; 2]| sum_j [sqdist(x_i, y_j) * b_j[0], b_j[1], b_j[0]]);
    let err = wide.solve_flat(2, &[&x[..], &x[..], &[0.0; 6][..]], 1.0, &options).unwrap_err();
    assert!(err.to_string().contains("has dimension 2 but the output has 3"), "{err}");
    assert_eq!(
        sum.solve_flat(5, &[&x[..], &x[..], &b[..]], 1.0, &options).unwrap_err(),
        Error::NoSuchVariable { pos: 5, count: 3 }
    );
}

#[test]
fn an_indefinite_matrix_is_reported() {
    // K = -(x_i y_j) is negative semi-definite: p^T A p < 0 with alpha = 0.
    let x = [1.0f64, 2.0, 3.0];
    let k = keops!(|x_i: f64, y_j: f64, b_j: f64| sum_j - x_i * y_j * b_j);
    let err = k.solve_flat(2, &[&x[..], &x[..], &[1.0, 1.0, 1.0][..]], 0.0, &SolveOptions::default());
    assert!(matches!(err, Err(Error::Solve { .. })), "{err:?}");
}

/// The gradient through a solve, with respect to both point sets, the right-hand side, a
/// parameter and `alpha`, against central finite differences of `L = <a, e>`.
#[test]
fn solve_gradient_matches_finite_differences() {
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], b_j: f64, s: f64| sum_j exp(-s * sqdist(x_i, y_j)) * b_j);
    let mut rng = Rng::new(11);
    let n = 6;
    let mut inputs = vec![rng.vec(2 * n, 0.0, 2.0), Vec::new(), rng.vec(n, -1.0, 1.0), vec![0.7]];
    inputs[1] = inputs[0].clone();
    let (alpha, e) = (0.5, rng.vec(n, -1.0, 1.0));
    let options = SolveOptions { tol: 1e-13, max_iter: Some(200), ..SolveOptions::default() };
    let loss = |inputs: &[Vec<f64>], alpha: f64| -> f64 {
        let a = k.solve_flat(2, inputs, alpha, &options).unwrap().a;
        a.iter().zip(&e).map(|(a, e)| a * e).sum()
    };
    let a = k.solve_flat(2, &inputs, alpha, &options).unwrap().a;
    let g = k.solve_grad_flat(2, &inputs, alpha, &a, &e, &options).unwrap();
    let h = 1e-6;
    for pos in 0..inputs.len() {
        assert_eq!(g.inputs[pos].len(), inputs[pos].len());
        for c in 0..inputs[pos].len() {
            let x = inputs[pos][c];
            inputs[pos][c] = x + h;
            let plus = loss(&inputs, alpha);
            inputs[pos][c] = x - h;
            let minus = loss(&inputs, alpha);
            inputs[pos][c] = x;
            let fd = (plus - minus) / (2.0 * h);
            assert!(
                (g.inputs[pos][c] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "input {pos}[{c}]: {} against {fd}",
                g.inputs[pos][c]
            );
        }
    }
    let fd = (loss(&inputs, alpha + h) - loss(&inputs, alpha - h)) / (2.0 * h);
    assert!((g.alpha - fd).abs() < 1e-6 * (1.0 + fd.abs()), "alpha: {} against {fd}", g.alpha);
}
