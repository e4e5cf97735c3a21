//! Softmax attention without the attention matrix: `sumsoftmaxweight_j(<q_i, k_j> / sqrt(D), v_j)`
//! is `softmax(Q K^T / sqrt(D)) V`, computed online and stably, for any sequence length.
//!
//! `cargo run --release --example attention [-- N]` (N queries and N keys, D = 16).

mod common;

use std::time::Instant;

use common::Rng;

const D: usize = 16;

/// Attention of `n` queries over `n` keys; returns the largest error against a dense softmax on
/// a subset of queries.
pub fn run(n: usize) -> Result<f64, keops::Error> {
    let mut rng = Rng::new(9);
    let mut rows =
        |n: usize| -> Vec<[f32; D]> { (0..n).map(|_| std::array::from_fn(|_| rng.normal_f32())).collect() };
    let (q, k, v) = (rows(n), rows(n), rows(n));
    let attention =
        keops::keops!(|q_i: [f32; 16], k_j: [f32; 16], v_j: [f32; 16], s: f32| sumsoftmaxweight_j(
            dot(q_i, k_j) * s,
            v_j
        ));
    let scale = 1.0 / (D as f32).sqrt();

    let start = Instant::now();
    let out = attention.eval(&q, &k, &v, scale)?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "attention, {n} queries x {n} keys, D = {D}, on {}: {seconds:.3} s ({:.2} Gpairs/s)",
        common::backend(),
        (n * n) as f64 / seconds / 1e9
    );

    // The dense computation, in f64, for 64 queries: scores, softmax, weighted sum of values.
    let mut worst: f64 = 0.0;
    for i in (0..n).step_by((n / 64).max(1)) {
        let scores: Vec<f64> = k
            .iter()
            .map(|k| q[i].iter().zip(k).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() * scale as f64)
            .collect();
        let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
        let total: f64 = w.iter().sum();
        for c in 0..D {
            let dense = w.iter().zip(&v).map(|(w, v)| w * v[c] as f64).sum::<f64>() / total;
            worst = worst.max((out[i][c] as f64 - dense).abs());
        }
    }
    println!("checked 64 queries against a dense softmax in f64: max error {worst:.2e}");
    Ok(worst)
}

fn main() -> Result<(), keops::Error> {
    let worst = run(common::size(20_000, 500_000))?;
    assert!(worst < 1e-4, "attention disagrees with the dense softmax");
    Ok(())
}

#[test]
fn small() {
    assert!(run(700).unwrap() < 1e-4);
}
