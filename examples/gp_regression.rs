//! Gaussian-process (kernel ridge) regression: solve `(K + alpha I) a = y` with the conjugate
//! gradient solver (`Kernel::solve_flat`, one reduction per iteration, no matrix stored), then
//! predict with one more reduction.
//!
//! `cargo run --release --example gp_regression [-- N]` (N noisy samples of a function of the
//! plane; 100,000 by default on a GPU, 10,000 on a CPU, where each of the ~100 iterations
//! costs N^2 kernel evaluations).

mod common;

use std::time::Instant;

use common::Rng;
use keops::{Kernel, SolveOptions};

const NOISE: f32 = 0.1;
/// The ridge `alpha` of `(K + alpha I) a = y`. The GP posterior mean would take the noise
/// variance (0.01), but with N points the kernel's largest eigenvalues grow like N, and so does
/// the number of CG iterations; a larger ridge, as in kernel ridge regression, keeps it to a
/// few dozen at little cost in accuracy here.
const RIDGE: f32 = 1.0;

fn truth(p: [f32; 2]) -> f32 {
    (4.0 * p[0]).sin() * (3.0 * p[1]).cos()
}

/// Fits `n` samples; returns the RMS error of the predictions against the noiseless function.
pub fn run(n: usize) -> Result<f64, keops::Error> {
    let mut rng = Rng::new(17);
    let x: Vec<[f32; 2]> = (0..n).map(|_| [rng.unit_f32(), rng.unit_f32()]).collect();
    let y: Vec<f32> = x.iter().map(|&p| truth(p) + NOISE * rng.normal_f32()).collect();
    let gaussian =
        keops::keops!(|x_i: [f32; 2], y_j: [f32; 2], b_j: f32| sum_j exp(-20.0 * sqdist(x_i, y_j)) * b_j);
    let options = SolveOptions { tol: 1e-4, max_iter: Some(1000), ..SolveOptions::default() };
    let alpha = RIDGE;

    let start = Instant::now();
    let fit = gaussian.solve_flat(2, &[x.as_flattened(), x.as_flattened(), &y[..]], alpha, &options)?;
    let solve_seconds = start.elapsed().as_secs_f64();
    let test: Vec<[f32; 2]> = (0..1000).map(|_| [rng.unit_f32(), rng.unit_f32()]).collect();
    let predicted = gaussian.eval(&test, &x, &fit.a)?;
    let rmse = (test.iter().zip(&predicted).map(|(&p, f)| ((f[0] - truth(p)) as f64).powi(2)).sum::<f64>()
        / test.len() as f64)
        .sqrt();
    println!(
        "GP regression on {n} points on {}: CG converged in {} iterations ({solve_seconds:.2} s, residual {:.1e}); RMS error on 1000 test points {rmse:.4} (noise {NOISE})",
        common::backend(),
        fit.iterations,
        fit.residual
    );

    // Check the solver against a dense solve on the first 300 points.
    let m = n.min(300);
    let sub = &x[..m];
    let small = gaussian.solve_flat(
        2,
        &[sub.as_flattened(), sub.as_flattened(), &y[..m]],
        alpha,
        &SolveOptions { tol: 1e-6, max_iter: Some(2000), ..SolveOptions::default() },
    )?;
    let dense = dense_solve(sub, &y[..m], alpha);
    let norm = dense.iter().map(|d| d * d).sum::<f64>().sqrt();
    let err = small.a.iter().zip(&dense).map(|(&a, d)| (a as f64 - d).powi(2)).sum::<f64>().sqrt() / norm;
    println!("checked the solver against a dense Cholesky solve on {m} points: relative error {err:.1e}");
    assert!(err < 1e-4, "the solver disagrees with a dense solve");
    Ok(rmse)
}

/// `(K + alpha I)^-1 y` by Cholesky, in f64.
fn dense_solve(x: &[[f32; 2]], y: &[f32], alpha: f32) -> Vec<f64> {
    let n = x.len();
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let d2: f64 = (0..2).map(|c| (x[i][c] as f64 - x[j][c] as f64).powi(2)).sum();
            let mut s = (-20.0 * d2).exp() + if i == j { alpha as f64 } else { 0.0 };
            s -= (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            l[i * n + j] = if i == j { s.sqrt() } else { s / l[j * n + j] };
        }
    }
    let mut z: Vec<f64> = y.iter().map(|&v| v as f64).collect();
    for i in 0..n {
        z[i] = (z[i] - (0..i).map(|k| l[i * n + k] * z[k]).sum::<f64>()) / l[i * n + i];
    }
    for i in (0..n).rev() {
        z[i] = (z[i] - (i + 1..n).map(|k| l[k * n + i] * z[k]).sum::<f64>()) / l[i * n + i];
    }
    z
}

fn main() -> Result<(), keops::Error> {
    let rmse = run(common::size(10_000, 100_000))?;
    assert!(rmse < NOISE as f64, "the regression is worse than the noise");
    Ok(())
}

#[test]
fn small() {
    assert!(run(250).unwrap() < 0.25);
}
