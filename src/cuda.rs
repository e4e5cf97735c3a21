//! Arrays that stay on a CUDA device between calls (`cuda` feature).
//!
//! `eval` copies its inputs to the device and its output back at every call. A loop that
//! evaluates kernels many times on the same data (a simulation step, a solver iteration) can
//! instead keep the data on the device: upload it once into [`DeviceArray`]s, call
//! [`Kernel::eval_device`] or [`Kernel::eval_device_into`], and copy back only what the host
//! needs.
//!
//! ```no_run
//! use keops::cuda::{DeviceArray, DeviceOutput};
//! use keops::{Kernel, keops};
//!
//! keops! {
//!     struct Gauss = |x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j;
//! }
//!
//! let gauss = Gauss::new();
//! let (x, b) = (vec![0.5f32; 3 * 1000], vec![1.0f32; 1000]);
//! let x_gpu = DeviceArray::from_host(0, &x)?;
//! let b_gpu = DeviceArray::from_host(0, &b)?;
//! let mut out: DeviceOutput<f32> = gauss.eval_device(&[&x_gpu, &x_gpu, &b_gpu])?;
//! for _step in 0..10 {
//!     // ... update x_gpu on the device, e.g. with a cudarc kernel on `x_gpu.cuda_slice_mut()`
//!     gauss.eval_device_into(&[&x_gpu, &x_gpu, &b_gpu], &mut out)?;
//! }
//! let sums: Vec<f32> = out.values.to_host()?;
//! # Ok::<(), keops::Error>(())
//! ```
//!
//! Every operation runs on the device's one stream (see [`stream`]), in the order it was
//! called: a kernel launched by `eval_device` may still be running when the call returns, and
//! the copies back to the host wait for it.

use std::fmt;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits};

#[cfg(doc)]
use crate::Kernel;
/// The CUDA bindings keops is built on (cudarc), to work on the same buffers and streams.
pub use keops_gpu::cudarc;

use crate::backend::gpu::{device, gpu_error};
use crate::error::Result;

/// The element types a [`DeviceArray`] can hold: the kernels' floats, and `u32` for the
/// indices that selections return.
pub trait DeviceElement:
    DeviceRepr + ValidAsZeroBits + Copy + Default + Send + Sync + 'static + sealed::Sealed
{
}
impl DeviceElement for f32 {}
impl DeviceElement for f64 {}
impl DeviceElement for u32 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for u32 {}
}

/// A flat array in the memory of one CUDA device: a variable's rows (row-major, as
/// `eval_flat` takes them), a parameter's values, or a kernel's output.
pub struct DeviceArray<T: DeviceElement> {
    device: Arc<keops_gpu::Device>,
    /// `None` when empty: the driver does not allocate zero bytes.
    data: Option<CudaSlice<T>>,
}

impl<T: DeviceElement> DeviceArray<T> {
    /// A copy of `data` on CUDA device `ordinal`.
    pub fn from_host(ordinal: usize, data: &[T]) -> Result<Self> {
        let device = device(ordinal)?;
        let data = device.upload(data).map_err(|e| gpu_error(ordinal, e))?;
        Ok(DeviceArray { device, data })
    }

    /// `len` zeros on CUDA device `ordinal`.
    pub fn zeros(ordinal: usize, len: usize) -> Result<Self> {
        let device = device(ordinal)?;
        let data = device.alloc(len).map_err(|e| gpu_error(ordinal, e))?;
        Ok(DeviceArray { device, data })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.as_ref().map_or(0, CudaSlice::len)
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ordinal of the device that holds the array.
    pub fn ordinal(&self) -> usize {
        self.device.ordinal()
    }

    /// The elements, copied to the host (after the work queued on the device).
    pub fn to_host(&self) -> Result<Vec<T>> {
        let mut host = vec![T::default(); self.len()];
        self.copy_to_host(&mut host)?;
        Ok(host)
    }

    /// Copies the elements into `host`, which must have the array's length.
    pub fn copy_to_host(&self, host: &mut [T]) -> Result<()> {
        match &self.data {
            Some(d) => self.device.copy_to_host(d, host),
            None => keops_gpu::same_length(0, host.len()),
        }
        .map_err(|e| gpu_error(self.ordinal(), e))
    }

    /// Overwrites the elements with `host`, which must have the array's length.
    pub fn copy_from_host(&mut self, host: &[T]) -> Result<()> {
        let ordinal = self.ordinal();
        match &mut self.data {
            Some(d) => self.device.copy_to_device(host, d),
            None => keops_gpu::same_length(host.len(), 0),
        }
        .map_err(|e| gpu_error(ordinal, e))
    }

    /// The cudarc buffer (`None` when empty), to read it from other CUDA code.
    pub fn cuda_slice(&self) -> Option<&CudaSlice<T>> {
        self.data.as_ref()
    }

    /// The cudarc buffer (`None` when empty), to update it with other CUDA code, e.g. a
    /// simulation step between two evaluations.
    pub fn cuda_slice_mut(&mut self) -> Option<&mut CudaSlice<T>> {
        self.data.as_mut()
    }

    /// The buffer, reallocated as `len` zeros on `device` unless it already has that length
    /// and device.
    pub(crate) fn ensure(&mut self, device: &Arc<keops_gpu::Device>, len: usize) -> Result<()> {
        if self.len() != len || !Arc::ptr_eq(&self.device, device) {
            self.data = device.alloc(len).map_err(|e| gpu_error(device.ordinal(), e))?;
            self.device = device.clone();
        }
        Ok(())
    }

    pub(crate) fn device(&self) -> &Arc<keops_gpu::Device> {
        &self.device
    }

    pub(crate) fn data_mut(&mut self) -> Option<&mut CudaSlice<T>> {
        self.data.as_mut()
    }
}

impl<T: DeviceElement> fmt::Debug for DeviceArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceArray").field("ordinal", &self.ordinal()).field("len", &self.len()).finish()
    }
}

/// A kernel's output on the device: the values (`rows * value_width`, row-major) and, for the
/// selections that return them, the indices (`rows * index_width`).
///
/// [`Kernel::eval_device`] returns one; [`Kernel::eval_device_into`] writes into one again,
/// reusing its buffers while the sizes and the device stay the same.
pub struct DeviceOutput<T: DeviceElement> {
    pub values: DeviceArray<T>,
    pub indices: DeviceArray<u32>,
}

impl<T: DeviceElement> fmt::Debug for DeviceOutput<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceOutput").field("values", &self.values).field("indices", &self.indices).finish()
    }
}

/// The stream of CUDA device `ordinal`, on which keops runs every copy and kernel of that
/// device: work queued on it by other code is ordered with keops' own.
pub fn stream(ordinal: usize) -> Result<Arc<CudaStream>> {
    Ok(device(ordinal)?.stream().clone())
}
