//! The standard cases (those of `examples/bench.rs` and `../shared/bench/pykeops_bench.py`) at
//! M = N = 10,000 on the CPU: `cd benches && cargo bench` (add a case name to filter).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keops::{Backend, Kernel};
use keops_testkit::Rng;

const N: usize = 10_000;

/// Deterministic inputs in `[-1, 1)`.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| 2.0 * rng.unit_f32() - 1.0).collect()
}

fn bench<K: Kernel>(c: &mut Criterion, name: &str, k: K, run: impl Fn(&K) -> keops::Result<Vec<K::T>>) {
    let mut group = c.benchmark_group("cpu");
    group.sample_size(10);
    group.throughput(Throughput::Elements((N * N) as u64));
    group.bench_function(BenchmarkId::new(name, N), |b| b.iter(|| run(&k).unwrap()));
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let (x, y, b) = (values(3 * N, 1), values(3 * N, 2), values(N, 3));
    let (x64, y64) = (values(64 * N, 4), values(64 * N, 5));
    let wide = |v: &[f32]| v.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    let (xd, yd, bd) = (wide(&x), wide(&y), wide(&b));
    let g = [2.0f32];

    let gauss = keops::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j)
        .on(Backend::Cpu);
    bench(c, "gauss", gauss, |k| k.eval_flat(&[&g[..], &x, &y, &b]));
    bench(c, "grad", gauss, |k| k.grad_flat(1, &[&g[..], &x, &y, &b], &b));
    let argkmin =
        keops::keops!(|x_i: [f32; 3], y_j: [f32; 3]| argkmin_j::<10> sqdist(x_i, y_j)).on(Backend::Cpu);
    bench(c, "argkmin", argkmin, |k| k.eval_flat(&[&x, &y]));
    let lse = keops::keops!(|ie: f32, x_i: [f32; 3], y_j: [f32; 3], h_j: f32| logsumexp_j h_j - ie * sqdist(x_i, y_j))
        .on(Backend::Cpu);
    bench(c, "lse", lse, |k| k.eval_flat(&[&[10.0][..], &x, &y, &b]));
    let gauss64 =
        keops::keops!(|g: f32, x_i: [f32; 64], y_j: [f32; 64], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j)
            .on(Backend::Cpu);
    bench(c, "gauss64", gauss64, |k| k.eval_flat(&[&[0.05][..], &x64, &y64, &b]));
    let gauss_f64 = keops::keops!(|g: f64, x_i: [f64; 3], y_j: [f64; 3], b_j: f64| sum_j exp(-g * sqdist(x_i, y_j)) * b_j)
        .on(Backend::Cpu);
    bench(c, "gauss_f64", gauss_f64, |k| k.eval_flat(&[&[2.0][..], &xd, &yd, &bd]));
}

criterion_group!(benches, kernels);
criterion_main!(benches);
