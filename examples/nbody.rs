//! Softened gravity: accelerations `sum_j m_j (x_j - x_i) / (|x_i - x_j|^2 + e^2)^(3/2)` as one
//! reduction per step, leapfrog integration, and the drift of the total energy.
//!
//! `cargo run --release --example nbody [-- N]` (N bodies, 20 steps).

mod common;

use std::time::Instant;

use common::Rng;

const STEPS: usize = 20;
const DT: f32 = 1e-3;
const SOFTENING2: f32 = 1e-2;

/// Simulates `n` bodies; returns the relative energy drift.
pub fn run(n: usize) -> Result<f64, keops::Error> {
    let mut rng = Rng::new(1);
    // A cold uniform ball of total mass 1, slowly rotating.
    let mut x: Vec<[f32; 3]> = Vec::with_capacity(n);
    while x.len() < n {
        let p = [2.0 * rng.unit_f32() - 1.0, 2.0 * rng.unit_f32() - 1.0, 2.0 * rng.unit_f32() - 1.0];
        if p.iter().map(|c| c * c).sum::<f32>() <= 1.0 {
            x.push(p);
        }
    }
    let mut v: Vec<[f32; 3]> = x.iter().map(|p| [-0.3 * p[1], 0.3 * p[0], 0.0]).collect();
    let m = vec![1.0 / n as f32; n];
    let accelerations = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], m_j: f32, e2: f32| sum_j(
        (y_j - x_i) * m_j * pow(rsqrt(sqdist(x_i, y_j) + e2), 3)
    ));
    let potentials = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], m_j: f32, e2: f32| sum_j(
        -m_j * rsqrt(sqdist(x_i, y_j) + e2)
    ));
    let energy = |x: &[[f32; 3]], v: &[[f32; 3]]| -> Result<f64, keops::Error> {
        let phi = potentials.eval(x, x, &m, SOFTENING2)?;
        // Each body's own term, -m_i / e, is not an interaction.
        let self_term = -(1.0 / n as f64) / (SOFTENING2 as f64).sqrt();
        Ok((0..n)
            .map(|i| {
                let kinetic: f64 = v[i].iter().map(|&c| (c as f64).powi(2)).sum::<f64>() / 2.0;
                m[i] as f64 * (kinetic + (phi[i][0] as f64 - self_term) / 2.0)
            })
            .sum())
    };

    let e0 = energy(&x, &v)?;
    let start = Instant::now();
    let mut a = accelerations.eval(&x, &x, &m, SOFTENING2)?;
    for _ in 0..STEPS {
        for ((x, v), a) in x.iter_mut().zip(&mut v).zip(&a) {
            for c in 0..3 {
                v[c] += 0.5 * DT * a[c];
                x[c] += DT * v[c];
            }
        }
        a = accelerations.eval(&x, &x, &m, SOFTENING2)?;
        for (v, a) in v.iter_mut().zip(&a) {
            for c in 0..3 {
                v[c] += 0.5 * DT * a[c];
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let e1 = energy(&x, &v)?;
    let drift = ((e1 - e0) / e0).abs();
    println!(
        "{n} bodies, {STEPS} leapfrog steps on {}: {seconds:.3} s ({:.2} Gpairs/s); energy {e0:.6} -> {e1:.6}, relative drift {drift:.2e}",
        common::backend(),
        ((STEPS + 1) * n * n) as f64 / seconds / 1e9
    );

    // Check one body's acceleration against a direct sum in f64.
    let i = n / 3;
    let mut direct = [0f64; 3];
    for j in 0..n {
        let d: Vec<f64> = (0..3).map(|c| x[j][c] as f64 - x[i][c] as f64).collect();
        let r2: f64 = d.iter().map(|d| d * d).sum::<f64>() + SOFTENING2 as f64;
        for c in 0..3 {
            direct[c] += m[j] as f64 * d[c] / r2.powf(1.5);
        }
    }
    let norm = direct.iter().map(|d| d * d).sum::<f64>().sqrt();
    let err = (0..3).map(|c| (a[i][c] as f64 - direct[c]).powi(2)).sum::<f64>().sqrt();
    assert!(err <= 1e-4 * norm.max(1.0), "acceleration of body {i}: error {err:e}");
    println!("checked an acceleration against a direct f64 sum: ok");
    Ok(drift)
}

fn main() -> Result<(), keops::Error> {
    let drift = run(common::size(20_000, 300_000))?;
    assert!(drift < 1e-3, "energy drifted by {drift}");
    Ok(())
}

#[test]
fn small() {
    assert!(run(400).unwrap() < 1e-3);
}
