//! K-means clustering (Lloyd's algorithm): the assignment step is `argmin_j sqdist(x_i, c_j)`,
//! the update step a mean per cluster.
//!
//! `cargo run --release --example kmeans [-- N]` (N points in the plane, 50 clusters).

mod common;

use std::time::Instant;

use common::Rng;

const CLUSTERS: usize = 50;
const ITERATIONS: usize = 10;

/// Clusters `n` points drawn around random centres; returns the inertia after each iteration.
pub fn run(n: usize) -> Result<Vec<f64>, keops::Error> {
    let mut rng = Rng::new(3);
    let centres: Vec<[f32; 2]> = (0..CLUSTERS).map(|_| [rng.unit_f32(), rng.unit_f32()]).collect();
    let x: Vec<[f32; 2]> = (0..n)
        .map(|_| {
            let c = centres[rng.below(CLUSTERS)];
            [c[0] + 0.02 * rng.normal_f32(), c[1] + 0.02 * rng.normal_f32()]
        })
        .collect();
    let nearest = keops::keops!(|x_i: [f32; 2], c_j: [f32; 2]| argmin_j sqdist(x_i, c_j));

    // Start from the first points (deterministic, like KeOps' tutorial).
    let mut c: Vec<[f32; 2]> = x.iter().copied().cycle().take(CLUSTERS).collect();
    let mut inertia = Vec::new();
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        let labels = nearest.eval(&x, &c)?;
        let mut sums = vec![[0f64; 3]; CLUSTERS];
        let mut total = 0.0;
        for (p, &[j]) in x.iter().zip(&labels) {
            sums[j][0] += p[0] as f64;
            sums[j][1] += p[1] as f64;
            sums[j][2] += 1.0;
            total += ((p[0] - c[j][0]).powi(2) + (p[1] - c[j][1]).powi(2)) as f64;
        }
        inertia.push(total / n as f64);
        for (c, s) in c.iter_mut().zip(&sums) {
            if s[2] > 0.0 {
                *c = [(s[0] / s[2]) as f32, (s[1] / s[2]) as f32];
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{ITERATIONS} Lloyd iterations, {n} points, {CLUSTERS} clusters on {}: {seconds:.3} s; mean squared distance {:.3e} -> {:.3e}",
        common::backend(),
        inertia[0],
        inertia[ITERATIONS - 1]
    );

    // Checks: Lloyd's algorithm never increases the inertia, and assignments are the nearest
    // centres.
    for w in inertia.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-5), "inertia increased: {inertia:?}");
    }
    let last = nearest.eval(&x, &c)?;
    let d2 = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
    for i in (0..n).step_by((n / 1000).max(1)) {
        let best = (0..CLUSTERS).map(|j| d2(x[i], c[j])).fold(f32::INFINITY, f32::min);
        assert_eq!(d2(x[i], c[last[i][0]]), best, "point {i}");
    }
    println!("inertia decreased at every iteration; assignments checked against a direct search: ok");
    Ok(inertia)
}

fn main() -> Result<(), keops::Error> {
    run(common::size(1_000_000, 10_000_000))?;
    Ok(())
}

#[test]
fn small() {
    let inertia = run(3000).unwrap();
    assert!(inertia[ITERATIONS - 1] < inertia[0]);
}
