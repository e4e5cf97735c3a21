//! The standard benchmark cases, timed on every backend this machine has.
//!
//! `cargo run --release --example bench` times each case at M = N = 100,000 (median of 5 runs
//! after a warm-up) and prints a table of pairs per second. Options: `--n 20000` for another
//! size, `--runs 3` for another number of runs, `--case gauss` (repeatable) for some cases only,
//! `--extra` to add more formulas (kernels, N-body, attention, selections) to the standard six,
//! `--backend cpu` or `--backend cuda` for one backend only (by default, the CPU and the GPU when
//! one is present).
//! The cases are those of `../shared/bench/pykeops_bench.py` (and `benches/pykeops_cases.py` for
//! the ones it lacks), so the two can be put side by side: see BENCHMARKS.md.

use std::time::Instant;

use keops::Backend;
use keops_testkit::Rng;

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
    /// Three weights per reduced row.
    b3: Vec<f32>,
    /// Positive masses.
    mass: Vec<f32>,
    /// Queries, keys and values of dimension 16.
    qkv: [Vec<f32>; 3],
}

fn gauss(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&[2.0][..], &i.x, &i.y, &i.b]))
}

/// `gauss` with the GPU's other ways of computing `exp` (the CPU's figures are `gauss`'s).
fn gauss_fast(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(#[gpu_math = "fast"] |g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&[2.0][..], &i.x, &i.y, &i.b]))
}

fn gauss_reproducible(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(#[gpu_math = "reproducible"] |g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&[2.0][..], &i.x, &i.y, &i.b]))
}

fn grad(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).grad_flat(1, &[&[2.0][..], &i.x, &i.y, &i.b], &i.e))
}

fn argkmin(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3]| argkmin_j::<10> sqdist(x_i, y_j));
    total(k.on(backend).eval_flat(&[&i.x, &i.y]))
}

fn lse(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|ie: f32, x_i: [f32; 3], y_j: [f32; 3], h_j: f32| logsumexp_j h_j - ie * sqdist(x_i, y_j));
    total(k.on(backend).eval_flat(&[&[10.0][..], &i.x, &i.y, &i.h]))
}

fn gauss_d64(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 64], y_j: [f32; 64], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&[0.05][..], &i.x64, &i.y64, &i.b]))
}

/// The gradient of [`gauss_d64`]'s sum with respect to input `pos`: 64 components, each summed
/// where the kernel's loop computes it.
fn grad_d64(i: &Inputs, backend: Backend, pos: usize) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 64], y_j: [f32; 64], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).grad_flat(pos, &[&[0.05][..], &i.x64, &i.y64, &i.b], &i.e))
}

fn grad64(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    grad_d64(i, backend, 1)
}

fn grad_y64(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    grad_d64(i, backend, 2)
}

fn gauss_f64(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f64, x_i: [f64; 3], y_j: [f64; 3], b_j: f64| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let [x, y, b] = &i.wide;
    let a = k.on(backend).eval_flat(&[&[2.0][..], x, y, b])?;
    Ok(a.iter().sum())
}

/// The Gaussian sum with a narrow kernel (`g = 20`): most terms underflow, some to subnormals.
fn gauss_sharp(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&[20.0][..], &i.x, &i.y, &i.b]))
}

fn grad_sharp(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).grad_flat(1, &[&[20.0][..], &i.x, &i.y, &i.b], &i.e))
}

fn laplace(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-norm2(x_i - y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&i.x, &i.y, &i.b]))
}

fn cauchy(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j inv(1.0 + sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&i.x, &i.y, &i.b]))
}

fn matern32(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j(
        (1.0 + norm2(x_i - y_j)) * exp(-norm2(x_i - y_j)) * b_j
    ));
    total(k.on(backend).eval_flat(&[&i.x, &i.y, &i.b]))
}

fn periodic(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-2.0 * sqnorm2(sin(x_i - y_j))) * b_j);
    total(k.on(backend).eval_flat(&[&i.x, &i.y, &i.b]))
}

fn gauss_vec(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 3]| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&[2.0][..], &i.x, &i.y, &i.b3]))
}

fn gauss_vec16(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 16]| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).eval_flat(&[&[2.0][..], &i.x, &i.y, &i.qkv[2]]))
}

fn gauss_i(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_i: f32| sum_i exp(-g * sqdist(x_i, y_j)) * b_i);
    total(k.on(backend).eval_flat(&[&[2.0][..], &i.x, &i.y, &i.b]))
}

fn grad_y(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    total(k.on(backend).grad_flat(2, &[&[2.0][..], &i.x, &i.y, &i.b], &i.e))
}

fn nbody(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], m_j: f32, e2: f32| sum_j(
        (y_j - x_i) * m_j * pow(rsqrt(sqdist(x_i, y_j) + e2), 3)
    ));
    total(k.on(backend).eval_flat(&[&i.x, &i.y, &i.mass, &[0.01][..]]))
}

fn argmin(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3]| argmin_j sqdist(x_i, y_j));
    total(k.on(backend).eval_flat(&[&i.x, &i.y]))
}

fn softmax(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 3]| sumsoftmaxweight_j(
        -2.0 * sqdist(x_i, y_j),
        b_j
    ));
    total(k.on(backend).eval_flat(&[&i.x, &i.y, &i.b3]))
}

/// The soft-max at a sharp temperature: most exponents fall far below the maximum.
fn softmax_sharp(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 3]| sumsoftmaxweight_j(
        -20.0 * sqdist(x_i, y_j),
        b_j
    ));
    total(k.on(backend).eval_flat(&[&i.x, &i.y, &i.b3]))
}

fn attention(i: &Inputs, backend: Backend) -> keops::Result<f64> {
    let k = keops::keops!(|q_i: [f32; 16], k_j: [f32; 16], v_j: [f32; 16], s: f32| sumsoftmaxweight_j(
        dot(q_i, k_j) * s,
        v_j
    ));
    let [q, key, v] = &i.qkv;
    total(k.on(backend).eval_flat(&[q, key, v, &[0.25][..]]))
}

/// The sum of an f32 output, so that the work cannot be optimised away.
fn total(out: keops::Result<Vec<f32>>) -> keops::Result<f64> {
    Ok(out?.iter().map(|&v| f64::from(v)).sum())
}

const CASES: &[Case] = &[
    Case { name: "gauss", what: "Gaussian kernel sum, D=3", run: gauss },
    Case { name: "grad", what: "its gradient wrt x, D=3", run: grad },
    Case { name: "argkmin", what: "ArgKMin K=10, D=3", run: argkmin },
    Case { name: "lse", what: "LogSumExp, D=3", run: lse },
    Case { name: "gauss64", what: "Gaussian kernel sum, D=64", run: gauss_d64 },
    Case { name: "gauss_f64", what: "Gaussian kernel sum, D=3, f64", run: gauss_f64 },
];

/// More formulas, run with `--extra` (`benches/pykeops_cases.py` has each of them).
const EXTRA: &[Case] = &[
    Case { name: "laplace", what: "Laplace kernel exp(-norm2(x-y)) sum, D=3", run: laplace },
    Case { name: "cauchy", what: "Cauchy kernel 1/(1+sqdist(x,y)) sum, D=3", run: cauchy },
    Case { name: "matern32", what: "Matern 3/2 kernel sum, D=3", run: matern32 },
    Case { name: "periodic", what: "exp(-2 sqnorm2(sin(x-y))) sum, D=3", run: periodic },
    Case { name: "gauss_vec", what: "Gaussian sum of 3-vectors, D=3", run: gauss_vec },
    Case { name: "gauss_vec16", what: "Gaussian sum of 16-vectors, D=3", run: gauss_vec16 },
    Case { name: "gauss_i", what: "Gaussian sum over i, D=3", run: gauss_i },
    Case { name: "grad_y", what: "Gaussian gradient wrt y, D=3", run: grad_y },
    Case { name: "grad64", what: "Gaussian gradient wrt x, D=64", run: grad64 },
    Case { name: "grad_y64", what: "Gaussian gradient wrt y, D=64", run: grad_y64 },
    Case { name: "nbody", what: "softened gravity (3-vector), D=3", run: nbody },
    Case { name: "argmin", what: "ArgMin, D=3", run: argmin },
    Case { name: "softmax", what: "SumSoftMaxWeight of 3-vectors, D=3", run: softmax },
    Case { name: "attention", what: "softmax attention, D=16", run: attention },
    Case { name: "gauss_sharp", what: "Gaussian kernel sum, g = 20, D=3", run: gauss_sharp },
    Case { name: "grad_sharp", what: "its gradient wrt x, g = 20, D=3", run: grad_sharp },
    Case { name: "softmax_sharp", what: "SumSoftMaxWeight at temperature 1/20, D=3", run: softmax_sharp },
    Case { name: "gauss_fast", what: "gauss with gpu_math = \"fast\"", run: gauss_fast },
    Case {
        name: "gauss_reproducible",
        what: "gauss with gpu_math = \"reproducible\"",
        run: gauss_reproducible,
    },
];

/// `count` standard normals (Box-Muller in f64, rounded to f32).
fn normals(rng: &mut Rng, count: usize) -> Vec<f32> {
    (0..count)
        .map(|_| {
            let (u, v) = (rng.unit().max(1e-300), rng.unit());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

fn main() -> keops::Result<()> {
    let mut n = 100_000usize;
    let mut runs = 5usize;
    let mut only: Vec<String> = Vec::new();
    let mut extra = false;
    let mut backend_only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--n" => n = value().parse::<f64>().expect("--n takes a number") as usize,
            "--runs" => runs = value().parse().expect("--runs takes a number"),
            "--case" => only.push(value()),
            "--extra" => extra = true,
            "--backend" => backend_only = Some(value()),
            "--help" | "-h" => {
                println!("usage: bench [--n N] [--runs R] [--case NAME]... [--extra] [--backend cpu|cuda]");
                println!("cases: {}", CASES.iter().map(|c| c.name).collect::<Vec<_>>().join(", "));
                println!("with --extra: {}", EXTRA.iter().map(|c| c.name).collect::<Vec<_>>().join(", "));
                return Ok(());
            }
            other => {
                eprintln!(
                    "unknown option {other}: expected --n N, --runs R, --case NAME, --extra, --backend cpu|cuda (see --help)"
                );
                std::process::exit(2);
            }
        }
    }
    let known = |o: &String| CASES.iter().chain(EXTRA).any(|c| c.name == o);
    if let Some(unknown) = only.iter().find(|o| !known(o)) {
        eprintln!("unknown case {unknown} (see --help)");
        std::process::exit(2);
    }
    let mut rng = Rng::new(0);
    let (x, y, b) = (normals(&mut rng, 3 * n), normals(&mut rng, 3 * n), normals(&mut rng, n));
    let wide = |v: &[f32]| v.iter().map(|&t| f64::from(t)).collect::<Vec<f64>>();
    let inputs = Inputs {
        n,
        wide: [wide(&x), wide(&y), wide(&b)],
        x,
        y,
        b,
        e: normals(&mut rng, n),
        h: normals(&mut rng, n),
        x64: normals(&mut rng, 64 * n),
        y64: normals(&mut rng, 64 * n),
        b3: normals(&mut rng, 3 * n),
        mass: normals(&mut rng, n).iter().map(|m| m.abs()).collect(),
        qkv: [normals(&mut rng, 16 * n), normals(&mut rng, 16 * n), normals(&mut rng, 16 * n)],
    };
    let backends = match backend_only.as_deref() {
        None if Backend::Cuda(0).active().is_ok() => vec![Backend::Cpu, Backend::Cuda(0)],
        None | Some("cpu") => vec![Backend::Cpu],
        Some("cuda") => {
            if let Err(e) = Backend::Cuda(0).active() {
                eprintln!("--backend cuda: {e}");
                std::process::exit(2);
            }
            vec![Backend::Cuda(0)]
        }
        Some(other) => {
            eprintln!("unknown backend {other}: expected cpu or cuda");
            std::process::exit(2);
        }
    };
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
    let named = |c: &&Case| only.iter().any(|o| o == c.name);
    let cases = CASES.iter().filter(|c| only.is_empty() || named(c));
    for case in cases.chain(EXTRA.iter().filter(|c| (extra && only.is_empty()) || named(c))) {
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
