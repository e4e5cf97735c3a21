//! The CUDA path of `compute`: launches a kernel's generated PTX module through `keops-gpu`.
//!
//! **Not yet run on a GPU**: written against the PTX kernel ABI and cudarc's driver API, and
//! checked on CPU-only machines only (where it is never reached: `Auto` resolves to the CPU and
//! an explicit `Cuda(n)` is an error). `tests/gpu.rs` compares it with the CPU on a device.

use crate::error::{Error, Result};
use crate::eval::Sizes;
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
    for (index, rows) in [(K::INFO.output_index(), sizes.outer), (K::INFO.reduced, sizes.inner)] {
        if rows > keops_gpu::MAX_ROWS {
            return Err(Error::TooManyRows { index: index.letter(), rows, limit: keops_gpu::MAX_ROWS });
        }
    }
    let device = keops_gpu::device(ordinal).map_err(|e| error(ordinal, e))?;
    let module = keops_gpu::Module {
        name: module.name,
        ptx: module.ptx,
        block: module.block,
        shared_per_thread: module.shared_per_thread,
        partial_widths: module.partial_widths,
    };
    let mut gpu_indices = vec![0u32; indices.len()];
    device
        .reduce(&module, inputs, sizes.outer, sizes.inner, values, &mut gpu_indices)
        .map_err(|e| error(ordinal, e))?;
    for (out, &i) in indices.iter_mut().zip(&gpu_indices) {
        *out = i as usize;
    }
    Ok(())
}

/// A `keops-gpu` error as a `keops::Error`.
fn error(ordinal: usize, e: keops_gpu::Error) -> Error {
    match e {
        keops_gpu::Error::Unavailable(reason) => {
            Error::BackendUnavailable { backend: crate::Backend::Cuda(ordinal).to_string(), reason }
        }
        keops_gpu::Error::Cuda { operation, message } => Error::Cuda { operation, message },
    }
}
