//! The CUDA backend against the CPU backend: every reduction kind, f32 and f64, both axes,
//! sizes that take the one-launch and the split (2D) schemes, and gradients.
//!
//! Without a usable CUDA device these print `SKIPPED: no CUDA device` and pass, unless
//! `KEOPS_REQUIRE_GPU=1` is set, which makes a missing device a failure (for runs on GPU
//! machines). What can be checked without a device is checked too: `Auto` falls back to the CPU
//! and an explicit `Cuda(n)` is `BackendUnavailable` with the reason.

mod common;

use common::random_inputs;
use keops::{Backend, Error, Index, Kernel, KernelInfo, keops};

keops! {
    struct SumJ = |x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 2], g: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j;
    struct SumI = |x_i: [f64; 3], y_j: [f64; 3], b_i: f64| sum_i exp(-sqdist(x_i, y_j)) * b_i;
    struct MinJ = |x_i: [f32; 3], y_j: [f32; 3]| min_j sqdist(x_i, y_j);
    struct MaxI = |x_i: [f64; 2], y_j: [f64; 2]| max_i x_i * y_j;
    struct ArgMinJ = |x_i: [f64; 3], y_j: [f64; 3]| argmin_j sqdist(x_i, y_j);
    struct ArgMaxI = |x_i: [f32; 2], y_j: [f32; 2]| argmax_i dot(x_i, y_j);
    struct MinArgMinI = |x_i: [f32; 4], y_j: [f32; 4]| min_argmin_i sin(x_i + y_j);
    struct MaxArgMaxJ = |x_i: [f64; 2], y_j: [f64; 2]| max_argmax_j x_i * y_j;
    struct KMinJ = |x_i: [f32; 3], y_j: [f32; 3]| kmin_j::<5> sqdist(x_i, y_j);
    struct ArgKMinI = |x_i: [f64; 3], y_j: [f64; 3]| argkmin_i::<3> sqdist(x_i, y_j);
    struct KMinArgKMinJ = |x_i: [f32; 2], y_j: [f32; 2]| kmin_argkmin_j::<10> sqdist(x_i, y_j);
    struct LogSumExpJ = |x_i: [f32; 3], y_j: [f32; 3], g: f32| logsumexp_j - g * sqdist(x_i, y_j);
    struct LogSumExpI = |x_i: [f64; 2], y_j: [f64; 2], w_i: f64| logsumexp_i(-sqdist(x_i, y_j), 2.0 + w_i);
    struct SoftMaxJ = |x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 2]| sumsoftmaxweight_j(-sqdist(x_i, y_j), b_j);
    struct SoftMaxI = |x_i: [f32; 2], y_j: [f32; 2], b_i: [f32; 3]| sumsoftmaxweight_i(-sqdist(x_i, y_j), b_i);
}

/// Whether CUDA device 0 is usable; prints why not, and fails under `KEOPS_REQUIRE_GPU=1`.
fn device() -> bool {
    match Backend::Cuda(0).active() {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("KEOPS_REQUIRE_GPU").is_ok_and(|v| v.trim() == "1") {
                panic!("KEOPS_REQUIRE_GPU=1 but there is no usable CUDA device: {e}");
            }
            println!("SKIPPED: no CUDA device ({e})");
            false
        }
    }
}

/// (rows of i, rows of j): empty, tiny, odd sizes, few output rows (the split scheme), many
/// output rows (one launch on any device).
const SIZES: [(usize, usize); 8] =
    [(0, 5), (5, 0), (1, 1), (37, 1000), (3, 20_000), (1000, 257), (20_000, 3), (70_000, 40)];

/// `gpu` equals `cpu` to `rtol` (relative to the values' scale); infinities and NaNs exactly.
fn assert_close<T: Copy + Into<f64>>(gpu: &[T], cpu: &[T], rtol: f64, what: &str) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let scale = cpu.iter().map(|&c| c.into().abs()).filter(|c| c.is_finite()).fold(1.0, f64::max);
    for (k, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
        let (g, c) = (g.into(), c.into());
        let ok = if c.is_finite() {
            (g - c).abs() <= rtol * scale.max(c.abs())
        } else {
            g == c || (g.is_nan() && c.is_nan())
        };
        assert!(ok, "{what}: element {k}: GPU {g}, CPU {c}");
    }
}

fn tolerance(info: &KernelInfo) -> f64 {
    if info.dtype == "f32" { 1e-5 } else { 1e-12 }
}

/// `eval_flat` on the GPU and on the CPU, at every size. Indices (the tail of the flat output)
/// must agree exactly: formula values are computed identically, and ties go to the lowest index.
fn forward<K: Kernel>(gpu: &K, cpu: &K, name: &str)
where
    K::T: From<f32> + Into<f64>,
{
    let info = cpu.info();
    assert_eq!(gpu.backend(), Backend::Cuda(0));
    for (s, &(m, n)) in SIZES.iter().enumerate() {
        let x = random_inputs(cpu, m, n, -1.0, 1.0, s as u64);
        let (g, c) = (gpu.eval_flat(&x).unwrap(), cpu.eval_flat(&x).unwrap());
        let rows = if info.reduced == Index::J { m } else { n };
        let values = rows * info.value_width;
        let what = format!("{name} ({}) at {m} x {n}", info.formula);
        assert_close(&g[..values], &c[..values], tolerance(&info), &what);
        let (gi, ci): (Vec<f64>, Vec<f64>) = (
            g[values..].iter().map(|&v| v.into()).collect(),
            c[values..].iter().map(|&v| v.into()).collect(),
        );
        assert_eq!(gi, ci, "{what}: indices");
    }
}

/// `grad_flat` with respect to every input, on the GPU and on the CPU.
fn backward<K: Kernel>(gpu: &K, cpu: &K, name: &str)
where
    K::T: From<f32> + Into<f64>,
{
    let info = cpu.info();
    for (s, &(m, n)) in [(37, 1000), (3, 20_000), (2000, 300)].iter().enumerate() {
        let x = random_inputs(cpu, m, n, -1.0, 1.0, 100 + s as u64);
        let rows = if info.reduced == Index::J { m } else { n };
        let e: Vec<K::T> =
            (0..rows * info.value_width).map(|k| K::T::from(((k % 7) as f32 - 3.0) / 4.0)).collect();
        for pos in 0..info.vars.len() {
            let what = format!("{name}: gradient {pos} at {m} x {n}");
            let (g, c) = (gpu.grad_flat(pos, &x, &e).unwrap(), cpu.grad_flat(pos, &x, &e).unwrap());
            // Gradients sum many terms in different orders; parameters sum over all rows too.
            assert_close(&g, &c, 100.0 * tolerance(&info), &what);
        }
    }
}

/// `check(gpu, cpu, name)` for each kernel type: the kernel on device 0 and on the CPU.
macro_rules! on_both {
    ($check:ident: $($k:ident),* $(,)?) => {
        $($check(&$k::new().on(Backend::Cuda(0)), &$k::new().on(Backend::Cpu), stringify!($k));)*
    };
}

#[test]
fn every_reduction_matches_the_cpu() {
    if !device() {
        return;
    }
    on_both!(forward: SumJ, SumI, MinJ, MaxI, ArgMinJ, ArgMaxI, MinArgMinI, MaxArgMaxJ, KMinJ, ArgKMinI);
    on_both!(forward: KMinArgKMinJ, LogSumExpJ, LogSumExpI, SoftMaxJ, SoftMaxI);
}

#[test]
fn gradients_match_the_cpu() {
    if !device() {
        return;
    }
    on_both!(backward: SumJ, SumI, LogSumExpJ, SoftMaxJ);
    // A selection: its auxiliary argmin runs on the GPU, the derivative at the selected pairs
    // on the CPU.
    on_both!(backward: MinJ);
}

#[test]
fn typed_calls_and_the_module_cache() {
    if !device() {
        return;
    }
    let k = SumJ::new().on(Backend::Cuda(0));
    let x = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
    let y = [[0.0, 0.0, 0.0]];
    let b = [[1.0, 2.0]];
    // Twice: the second call finds the module loaded.
    for _ in 0..2 {
        let a = k.eval(&x, &y, &b, 1.0).unwrap();
        let want = SumJ::new().on(Backend::Cpu).eval(&x, &y, &b, 1.0).unwrap();
        assert_close(a.as_flattened(), want.as_flattened(), 1e-6, "typed eval");
    }
    let (v, i) = KMinArgKMinJ::new().on(Backend::Cuda(0)).eval(&[[0.0, 0.0]], &[[1.0, 0.0]; 12]).unwrap();
    assert_eq!(v, vec![[1.0; 10]]);
    assert_eq!(i, vec![[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
}

/// Without a device (this test does nothing where there is one), `Auto` runs on the CPU with
/// the CPU's results, and every explicit device is unavailable with the reason.
#[test]
fn without_a_device_auto_is_the_cpu_and_cuda_an_error() {
    if Backend::Cuda(0).active().is_ok() {
        return;
    }
    assert_eq!(Backend::Auto.active(), Ok(Backend::Cpu));
    let x = random_inputs(&SumJ::new(), 50, 60, -1.0, 1.0, 1);
    assert_eq!(SumJ::new().eval_flat(&x).unwrap(), SumJ::new().on(Backend::Cpu).eval_flat(&x).unwrap());
    for n in [0, 3] {
        let err = SumJ::new().on(Backend::Cuda(n)).eval_flat(&x).unwrap_err();
        let Error::BackendUnavailable { backend, reason } = &err else { panic!("{err:?}") };
        assert_eq!(backend, &format!("Cuda({n})"));
        if cfg!(feature = "cuda") {
            let known = [
                "no CUDA driver was found",
                "the CUDA driver found no device",
                "there is no CUDA device",
                "could not be initialised",
            ];
            assert!(known.iter().any(|k| reason.contains(k)), "{reason}");
        } else {
            assert!(reason.contains("`cuda` feature"), "{reason}");
        }
        println!("Cuda({n}): {err}");
    }
}

/// Device-resident inputs and outputs give the host path's results, for values and indices,
/// and an output reused across a loop follows inputs updated on the device.
#[cfg(feature = "cuda")]
#[test]
fn device_resident_inputs_and_outputs() {
    use keops::cuda::DeviceArray;
    if !device() {
        return;
    }
    let upload = |x: &[Vec<f32>]| -> Vec<DeviceArray<f32>> {
        x.iter().map(|v| DeviceArray::from_host(0, v).unwrap()).collect()
    };
    for (m, n) in [(37, 1000), (3, 20_000), (20_000, 3), (0, 5), (5, 0)] {
        let k = SumJ::new();
        let x = random_inputs(&k, m, n, -1.0, 1.0, 7);
        let gpu_x = upload(&x);
        let refs: Vec<&DeviceArray<f32>> = gpu_x.iter().collect();
        let out = k.eval_device(&refs).unwrap();
        let want = k.on(Backend::Cpu).eval_flat(&x).unwrap();
        assert_close(&out.values.to_host().unwrap(), &want, 1e-5, &format!("SumJ on device at {m} x {n}"));
        assert!(out.indices.is_empty());

        let k = KMinArgKMinJ::new();
        let x = random_inputs(&k, m, n, -1.0, 1.0, 8);
        let gpu_x = upload(&x);
        let refs: Vec<&DeviceArray<f32>> = gpu_x.iter().collect();
        let out = k.eval_device(&refs).unwrap();
        let want = k.on(Backend::Cpu).eval_flat(&x).unwrap();
        let values = out.values.to_host().unwrap();
        let indices: Vec<f32> = out.indices.to_host().unwrap().into_iter().map(|i| i as f32).collect();
        assert_eq!([values, indices].concat(), want, "KMinArgKMinJ on device at {m} x {n}");
    }

    // A loop: the output's buffers are reused while the inputs change on the device.
    let k = SumJ::new();
    let mut x = random_inputs(&k, 500, 700, -1.0, 1.0, 9);
    let mut gpu_x = upload(&x);
    let mut out = k.eval_device(&gpu_x.iter().collect::<Vec<_>>()).unwrap();
    for step in 0..3 {
        x[0].iter_mut().for_each(|v| *v *= 0.9);
        gpu_x[0].copy_from_host(&x[0]).unwrap();
        k.eval_device_into(&gpu_x.iter().collect::<Vec<_>>(), &mut out).unwrap();
        let want = k.on(Backend::Cpu).eval_flat(&x).unwrap();
        assert_close(&out.values.to_host().unwrap(), &want, 1e-5, &format!("loop step {step}"));
    }

    // Misuse is an error, not a panic.
    let refs: Vec<&DeviceArray<f32>> = gpu_x.iter().collect();
    let err = k.eval_device(&refs[..2]).unwrap_err();
    assert_eq!(err, Error::InputCount { expected: 4, got: 2 });
    let err = k.on(Backend::Cpu).eval_device(&refs).unwrap_err();
    assert!(matches!(err, Error::BackendUnavailable { .. }), "{err:?}");
    if keops::Backend::Cuda(1).active().is_ok() {
        let other = DeviceArray::from_host(1, &x[1]).unwrap();
        let err = k.eval_device(&[refs[0], &other, refs[2], refs[3]]).unwrap_err();
        assert_eq!(err, Error::WrongDevice { var: "y", device: 1, expected: 0 });
    }
    let err = gpu_x[0].copy_from_host(&[1.0; 4]).unwrap_err();
    assert!(err.to_string().contains("cannot be copied"), "{err}");
}

/// Without a device, device-resident arrays cannot be made, and say why.
#[cfg(feature = "cuda")]
#[test]
fn without_a_device_device_arrays_are_unavailable() {
    if Backend::Cuda(0).active().is_ok() {
        return;
    }
    let err = keops::cuda::DeviceArray::<f32>::from_host(0, &[1.0, 2.0]).unwrap_err();
    let Error::BackendUnavailable { backend, .. } = &err else { panic!("{err:?}") };
    assert_eq!(backend, "Cuda(0)");
    assert!(keops::cuda::DeviceArray::<u32>::zeros(0, 3).is_err());
    assert!(keops::cuda::stream(0).is_err());
    println!("DeviceArray::from_host(0, ..): {err}");
}

/// Kernels with dimensions given at run time (feature `dynamic`): the PTX generated when a call
/// first needs it, at D = 3, 16 and 64, against the CPU's interpreter.
#[cfg(feature = "dynamic")]
#[test]
fn dimensions_given_at_run_time_match_the_cpu() {
    if !device() {
        return;
    }
    let sum = keops!(|x_i: [f32; _], y_j: [f32; _], b_j: [f32; _]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let knn = keops!(|x_i: [f64; _], y_j: [f64; _]| argkmin_j::<3> sqdist(x_i, y_j));
    for d in [3, 16, 64] {
        let (sum, knn) = (sum.with_dims(&[d, d, 2]), knn.with_dims(&[d, d]));
        forward(&*sum.on(Backend::Cuda(0)), &*sum.on(Backend::Cpu), &format!("sum, D = {d}"));
        forward(&*knn.on(Backend::Cuda(0)), &*knn.on(Backend::Cpu), &format!("argkmin, D = {d}"));
    }
}
