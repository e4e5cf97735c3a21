//! Batched Gaussian kernel sums, as `pykeops_batch.py` times pykeops': x of batch shape
//! (B1, 1), y and b of (B1, B2) (D = 3, one weight), f32, in two shapes: a few large problems
//! (B1 x B2 = 4 x 8, M = N = 5,000) and many small ones (50 x 20, M = N = 100). Median of 5
//! calls after a warm-up.

use keops::batch::{self, Batches};
use keops_testkit::{Rng, median_seconds};

fn main() -> keops::Result<()> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    for (b1, b2, m) in [(4, 8, 5_000), (50, 20, 100)] {
        let mut rng = Rng::new(1);
        let mut floats =
            |n: usize| -> Vec<f32> { rng.vec(n, 0.0, 1.0).into_iter().map(|v| v as f32).collect() };
        let (x, y, b) = (floats(b1 * m * 3), floats(b1 * b2 * m * 3), floats(b1 * b2 * m));
        let batches = Batches::new(&[&[b1, 1], &[b1, b2], &[b1, b2]])?;
        let inputs = [&x[..], &y, &b];
        let seconds = median_seconds(5, || batch::eval_flat(&k, &inputs, &batches)).0;
        let pairs = (b1 * b2 * m * m) as f64;
        println!(
            "{b1} x {b2} problems of M = N = {m}: {seconds:.4} s ({:.2} Gpairs/s)",
            pairs / seconds / 1e9
        );
    }
    Ok(())
}
