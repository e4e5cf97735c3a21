//! Training through a keops reduction with candle's autograd: the bandwidth of a Nadaraya-Watson
//! kernel regression, `f(x) = sum_j exp(-s |x - y_j|^2) t_j / sum_j exp(-s |x - y_j|^2)`, fitted
//! by gradient descent on `log s` against held-out points. Both sums are one keops reduction
//! (`v_j = [t_j, 1]`), an op of candle's graph: `loss.backward()` runs its backward kernels.
//!
//! `cargo run --release --features candle --example candle_fit [-- N]` (N training and N
//! held-out samples of a noisy curve; 20,000 by default). CPU tensors only (see `keops::candle`).

mod common;

use common::Rng;
use keops::candle::{Device, Error, Tensor, Var};

const NOISE: f32 = 0.2;

/// Samples of `sin(3 x)` plus noise on `[-2, 2]`: the points, then the targets.
fn samples(n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let x: Vec<f32> = (0..n).map(|_| 4.0 * rng.unit_f32() - 2.0).collect();
    let t = x.iter().map(|&x| (3.0 * x).sin() + NOISE * rng.normal_f32()).collect();
    (x, t)
}

/// Fits the bandwidth on `n` samples; returns the held-out mean squared error before and after
/// (the noise alone gives `NOISE^2`), and the fitted `s`.
pub fn run(n: usize, steps: usize) -> Result<(f32, f32, f32), Error> {
    let k = keops::keops!(|x_i: f32, y_j: f32, v_j: [f32; 2], s: f32| sum_j exp(-s * (x_i - y_j) * (x_i - y_j)) * v_j);
    let mut rng = Rng::new(5);
    let dev = &Device::Cpu;
    let (y, t) = samples(n, &mut rng);
    let (xv, tv) = samples(n, &mut rng);
    let v: Vec<f32> = t.iter().flat_map(|&t| [t, 1.0]).collect();
    let (y, v) = (Tensor::from_vec(y, n, dev)?, Tensor::from_vec(v, (n, 2), dev)?);
    let (xv, tv) = (Tensor::from_vec(xv, n, dev)?, Tensor::from_vec(tv, n, dev)?);
    // A very wide kernel to start with: the fit is then nearly the mean of the targets.
    let log_s = Var::new(&[0.0f32], dev)?;
    let loss = |log_s: &Tensor| -> Result<Tensor, Error> {
        let s = log_s.exp()?;
        let sums = keops::candle::apply(&k, &[&xv, &y, &v, &s])?;
        let fit = (sums.narrow(1, 0, 1)? / sums.narrow(1, 1, 1)?)?.squeeze(1)?;
        (fit - &tv)?.sqr()?.mean_all()
    };
    let before = loss(log_s.as_tensor())?.to_scalar::<f32>()?;
    println!("{n} training and {n} held-out points, backend {}", common::backend());
    // Adam on one parameter, written out (candle-nn's `AdamW` takes the same `Var`).
    let (lr, b1, b2) = (0.1f32, 0.9f32, 0.999f32);
    let (mut m, mut w) = (0.0f32, 0.0f32);
    for step in 1..=steps {
        let l = loss(log_s.as_tensor())?;
        let g = l.backward()?.get(log_s.as_tensor()).expect("log s tracks its gradient").to_vec1::<f32>()?[0];
        m = b1 * m + (1.0 - b1) * g;
        w = b2 * w + (1.0 - b2) * g * g;
        let update =
            lr * (m / (1.0 - b1.powi(step as i32))) / ((w / (1.0 - b2.powi(step as i32))).sqrt() + 1e-8);
        log_s.set(&(log_s.as_tensor() - f64::from(update))?)?;
        if step % 10 == 0 || step == 1 {
            let s = log_s.as_tensor().exp()?.to_vec1::<f32>()?[0];
            println!("step {step:3}: held-out MSE {:.4}, s = {s:.2}", l.to_scalar::<f32>()?);
        }
    }
    let after = loss(log_s.as_tensor())?.to_scalar::<f32>()?;
    let s = log_s.as_tensor().exp()?.to_vec1::<f32>()?[0];
    println!("held-out MSE {before:.4} -> {after:.4} (noise variance {:.4}), s = {s:.2}", NOISE * NOISE);
    Ok((before, after, s))
}

fn main() -> Result<(), Error> {
    let (_, after, _) = run(common::size(20_000, 20_000), 60)?;
    assert!(after < 2.0 * NOISE * NOISE, "the fitted regression is far from the noise level");
    Ok(())
}

#[test]
fn small() {
    let (before, after, s) = run(400, 40).unwrap();
    // The start is nearly the mean of sin(3x) (variance about 0.5); the fit comes near the noise.
    assert!(before > 0.3, "{before}");
    assert!(after < 2.0 * NOISE * NOISE, "{after}");
    assert!(s > 1.0, "{s}");
}
