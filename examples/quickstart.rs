//! The card formula on 100,000 points: `a_i = sum_j exp(-|x_i - y_j|^2) b_j`.
//!
//! Run with `cargo run --release --example quickstart` (add `-- 20000` for another size). Prints
//! the time of the reduction and checks a subset of rows against a direct f64 computation.

use std::time::Instant;

use keops_testkit::Rng;

fn main() -> Result<(), keops::Error> {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut rng = Rng::new(42);
    let x: Vec<[f32; 3]> = (0..n).map(|_| [rng.unit_f32(), rng.unit_f32(), rng.unit_f32()]).collect();
    let y: Vec<[f32; 3]> = (0..n).map(|_| [rng.unit_f32(), rng.unit_f32(), rng.unit_f32()]).collect();
    let b: Vec<[f32; 1]> = (0..n).map(|_| [rng.unit_f32() - 0.5]).collect();

    // The formula is parsed, checked and compiled by `cargo build`.
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);

    let start = Instant::now();
    let a = k.eval(&x, &y, &b)?;
    let seconds = start.elapsed().as_secs_f64();
    let pairs = (n * n) as f64;
    println!(
        "a_i = sum_j exp(-|x_i - y_j|^2) b_j, M = N = {n}, f32 on {}: {seconds:.3} s ({:.2} Gpairs/s)",
        k.backend().active()?,
        pairs / seconds / 1e9
    );

    // Check 100 rows spread over the output against a direct computation in f64.
    let rows: Vec<usize> = (0..100).map(|t| t * n / 100).collect();
    let mut worst: f64 = 0.0;
    for &i in &rows {
        let direct: f64 = (0..n)
            .map(|j| {
                let d2: f64 = (0..3).map(|c| (x[i][c] as f64 - y[j][c] as f64).powi(2)).sum();
                (-d2).exp() * b[j][0] as f64
            })
            .sum();
        let scale: f64 = (0..n).map(|j| b[j][0].abs() as f64).sum::<f64>() / n as f64;
        worst = worst.max((a[i][0] as f64 - direct).abs() / (scale * n as f64));
    }
    println!(
        "checked {} rows against a direct f64 sum: max error {worst:.2e} (relative to sum |b_j|)",
        rows.len()
    );
    assert!(worst < 1e-5, "the reduction disagrees with the direct computation");
    println!("ok");
    Ok(())
}
