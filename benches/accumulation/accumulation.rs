//! The accuracy and cost of each summation scheme, as `pykeops_accumulation.py` measures
//! pykeops': the f32 sum over j of b_j = 0.1 for N = 10^7 (4 output rows), against the exact sum
//! of those f32 values; and the time of a Gaussian kernel sum (D = 3, M = N = 20,000, f32) in each
//! scheme (float64 accumulation included), median of 5 calls after a warm-up.

use keops_testkit::{Rng, median_seconds};

fn main() -> keops::Result<()> {
    let n = 10_000_000;
    let b = vec![0.1f32; n];
    let exact = n as f64 * f64::from(0.1f32);
    let x = [0.0f32; 4];
    let block = keops::keops!(|x_i: f32, b_j: f32| sum_j 0 * x_i + b_j);
    let kahan = keops::keops!(|x_i: f32, b_j: f32| sum_j::<kahan> 0 * x_i + b_j);
    let double = keops::keops!(|x_i: f32, b_j: f32| sum_j::<f64> 0 * x_i + b_j);
    println!("sum of 0.1 (f32) over N = {n}: exact {exact}");
    for (name, out) in [
        ("block_sum", block.eval_flat(&[&x[..], &b])?),
        ("kahan_scheme", kahan.eval_flat(&[&x[..], &b])?),
        ("float64 acc", double.eval_flat(&[&x[..], &b])?),
    ] {
        let got = f64::from(out[0]);
        println!("  {name:12} {got:.4}  relative error {:.1e}", (got - exact).abs() / exact);
    }

    let m = 20_000;
    let mut rng = Rng::new(1);
    let mut floats = |n: usize, lo: f64, hi: f64| -> Vec<f32> {
        rng.vec(n, lo, hi).into_iter().map(|v| v as f32).collect()
    };
    let (x, y, w) = (floats(3 * m, 0.0, 1.0), floats(3 * m, 0.0, 1.0), floats(m, -1.0, 1.0));
    let g = [2.0f32];
    let gauss = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let gauss_kahan = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j::<kahan> exp(-g * sqdist(x_i, y_j)) * b_j);
    let gauss_double = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j::<f64> exp(-g * sqdist(x_i, y_j)) * b_j);
    let inputs = [&g[..], &x, &y, &w];
    let t_block = median_seconds(5, || gauss.eval_flat(&inputs)).0;
    let t_kahan = median_seconds(5, || gauss_kahan.eval_flat(&inputs)).0;
    let t_double = median_seconds(5, || gauss_double.eval_flat(&inputs)).0;
    println!("Gaussian kernel sum, D = 3, M = N = {m}, f32 (median of 5):");
    println!("  block_sum    {t_block:.3} s");
    println!("  kahan_scheme {t_kahan:.3} s ({:.2} x)", t_kahan / t_block);
    println!("  float64 acc  {t_double:.3} s ({:.2} x)", t_double / t_block);
    Ok(())
}
