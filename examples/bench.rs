//! The standard benchmark cases, timed on every backend this machine has.
//!
//! `cargo run --release --example bench` times each case at M = N = 100,000 (median of 5 runs
//! after a warm-up) and prints a table of pairs per second. Options: `--n 20000` for another
//! size, `--runs 3` for another number of runs, `--case gauss` (repeatable) for some cases only.
//! The cases are those of `../shared/bench/pykeops_bench.py` (and `benches/pykeops_cases.py` for
//! the ones it lacks), so the two can be put side by side: see BENCHMARKS.md.

use std::time::Instant;

use keops::Backend;

/// A benchmark case: its name, what it computes, and how to run it once on a backend.
struct Case {
    name: &'static str,
    what: &'static str,
    run: fn(&Inputs, Backend) -> keops::Result<f64>,
}

/// Random inputs shared by the cases (f32, and f64 copies).
struct Inputs {
    n: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    b: Vec<f32>,
    e: Vec<f32>,
    h: Vec<f32>,
    x64: Vec<f32>,
    y64: Vec<f32>,
    wide: [Vec<f64>; 3],
}

fn gauss(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let a = k.on(backend).eval_flat(&[&[2.0][..], &i.x, &i.y, &i.b])?;
    Ok(a.iter().map(|&v| f64::from(v)).sum())
}

fn grad(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let dx = k.on(backend).grad_flat(1, &[&[2.0][..], &i.x, &i.y, &i.b], &i.e)?;
    Ok(dx.iter().map(|&v| f64::from(v)).sum())
}

fn argkmin(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3]| argkmin_j::<10> sqdist(x_i, y_j));
    let nn = k.on(backend).eval_flat(&[&i.x, &i.y])?;
    Ok(nn.iter().map(|&v| f64::from(v)).sum())
}

fn lse(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|ie: f32, x_i: [f32; 3], y_j: [f32; 3], h_j: f32| logsumexp_j h_j - ie * sqdist(x_i, y_j));
    let a = k.on(backend).eval_flat(&[&[10.0][..], &i.x, &i.y, &i.h])?;
    Ok(a.iter().map(|&v| f64::from(v)).sum())
}

fn gauss_d64(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 64], y_j: [f32; 64], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let a = k.on(backend).eval_flat(&[&[0.05][..], &i.x64, &i.y64, &i.b])?;
    Ok(a.iter().map(|&v| f64::from(v)).sum())
}

fn gauss_f64(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f64, x_i: [f64; 3], y_j: [f64; 3], b_j: f64| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let [x, y, b] = &i.wide;
    let a = k.on(backend).eval_flat(&[&[2.0][..], x, y, b])?;
    Ok(a.iter().sum())
}

const CASES: &[Case] = &[
    Case { name: "gauss", what: "Gaussian kernel sum, D=3", run: gauss },
    Case { name: "grad", what: "its gradient wrt x, D=3", run: grad },
    Case { name: "argkmin", what: "ArgKMin K=10, D=3", run: argkmin },
    Case { name: "lse", what: "LogSumExp, D=3", run: lse },
    Case { name: "gauss64", what: "Gaussian kernel sum, D=64", run: gauss_d64 },
    Case { name: "gauss_f64", what: "Gaussian kernel sum, D=3, f64", run: gauss_f64 },
];

/// SplitMix64 normals (Box-Muller), to keep the example dependency-free.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normals(&mut self, count: usize) -> Vec<f32> {
        (0..count)
            .map(|_| {
                let (u, v) = (self.uniform().max(1e-300), self.uniform());
                ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
            })
            .collect()
    }
}

fn main() -> keops::Result<()> {
    let mut n = 100_000usize;
    let mut runs = 5usize;
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--n" => n = value().parse::<f64>().expect("--n takes a number") as usize,
            "--runs" => runs = value().parse().expect("--runs takes a number"),
            "--case" => only.push(value()),
            "--help" | "-h" => {
                println!("usage: bench [--n N] [--runs R] [--case NAME]...");
                println!("cases: {}", CASES.iter().map(|c| c.name).collect::<Vec<_>>().join(", "));
                return Ok(());
            }
            other => {
                eprintln!("unknown option {other}: expected --n N, --runs R, --case NAME (see --help)");
                std::process::exit(2);
            }
        }
    }
    let mut rng = Rng(0);
    let (x, y, b) = (rng.normals(3 * n), rng.normals(3 * n), rng.normals(n));
    let wide = |v: &[f32]| v.iter().map(|&t| f64::from(t)).collect::<Vec<f64>>();
    let inputs = Inputs {
        n,
        wide: [wide(&x), wide(&y), wide(&b)],
        x,
        y,
        b,
        e: rng.normals(n),
        h: rng.normals(n),
        x64: rng.normals(64 * n),
        y64: rng.normals(64 * n),
    };
    let mut backends = vec![Backend::Cpu];
    if Backend::Cuda(0).active().is_ok() {
        backends.push(Backend::Cuda(0));
    }
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    println!(
        "M = N = {n}, median of {runs} runs after a warm-up; CPU: {threads} threads, SIMD {}",
        keops::cpu_simd()
    );
    println!();
    print!("| case | what |");
    for b in &backends {
        print!(" {b} (Gpairs/s) | {b} median (s) |");
    }
    println!();
    print!("|---|---|");
    for _ in &backends {
        print!("---|---|");
    }
    println!();
    for case in CASES.iter().filter(|c| only.is_empty() || only.iter().any(|o| o == c.name)) {
        print!("| {} | {} |", case.name, case.what);
        for &backend in &backends {
            (case.run)(&inputs, backend)?;
            let mut times: Vec<f64> = (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    (case.run)(&inputs, backend).map(|_| start.elapsed().as_secs_f64())
                })
                .collect::<keops::Result<_>>()?;
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            let pairs = (inputs.n * inputs.n) as f64;
            print!(" {:.2} | {median:.4} |", pairs / median / 1e9);
        }
        println!();
    }
    Ok(())
}
