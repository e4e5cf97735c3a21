//! Entropic optimal transport between two point clouds by log-domain Sinkhorn iterations: each
//! half-step is a `logsumexp` reduction, stable however small the temperature `eps`.
//!
//! `cargo run --release --example sinkhorn [-- N]` (N points in each cloud).

mod common;

use std::time::Instant;

use common::Rng;

const EPS: f32 = 0.05;
const ITERATIONS: usize = 30;

/// Transports a uniform measure on a disc onto one on a ring; returns the final L1 error of the
/// plan's second marginal (the first is exact after each update of `f`).
pub fn run(n: usize) -> Result<f64, keops::Error> {
    let mut rng = Rng::new(5);
    let x: Vec<[f32; 2]> = (0..n)
        .map(|_| {
            let (r, t) = (0.3 * rng.unit_f32().sqrt(), std::f32::consts::TAU * rng.unit_f32());
            [0.3 + r * t.cos(), 0.5 + r * t.sin()]
        })
        .collect();
    let y: Vec<[f32; 2]> = (0..n)
        .map(|_| {
            let (r, t) = (0.25 + 0.05 * rng.unit_f32(), std::f32::consts::TAU * rng.unit_f32());
            [0.7 + r * t.cos(), 0.5 + r * t.sin()]
        })
        .collect();
    // Uniform weights 1/n: log a_i = log b_j = -ln n. Cost |x - y|^2 / 2.
    let ln_n = (n as f32).ln();
    let softmin_j = keops::keops!(|x_i: [f32; 2], y_j: [f32; 2], g_j: f32, s: f32| logsumexp_j(
        (g_j - sqdist(x_i, y_j) / 2) * s
    ));
    let softmin_i = keops::keops!(|x_i: [f32; 2], y_j: [f32; 2], f_i: f32, s: f32| logsumexp_i(
        (f_i - sqdist(x_i, y_j) / 2) * s
    ));

    // The updates f <- -eps log sum_j b_j exp((g_j - C_ij) / eps), and the same for g.
    let update = |lse: Vec<[f32; 1]>| lse.iter().map(|l| -EPS * (l[0] - ln_n)).collect::<Vec<f32>>();
    let start = Instant::now();
    let mut g = vec![0f32; n];
    let mut f = update(softmin_j.eval(&x, &y, &g, 1.0 / EPS)?);
    for _ in 0..ITERATIONS {
        g = update(softmin_i.eval(&x, &y, &f, 1.0 / EPS)?);
        // Ending on an update of f makes the first marginal exact: the second is the error.
        f = update(softmin_j.eval(&x, &y, &g, 1.0 / EPS)?);
    }
    let second_marginal_error = {
        // b_j' = b_j sum_i a_i exp((f_i + g_j - C_ij) / eps), to compare with b_j = 1/n.
        let lse = softmin_i.eval(&x, &y, &f, 1.0 / EPS)?;
        lse.iter()
            .zip(&g)
            .map(|(l, &g)| ((l[0] - ln_n + g / EPS).exp() as f64 - 1.0).abs() / n as f64)
            .sum::<f64>()
    };
    let seconds = start.elapsed().as_secs_f64();
    let error = second_marginal_error;
    let cost = (f.iter().chain(&g).map(|&v| v as f64).sum::<f64>()) / n as f64;
    println!(
        "Sinkhorn, {n} + {n} points, eps = {EPS}, {ITERATIONS} iterations on {}: {seconds:.3} s; dual cost {cost:.5}; marginal L1 error {error:.2e}",
        common::backend()
    );

    // Check one row of f against a direct log-sum-exp in f64.
    let i = n / 2;
    let terms: Vec<f64> = (0..n)
        .map(|j| {
            let c = ((x[i][0] - y[j][0]) as f64).powi(2) + ((x[i][1] - y[j][1]) as f64).powi(2);
            (g[j] as f64 - c / 2.0) / EPS as f64
        })
        .collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let direct =
        -(EPS as f64) * (m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln() - (n as f64).ln());
    assert!((f[i] as f64 - direct).abs() < 1e-4, "f[{i}] = {} but a direct sum gives {direct}", f[i]);
    println!("checked a potential against a direct f64 log-sum-exp: ok");
    Ok(error)
}

fn main() -> Result<(), keops::Error> {
    let error = run(common::size(10_000, 200_000))?;
    assert!(error < 1e-2, "Sinkhorn did not converge: marginal error {error}");
    Ok(())
}

#[test]
fn small() {
    assert!(run(300).unwrap() < 1e-2);
}
