//! A dimension chosen at run time: a Gaussian sum over points of any dimension `D`, declared
//! `x_i: [f32; _]` (feature `dynamic`), timed against kernels compiled for D = 3, 16 and 64.
//!
//! `cargo run --release --features dynamic --example dynamic_dims` runs M = N = 20,000 points
//! (`--n N`), median of 5 calls (`--runs R`) after a warm-up, and checks a few rows against a
//! direct computation. `--dim D` runs one dimension of your choice, without a compiled kernel to
//! compare with.

use std::time::Instant;

use keops::keops;

/// The Gaussian sum for any dimension.
fn gaussian(d: usize) -> keops::Result<keops::DynKernel<f32>> {
    let k = keops!(|g: f32, x_i: [f32; _], y_j: [f32; _], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let k = k.with_dims(&[d, d]);
    // Checks the dimensions once, here, rather than at the first call.
    k.info_for(&[d, d])?;
    Ok(k.into())
}

/// The same formula compiled for D = 3, 16 and 64.
fn compiled(d: usize, inputs: &[&[f32]]) -> Option<keops::Result<Vec<f32>>> {
    Some(match d {
        3 => keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j)
            .eval_flat(inputs),
        16 => {
            keops!(|g: f32, x_i: [f32; 16], y_j: [f32; 16], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j)
                .eval_flat(inputs)
        }
        64 => {
            keops!(|g: f32, x_i: [f32; 64], y_j: [f32; 64], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j)
                .eval_flat(inputs)
        }
        _ => return None,
    })
}

/// Median seconds of `runs` calls of `f`, after one call not counted.
fn median_seconds(runs: usize, mut f: impl FnMut() -> keops::Result<Vec<f32>>) -> keops::Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(f()?);
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[runs / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut n, mut runs, mut dims) = (20_000, 5, vec![3, 16, 64]);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<usize>().ok()).filter(|&v| v > 0);
        match arg.as_str() {
            "--n" => n = value().ok_or("--n takes a positive number")?,
            "--runs" => runs = value().ok_or("--runs takes a positive number")?,
            "--dim" => dims = vec![value().ok_or("--dim takes a positive number")?],
            _ => return Err(format!("unknown option {arg}: expected --n N, --runs R or --dim D").into()),
        }
    }
    println!("Gaussian sum, M = N = {n}, median of {runs} calls, Gpairs/s (CPU: {})", keops::cpu_simd());
    println!("{:>5} {:>10} {:>10} {:>8} {:>14}", "D", "compiled", "D = _", "ratio", "first call");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    for d in dims {
        let g = [1.0 / d as f32];
        let x: Vec<f32> = (0..n * d).map(|_| uniform()).collect();
        let y: Vec<f32> = (0..n * d).map(|_| uniform()).collect();
        let b: Vec<f32> = (0..n).map(|_| uniform() - 0.5).collect();
        let inputs = [&g[..], &x, &y, &b];
        let start = Instant::now();
        let k = gaussian(d)?;
        let first = start.elapsed().as_secs_f64();
        let out = k.eval_flat(&inputs)?;
        for i in [0, n / 2, n - 1] {
            let want: f64 = (0..n)
                .map(|j| {
                    let d2: f64 = (0..d).map(|c| (x[i * d + c] as f64 - y[j * d + c] as f64).powi(2)).sum();
                    (-(g[0] as f64) * d2).exp() * b[j] as f64
                })
                .sum();
            let err = (out[i] as f64 - want).abs();
            if err > 1e-3 * (1.0 + want.abs()) {
                return Err(format!("D = {d}, row {i}: {} against {want}", out[i]).into());
            }
        }
        let pairs = (n * n) as f64 / 1e9;
        let dynamic = pairs / median_seconds(runs, || k.eval_flat(&inputs))?;
        let (fixed, ratio) = match compiled(d, &inputs) {
            Some(_) => {
                let fixed =
                    pairs / median_seconds(runs, || compiled(d, &inputs).expect("a compiled dimension"))?;
                (format!("{fixed:.3}"), format!("{:.2}", dynamic / fixed))
            }
            None => ("-".into(), "-".into()),
        };
        println!("{d:>5} {fixed:>10} {dynamic:>10.3} {ratio:>8} {:>12.1} ms", first * 1e3);
    }
    Ok(())
}
