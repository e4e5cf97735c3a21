//! The CUDA path of `compute`: launches a kernel's generated PTX module through `keops-gpu`.
//!
//! On a machine without a device it is never reached (`Auto` resolves to the CPU and an explicit
//! `Cuda(n)` is an error). `tests/gpu.rs` compares it with the CPU on a device; it passed on an
//! NVIDIA H200 (driver 580, CUDA 13) on 2026-12-04 (`.ci/gpu-check`, BENCHMARKS.md).

use std::sync::Arc;

use crate::Backend;
use crate::cpu::interp::Call;
use crate::cpu::math::Real;
use crate::cuda::{DeviceArray, DeviceOutput};
use crate::error::{Error, Result};
use crate::eval::{Sizes, sizes_for};
use crate::info::KernelInfo;
use crate::kernel::{GpuModule, KernelDef};

/// Whether device `ordinal` can be used, or why not (no driver, no such device, a driver that
/// fails to initialise). The answer is cached by `keops-gpu`.
pub(crate) fn usable(ordinal: usize) -> Result<(), String> {
    keops_gpu::device(ordinal).map(drop).map_err(|e| e.to_string())
}

/// Runs `K` on device `ordinal`: the inputs are copied to the device, reduced, and the outputs
/// copied back into `values` and `indices` (converted from the kernels' `u32` indices).
pub(crate) fn run<K: KernelDef>(
    ordinal: usize,
    module: &GpuModule,
    inputs: &[&[K::T]],
    sizes: Sizes,
    values: &mut [K::T],
    indices: &mut [usize],
) -> Result<()> {
    let call =
        Call { inputs, outer_rows: sizes.outer, inner_rows: sizes.inner, ranges: None, values, indices };
    K::T::run_gpu(ordinal, module, &K::INFO, call)
}

/// [`run`] of `f32` kernels. Not generic, so that the launch code, generic over the element
/// type only, is compiled once, in this crate, rather than in every crate with kernels.
pub(crate) fn run_f32(
    ordinal: usize,
    module: &GpuModule,
    info: &KernelInfo,
    call: Call<'_, f32>,
) -> Result<()> {
    run_module(ordinal, module, info, call)
}

/// [`run_f32`] for `f64` kernels.
pub(crate) fn run_f64(
    ordinal: usize,
    module: &GpuModule,
    info: &KernelInfo,
    call: Call<'_, f64>,
) -> Result<()> {
    run_module(ordinal, module, info, call)
}

/// [`run`] for the kernel `info` describes, whose module is `module`.
fn run_module<T: Real>(
    ordinal: usize,
    module: &GpuModule,
    info: &KernelInfo,
    call: Call<'_, T>,
) -> Result<()> {
    let Call { inputs, outer_rows, inner_rows, ranges, values, indices } = call;
    debug_assert!(ranges.is_none(), "block-sparse ranges reach the GPU one block at a time");
    let sizes = Sizes { outer: outer_rows, inner: inner_rows };
    check_rows(info, sizes)?;
    let device = device(ordinal)?;
    let mut gpu_indices = vec![0u32; indices.len()];
    device
        .reduce(module, inputs, sizes.outer, sizes.inner, values, &mut gpu_indices)
        .map_err(|e| gpu_error(ordinal, e))?;
    for (out, &i) in indices.iter_mut().zip(&gpu_indices) {
        *out = i as usize;
    }
    Ok(())
}

/// `Kernel::eval_device_into`: the inputs' device runs the kernel into `output`, which is
/// reallocated there if its sizes or device differ.
pub(crate) fn eval_device<K: KernelDef>(
    k: &K,
    inputs: &[&DeviceArray<K::T>],
    output: &mut DeviceOutput<K::T>,
) -> Result<()> {
    let lengths: Vec<usize> = inputs.iter().map(|x| x.len()).collect();
    let sizes = sizes_for(&K::INFO, &lengths)?;
    check_rows(&K::INFO, sizes)?;
    // A kernel without variables runs where its output is.
    let ordinal = inputs.first().map_or(output.values.ordinal(), |x| x.ordinal());
    for (v, x) in K::INFO.vars.iter().zip(inputs) {
        if x.ordinal() != ordinal {
            return Err(Error::WrongDevice { var: v.name, device: x.ordinal(), expected: ordinal });
        }
    }
    match k.backend() {
        Backend::Cpu => {
            return Err(Error::BackendUnavailable {
                backend: Backend::Cpu.to_string(),
                reason: "the kernel value is set to run on the CPU, and its inputs are on a CUDA device"
                    .into(),
            });
        }
        Backend::Cuda(n) if n != ordinal => {
            let var = K::INFO.vars.first().map_or("output", |v| v.name);
            return Err(Error::WrongDevice { var, device: ordinal, expected: n });
        }
        _ => {}
    }
    let Some(module) = K::GPU else {
        return Err(Error::BackendUnavailable {
            backend: Backend::Cuda(ordinal).to_string(),
            reason: "this kernel has no GPU module".into(),
        });
    };
    let device = inputs.first().map_or_else(|| device(ordinal), |x| Ok(x.device().clone()))?;
    output.values.ensure(&device, sizes.outer * K::INFO.value_width)?;
    output.indices.ensure(&device, sizes.outer * K::INFO.index_width)?;
    let vars: Vec<_> = inputs.iter().map(|x| x.cuda_slice()).collect();
    device
        .reduce_device(
            &module,
            &vars,
            sizes.outer,
            sizes.inner,
            output.values.data_mut(),
            output.indices.data_mut(),
        )
        .map_err(|e| gpu_error(ordinal, e))
}

/// `Kernel::eval_device`: as [`eval_device`], into new buffers.
pub(crate) fn eval_device_new<K: KernelDef>(
    k: &K,
    inputs: &[&DeviceArray<K::T>],
) -> Result<DeviceOutput<K::T>> {
    let ordinal = match inputs.first() {
        Some(x) => x.ordinal(),
        None => match k.backend().active()? {
            Backend::Cuda(n) => n,
            _ => {
                return Err(Error::BackendUnavailable {
                    backend: k.backend().to_string(),
                    reason: "a kernel without variables runs on a device only when its backend is `Cuda(n)`"
                        .into(),
                });
            }
        },
    };
    let mut output =
        DeviceOutput { values: DeviceArray::zeros(ordinal, 0)?, indices: DeviceArray::zeros(ordinal, 0)? };
    eval_device(k, inputs, &mut output)?;
    Ok(output)
}

/// Row counts the GPU kernels can count.
fn check_rows(info: &KernelInfo, sizes: Sizes) -> Result<()> {
    for (index, rows) in [(info.output_index(), sizes.outer), (info.reduced, sizes.inner)] {
        if rows > keops_gpu::MAX_ROWS {
            return Err(Error::TooManyRows { index: index.letter(), rows, limit: keops_gpu::MAX_ROWS });
        }
    }
    Ok(())
}

/// Device `ordinal`, or why it cannot be used.
pub(crate) fn device(ordinal: usize) -> Result<Arc<keops_gpu::Device>> {
    keops_gpu::device(ordinal).map_err(|e| gpu_error(ordinal, e))
}

/// A `keops-gpu` error as a `keops::Error`.
pub(crate) fn gpu_error(ordinal: usize, e: keops_gpu::Error) -> Error {
    match e {
        keops_gpu::Error::Unavailable(reason) => {
            Error::BackendUnavailable { backend: crate::Backend::Cuda(ordinal).to_string(), reason }
        }
        keops_gpu::Error::Cuda { operation, message } => Error::Cuda { operation, message },
    }
}
