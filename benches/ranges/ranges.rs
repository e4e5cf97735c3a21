//! Block-sparse reductions against dense ones, in the two shapes users meet (BENCHMARKS.md):
//! a short-range interaction (the `swarm` example's neighbour sums: 100,000 points uniform in
//! the periodic unit square, radius 0.02, about 1 % of the pairs; `CutOff::periodic` made once),
//! forward and its gradient with respect to the weights; and a ragged batch of 2,000 small
//! problems of 50 to 150 points (`Ranges::block_diagonal`). f32, median of 7 calls after a
//! warm-up. `cargo run --release --bin ranges`.

use keops::ranges::{self, CutOff, Ranges};
use keops_testkit::{Rng, median_seconds};

fn main() -> keops::Result<()> {
    let mut rng = Rng::new(5);
    let mut floats = |n: usize, lo: f64, hi: f64| -> Vec<f32> {
        rng.vec(n, lo, hi).into_iter().map(|v| v as f32).collect()
    };

    // Short-range interaction.
    let n = 100_000;
    let radius = 0.02f32;
    let neighbours = keops::keops!(|x_i: [f32; 2], y_j: [f32; 2], u_j: [f32; 2], r2: f32| sum_j(
        step(r2 - sqnorm2(mod(x_i - y_j, 1.0, -0.5))) * u_j
    ));
    let (x, u) = (floats(2 * n, 0.0, 1.0), floats(2 * n, -1.0, 1.0));
    let r2 = [radius * radius];
    let inputs = [&x[..], &x, &u, &r2];
    let near = CutOff::periodic(&x, &x, 2, radius, 1.0)?;
    let pairs = near.pairs() as f64;
    let (ranged, out) = median_seconds(7, || near.eval_flat(&neighbours, &inputs));
    let (dense, want) = median_seconds(3, || neighbours.eval_flat(&inputs));
    let (out, want) = (out?, want?);
    let diff = out.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!(
        "cut-off, {n} points, {:.2} % of the pairs: {ranged:.4} s ({:.2} Gpairs/s), dense {dense:.3} s ({:.2} Gpairs/s), largest difference {diff:.1e}",
        100.0 * pairs / (n * n) as f64,
        pairs / ranged / 1e9,
        (n * n) as f64 / dense / 1e9,
    );
    let e = floats(2 * n, -1.0, 1.0);
    let (grad, g) = median_seconds(7, || near.grad_flat(&neighbours, 2, &inputs, &e));
    g?;
    println!("  its gradient with respect to u_j: {grad:.4} s ({:.2} Gpairs/s)", pairs / grad / 1e9);

    // A ragged batch of small problems.
    let gauss = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let sizes: Vec<usize> = (0..2000).map(|k| 50 + (k * 37) % 101).collect();
    let rows: usize = sizes.iter().sum();
    let (over_j, _) = Ranges::block_diagonal(&sizes, &sizes)?;
    let (x, y, b) = (floats(3 * rows, 0.0, 1.0), floats(3 * rows, 0.0, 1.0), floats(rows, 0.0, 1.0));
    let inputs = [&x[..], &y, &b];
    let (seconds, out) = median_seconds(7, || ranges::eval_flat(&gauss, &inputs, &over_j));
    out?;
    println!(
        "ragged batch, {} problems of 50 to 150 points: {seconds:.5} s ({:.2} Gpairs/s)",
        sizes.len(),
        over_j.pairs() as f64 / seconds / 1e9
    );
    Ok(())
}
