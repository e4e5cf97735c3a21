//! A Vicsek swarm: every particle moves at constant speed and turns towards the mean heading of
//! its neighbours within a radius (periodic box), plus noise. The neighbour sums are one
//! reduction per step; frames are written as PNG images into `./swarm-out/`.
//!
//! On a CPU each step reduces only the pairs of grid clusters that can hold neighbours
//! (`keops::ranges::CutOff::periodic`, rebuilt every step as the particles move); on a GPU, or
//! with `--dense`, every pair. The last step is checked against the dense reduction, which is
//! timed too.
//!
//! `cargo run --release --example swarm [-- N [STEPS]] [--dense | --cutoff]` (100,000 particles
//! by default).

mod common;

use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use common::Rng;
use indicatif::{ProgressBar, ProgressStyle};
use keops::ranges::CutOff;

const RADIUS: f32 = 0.02;
const SPEED: f32 = 0.003;
const NOISE: f32 = 0.3;
const FRAME_EVERY: usize = 10;
const PIXELS: usize = 512;

/// Runs `steps` steps of `n` particles, each step's neighbour sums over the pairs of a cut-off
/// or over all pairs; returns the polar order parameter (|mean heading|, 0 for disorder, 1 for
/// a flock) at the start and at the end.
pub fn run(
    n: usize,
    steps: usize,
    cutoff: bool,
    frames: Option<&str>,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let mut rng = Rng::new(2);
    let mut x: Vec<[f32; 2]> = (0..n).map(|_| [rng.unit_f32(), rng.unit_f32()]).collect();
    let mut theta: Vec<f32> = (0..n).map(|_| std::f32::consts::TAU * rng.unit_f32()).collect();
    // The heading vectors of the neighbours, summed: `mod(d, 1, -0.5)` is the periodic
    // displacement, `step(r^2 - |d|^2)` selects the neighbours (the particle itself included).
    let neighbours = keops::keops!(|x_i: [f32; 2], y_j: [f32; 2], u_j: [f32; 2], r2: f32| sum_j(
        step(r2 - sqnorm2(mod(x_i - y_j, 1.0, -0.5))) * u_j
    ));
    if let Some(dir) = frames {
        std::fs::create_dir_all(dir)?;
    }
    let order = |theta: &[f32]| {
        let (c, s) = theta.iter().fold((0f64, 0f64), |(c, s), t| (c + t.cos() as f64, s + t.sin() as f64));
        (c * c + s * s).sqrt() / theta.len() as f64
    };
    let first = order(&theta);
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} steps, {elapsed} [{msg}]")?);
    let start = Instant::now();
    let mut u: Vec<[f32; 2]> = Vec::new();
    let mut pairs = 0.0;
    let sums_of = |x: &[[f32; 2]], u: &[[f32; 2]], pairs: &mut f64| -> keops::Result<Vec<[f32; 2]>> {
        let (x, u) = (x.as_flattened(), u.as_flattened());
        let flat = if cutoff {
            // The particles move: their clusters and ranges are made again every step.
            let near = CutOff::periodic(x, x, 2, RADIUS, 1.0)?;
            *pairs += near.pairs() as f64;
            near.eval_flat(&neighbours, &[x, x, u, &[RADIUS * RADIUS]])?
        } else {
            *pairs += (n * n) as f64;
            neighbours.eval_flat(&[x, x, u, &[RADIUS * RADIUS]])?
        };
        Ok(flat.chunks(2).map(|s| [s[0], s[1]]).collect())
    };
    for step in 0..steps {
        u = theta.iter().map(|t| [t.cos(), t.sin()]).collect();
        let sums = sums_of(&x, &u, &mut pairs)?;
        for i in 0..n {
            theta[i] = sums[i][1].atan2(sums[i][0]) + NOISE * (rng.unit_f32() - 0.5);
            x[i][0] = (x[i][0] + SPEED * theta[i].cos()).rem_euclid(1.0);
            x[i][1] = (x[i][1] + SPEED * theta[i].sin()).rem_euclid(1.0);
        }
        if let Some(dir) = frames
            && step % FRAME_EVERY == 0
        {
            write_frame(&format!("{dir}/frame-{:04}.png", step / FRAME_EVERY), &x, &theta)?;
        }
        bar.set_message(format!("order {:.3}", order(&theta)));
        bar.inc(1);
    }
    bar.finish();
    let seconds = start.elapsed().as_secs_f64();
    let last = order(&theta);
    println!(
        "Vicsek swarm, {n} particles, {steps} steps on {}, {}: {seconds:.2} s, {:.1} ms a step; order parameter {first:.3} -> {last:.3}",
        common::backend(),
        if cutoff {
            format!("cut-off ({:.2} % of the pairs)", 100.0 * pairs / (steps * n * n).max(1) as f64)
        } else {
            "dense".to_string()
        },
        1e3 * seconds / steps.max(1) as f64,
    );

    // Check the last step's neighbour sums against the dense reduction (timed) and, for a few
    // particles, against a direct search, on the positions and headings that step used.
    if steps > 0 {
        let before: Vec<[f32; 2]> = x
            .iter()
            .zip(&theta)
            .map(|(p, t)| {
                [(p[0] - SPEED * t.cos()).rem_euclid(1.0), (p[1] - SPEED * t.sin()).rem_euclid(1.0)]
            })
            .collect();
        let last = sums_of(&before, &u, &mut pairs)?;
        let start = Instant::now();
        let sums = neighbours.eval(&before, &before, &u, RADIUS * RADIUS)?;
        let dense_seconds = start.elapsed().as_secs_f64();
        let worst = last
            .iter()
            .zip(&sums)
            .flat_map(|(a, b)| [a[0] - b[0], a[1] - b[1]])
            .fold(0f32, |w, d| w.max(d.abs()));
        assert!(worst <= 1e-3, "the cut-off changed the neighbour sums by {worst}");
        println!(
            "last step against the dense reduction: largest difference {worst:.1e}; a dense step takes {:.1} ms{}",
            1e3 * dense_seconds,
            if cutoff {
                format!(", {:.0} x a cut-off step", dense_seconds * steps as f64 / seconds)
            } else {
                String::new()
            }
        );
        for i in (0..n).step_by((n / 20).max(1)) {
            let mut direct = [0f64; 2];
            for j in 0..n {
                let d: Vec<f32> =
                    (0..2).map(|c| (before[i][c] - before[j][c] + 0.5).rem_euclid(1.0) - 0.5).collect();
                if d[0] * d[0] + d[1] * d[1] <= RADIUS * RADIUS {
                    direct[0] += u[j][0] as f64;
                    direct[1] += u[j][1] as f64;
                }
            }
            for c in 0..2 {
                // A neighbour exactly at the radius may fall on either side after rounding.
                assert!((sums[i][c] as f64 - direct[c]).abs() <= 1.0 + 1e-3, "particle {i}");
            }
        }
        println!("checked neighbour sums of 20 particles against a direct search: ok");
    }
    Ok((first, last))
}

/// A frame: each particle a pixel coloured by its heading.
fn write_frame(path: &str, x: &[[f32; 2]], theta: &[f32]) -> Result<(), Box<dyn std::error::Error>> {
    let mut pixels = vec![16u8; PIXELS * PIXELS * 3];
    for (p, t) in x.iter().zip(theta) {
        let (col, row) = ((p[0] * PIXELS as f32) as usize, (p[1] * PIXELS as f32) as usize);
        let k = 3 * (row.min(PIXELS - 1) * PIXELS + col.min(PIXELS - 1));
        let hue = t.rem_euclid(std::f32::consts::TAU) / std::f32::consts::TAU;
        pixels[k..k + 3].copy_from_slice(&hue_to_rgb(hue));
    }
    let mut encoder = png::Encoder::new(BufWriter::new(File::create(path)?), PIXELS as u32, PIXELS as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    Ok(())
}

/// A saturated colour of hue `h` in `[0, 1)`.
fn hue_to_rgb(h: f32) -> [u8; 3] {
    let channel = |offset: f32| {
        let d = ((h + offset).rem_euclid(1.0) * 6.0 - 3.0).abs();
        ((d - 1.0).clamp(0.0, 1.0) * 255.0) as u8
    };
    [channel(0.0), channel(2.0 / 3.0), channel(1.0 / 3.0)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let n = numbers.first().copied().unwrap_or(100_000);
    let steps = numbers.get(1).copied().unwrap_or(100);
    let on_gpu = matches!(keops::Backend::Auto.active(), Ok(keops::Backend::Cuda(_)));
    // Ranges are one call on a CPU, but one launch per block of rows on a GPU, which does not
    // pay yet.
    let cutoff = args.iter().any(|a| a == "--cutoff") || (!on_gpu && !args.iter().any(|a| a == "--dense"));
    let (first, last) = run(n, steps, cutoff, Some("swarm-out"))?;
    println!("frames written to ./swarm-out/");
    assert!(last > first, "the swarm did not align");
    Ok(())
}

#[test]
fn small() {
    for cutoff in [false, true] {
        let (first, last) = run(600, 30, cutoff, None).unwrap();
        assert!(last > first, "{first} -> {last}");
    }
}
