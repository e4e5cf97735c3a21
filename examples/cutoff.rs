//! A short-range interaction with a cut-off radius, block-sparse (`keops::ranges::CutOff`): the
//! points are sorted into grid clusters, only the pairs of clusters that can hold points closer
//! than the radius are reduced, and the result is checked against the dense reduction and timed
//! against it. The kernel is a Gaussian whose terms at the radius are `e^-4.5`.
//!
//! `cargo run --release --example cutoff [-- N]` (N points uniform in the unit square, 100,000
//! by default; the radius keeps about 1 % of the pairs).

mod common;

use std::time::Instant;

use common::Rng;
use keops::ranges::CutOff;
use keops_testkit::median_seconds;

/// Sizes and times of one comparison.
pub struct Report {
    pub pairs_kept: f64,
    pub relative_error: f64,
    pub dense_seconds: f64,
    pub ranged_seconds: f64,
    /// Clustering and ranges, once per point set.
    pub setup_seconds: f64,
}

pub fn run(n: usize, runs: usize) -> Result<Report, keops::Error> {
    let mut rng = Rng::new(3);
    let x: Vec<f32> = (0..2 * n).map(|_| rng.unit_f32()).collect();
    let b: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
    // pi r^2 = 1 % of the unit square.
    let r = (0.01f32 / std::f32::consts::PI).sqrt();
    let k = keops::keops!(|x_i: [f32; 2], y_j: [f32; 2], b_j: f32, g: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let g = [4.5 / (r * r)];
    let inputs = [&x[..], &x, &b, &g];

    let (dense_seconds, dense) = median_seconds(runs, || k.eval_flat(&inputs));
    // The clusters and ranges are made once per point set; each call sorts its inputs, reduces
    // the kept cluster pairs and puts the output back in order.
    let start = Instant::now();
    let near = CutOff::new(&x, &x, 2, r)?;
    let setup_seconds = start.elapsed().as_secs_f64();
    let (ranged_seconds, ranged) = median_seconds(runs, || near.eval_flat(&k, &inputs));
    let (ranged, dense) = (ranged?, dense?);
    let l1 = |v: &mut dyn Iterator<Item = f32>| v.map(|a| f64::from(a.abs())).sum::<f64>();
    let relative_error =
        l1(&mut ranged.iter().zip(&dense).map(|(a, b)| a - b)) / l1(&mut dense.iter().copied());
    Ok(Report {
        pairs_kept: near.pairs() as f64 / (n as f64 * n as f64),
        relative_error,
        dense_seconds,
        ranged_seconds,
        setup_seconds,
    })
}

fn main() -> Result<(), keops::Error> {
    let n = common::size(100_000, 1_000_000);
    println!("{n} points, backend {}", common::backend());
    let report = run(n, 3)?;
    println!(
        "pairs computed: {:.2} % of the dense reduction's; relative L1 difference {:.1e}",
        100.0 * report.pairs_kept,
        report.relative_error
    );
    println!(
        "dense {:.3} s, block-sparse {:.3} s (median of 3): {:.1} x faster; clusters and ranges made once in {:.3} s",
        report.dense_seconds,
        report.ranged_seconds,
        report.dense_seconds / report.ranged_seconds,
        report.setup_seconds
    );
    assert!(report.relative_error < 1e-3, "the cut-off changed the result");
    Ok(())
}

#[test]
fn small() {
    let report = run(4000, 1).unwrap();
    assert!(report.relative_error < 1e-3, "{}", report.relative_error);
    assert!(report.pairs_kept < 0.2, "{}", report.pairs_kept);
}
