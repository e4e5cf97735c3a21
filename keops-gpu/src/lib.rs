//! The CUDA runtime of keops: a context per device, each generated PTX module loaded once per
//! device, launches of its entry points, and the buffers around them.
//!
//! Written against cudarc 0.19's driver API and keops-core's PTX kernel ABI (see
//! `keops_core::codegen::ptx`); run on an NVIDIA H200 (driver 580, CUDA 13) on 2026-12-04, where
//! every reduction kind and gradient matched the CPU (`tests/gpu.rs`). What runs everywhere is
//! the driver detection (a binary without a GPU gets [`Error::Unavailable`]) and the launch
//! planning.
//!
//! The CUDA driver (`libcuda`) is loaded at run time (cudarc's `fallback-dynamic-loading`), so a
//! binary that links this crate starts and runs on machines without it: [`device`] then returns
//! [`Error::Unavailable`]. Nothing here compiles code at run time: the PTX text is generated when
//! the kernel is compiled, and the driver JIT-compiles it for the device when it is loaded.
//!
//! # Launches
//!
//! A module has three entry points (`keops_reduce`, `keops_reduce_2d`, `keops_merge`). With
//! enough output rows to fill the device, one `keops_reduce` launch does everything. With fewer
//! (fewer than [`FILL_WAVES`] blocks per multiprocessor), the reduced rows are split into chunks
//! as well ([`Plan::choose`]): `keops_reduce_2d` writes a partial result per chunk and output
//! row, and `keops_merge` merges them in chunk order and finalises. Every call runs on the
//! device's one stream and waits for its results, so calls from several threads are serialised
//! on the device.

use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use cudarc::driver::safe::{
    CudaContext, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DeviceRepr, ValidAsZeroBits,
};
use cudarc::driver::{DriverError, result, sys};

/// The CUDA bindings this crate is built on, for code that works on the same buffers and
/// streams.
pub use cudarc;

/// Everything that can go wrong on the GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// No usable device: no driver, no device with this ordinal, or a driver that failed to
    /// initialise.
    Unavailable(String),
    /// The driver reported a failure in `operation` (`"allocate"`, `"load module"`,
    /// `"launch"`, ...).
    Cuda { operation: &'static str, message: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(reason) => f.write_str(reason),
            Error::Cuda { operation, message } => write!(f, "CUDA error in {operation}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A driver error in words; out of memory says so plainly.
fn describe(e: DriverError) -> String {
    if e.0 == sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
        format!("out of device memory ({e})")
    } else {
        e.to_string()
    }
}

/// A copy between buffers of `from` and `to` elements: they must match (cudarc asserts it).
pub fn same_length(from: usize, to: usize) -> Result<()> {
    if from == to {
        return Ok(());
    }
    Err(Error::Cuda {
        operation: "copy",
        message: format!("{from} elements cannot be copied into a buffer of {to}"),
    })
}

/// Maps a driver error of `operation`.
fn driver_error(operation: &'static str) -> impl Fn(DriverError) -> Error {
    move |e| Error::Cuda { operation, message: describe(e) }
}

/// Runs `f`, turning a panic inside cudarc (a driver without a symbol it expects, for one) into
/// an error of `operation` rather than unwinding into the caller.
fn guarded<R>(operation: &'static str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic in the CUDA driver bindings".into());
        Err(Error::Cuda { operation, message })
    })
}

/// The element types of the kernels.
pub trait Element:
    DeviceRepr + ValidAsZeroBits + Copy + Default + Send + Sync + 'static + sealed::Sealed
{
}
impl Element for f32 {}
impl Element for f64 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

pub use keops_abi::GpuModule;
use keops_abi::{ENTRY, ENTRY_2D, ENTRY_MERGE};

/// Threads per block of `keops_merge`.
const MERGE_BLOCK: u32 = 256;

/// Dynamic shared memory every device grants a block without an opt-in.
const DEFAULT_SHARED: u32 = 48 * 1024;

/// The most rows along either index a launch accepts: the kernels count rows in `u32` and step
/// by whole blocks (at most 1024 threads), so the counts plus a block must stay below 2^32.
pub const MAX_ROWS: usize = u32::MAX as usize - 2048;

/// Blocks per multiprocessor below which the reduced rows are split into chunks (2D scheme).
pub const FILL_WAVES: usize = 2;

/// Blocks per multiprocessor the 2D scheme aims for.
const TARGET_WAVES: usize = 4;

/// Fewest reduced rows per chunk, in blocks: shorter chunks cost more in partial results and
/// merging than they gain in parallelism.
const MIN_CHUNK_BLOCKS: usize = 4;

/// How one reduction is launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to do: no output rows.
    Empty,
    /// One `keops_reduce` launch.
    OneD,
    /// `keops_reduce_2d` on `chunks` chunks of `chunk` reduced rows, then `keops_merge`.
    TwoD { chunk: u32, chunks: u32 },
}

impl Plan {
    /// The launch scheme for `outer` output rows and `inner` reduced rows, with blocks of
    /// `block` threads, on a device with `sms` multiprocessors. Sizes must be at most
    /// [`MAX_ROWS`].
    pub fn choose(outer: usize, inner: usize, block: u32, sms: u32) -> Plan {
        if outer == 0 {
            return Plan::Empty;
        }
        let block = block.max(1) as usize;
        let sms = sms.max(1) as usize;
        let blocks = outer.div_ceil(block);
        if blocks >= FILL_WAVES * sms {
            return Plan::OneD;
        }
        let max_chunks = inner.div_ceil(block * MIN_CHUNK_BLOCKS);
        let wanted = (TARGET_WAVES * sms).div_ceil(blocks).min(max_chunks).min(u16::MAX as usize);
        if wanted <= 1 {
            return Plan::OneD;
        }
        // A multiple of the block size, as the kernel requires.
        let chunk = inner.div_ceil(wanted).div_ceil(block) * block;
        let chunks = inner.div_ceil(chunk);
        let fits = |n: usize| n < u32::MAX as usize;
        match (u32::try_from(chunk), u32::try_from(chunks)) {
            (Ok(chunk32), Ok(chunks32))
                if chunks > 1
                    && fits(chunks * chunk)
                    && fits(chunks * outer)
                    && fits(chunks * outer + MERGE_BLOCK as usize) =>
            {
                Plan::TwoD { chunk: chunk32, chunks: chunks32 }
            }
            _ => Plan::OneD,
        }
    }
}

/// Why the driver cannot be used, or the number of devices; found once.
fn driver() -> &'static Result<usize, String> {
    static DRIVER: OnceLock<Result<usize, String>> = OnceLock::new();
    DRIVER.get_or_init(|| {
        if !driver_library_present() {
            return Err("no CUDA driver was found (libcuda could not be loaded)".into());
        }
        let count = guarded("initialise", || {
            result::init().map_err(driver_error("initialise"))?;
            result::device::get_count().map_err(driver_error("count devices"))
        });
        match count {
            Ok(n) => Ok(usize::try_from(n).unwrap_or(0)),
            Err(e) => Err(format!("the CUDA driver could not be initialised: {e}")),
        }
    })
}

/// Whether the CUDA driver library opens under one of the names cudarc's loader also tries, so
/// that its loader (which panics when it finds none) is never asked in vain. cudarc's own check
/// exists only when it loads the driver; when another crate of the program links libcuda
/// instead (candle does), the library is already loaded and opening it again finds it.
fn driver_library_present() -> bool {
    const NAMES: &[&str] = if cfg!(windows) { &["nvcuda.dll"] } else { &["libcuda.so.1", "libcuda.so"] };
    NAMES.iter().any(|&name| {
        // SAFETY: opening the driver library runs its initialisers, which assume nothing of the
        // caller; the handle is dropped (the library closed) at once, and no symbol of it is
        // called here.
        unsafe { libloading::Library::new(name) }.is_ok()
    })
}

/// The number of CUDA devices, 0 without a driver.
pub fn device_count() -> usize {
    driver().as_ref().map_or(0, |&n| n)
}

/// Whether device `ordinal` can be used (its context is created on the first call).
pub fn available(ordinal: usize) -> bool {
    device(ordinal).is_ok()
}

/// The device with this ordinal: its context and stream, created once and kept for the life
/// of the process.
pub fn device(ordinal: usize) -> Result<Arc<Device>> {
    let count = driver().clone().map_err(Error::Unavailable)?;
    if ordinal >= count {
        return Err(Error::Unavailable(match count {
            0 => "the CUDA driver found no device".into(),
            n => format!("there is no CUDA device {ordinal}: the driver found {n}"),
        }));
    }
    static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<Device>>>> = OnceLock::new();
    let mut devices = DEVICES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(d) = devices.get(&ordinal) {
        return Ok(d.clone());
    }
    let d = Arc::new(guarded("create context", || Device::new(ordinal))?);
    devices.insert(ordinal, d.clone());
    Ok(d)
}

/// One device: its primary context, a stream, its properties, and the modules loaded on it.
pub struct Device {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    sms: u32,
    max_shared: u32,
    name: String,
    /// Loaded modules, by the address and length of their PTX text (`&'static`, so an address
    /// is never reused for other text).
    modules: Mutex<HashMap<(usize, usize), Arc<Loaded>>>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device").field("ordinal", &self.ctx.ordinal()).field("name", &self.name).finish()
    }
}

impl Device {
    fn new(ordinal: usize) -> Result<Device> {
        let err = driver_error("create context");
        let ctx = CudaContext::new(ordinal).map_err(&err)?;
        let stream = ctx.new_stream().map_err(&err)?;
        let attribute = |a| ctx.attribute(a).map_err(&err).map(|v| u32::try_from(v).unwrap_or(0));
        let sms = attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
        let max_shared =
            attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?;
        let name = ctx.name().unwrap_or_else(|_| format!("CUDA device {ordinal}"));
        Ok(Device { ctx, stream, sms, max_shared, name, modules: Mutex::default() })
    }

    /// The device's name, as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's ordinal.
    pub fn ordinal(&self) -> usize {
        self.ctx.ordinal()
    }

    /// Whether `buffer` lives in this device's context.
    pub fn owns<T>(&self, buffer: &CudaSlice<T>) -> bool {
        buffer.context().cu_ctx() == self.ctx.cu_ctx()
    }

    /// A new device buffer holding `data` (none for empty data).
    pub fn upload<T: DeviceRepr>(&self, data: &[T]) -> Result<Option<CudaSlice<T>>> {
        if data.is_empty() {
            return Ok(None);
        }
        guarded("copy to device", || {
            self.stream.clone_htod(data).map(Some).map_err(driver_error("copy to device"))
        })
    }

    /// Copies `data` into `buffer`, which must have its length.
    pub fn copy_to_device<T: DeviceRepr>(&self, data: &[T], buffer: &mut CudaSlice<T>) -> Result<()> {
        same_length(data.len(), buffer.len())?;
        guarded("copy to device", || {
            self.stream.memcpy_htod(data, buffer).map_err(driver_error("copy to device"))
        })
    }

    /// Copies `buffer` into `data`, which must have its length, once the work queued before on
    /// the stream is done.
    pub fn copy_to_host<T: DeviceRepr>(&self, buffer: &CudaSlice<T>, data: &mut [T]) -> Result<()> {
        same_length(buffer.len(), data.len())?;
        guarded("copy from device", || {
            let err = driver_error("copy from device");
            self.stream.memcpy_dtoh(buffer, data).map_err(&err)?;
            self.stream.synchronize().map_err(err)
        })
    }

    /// The stream every launch of this device runs on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The launch scheme a reduction of these sizes gets on this device.
    pub fn plan(&self, module: &GpuModule, outer: usize, inner: usize) -> Plan {
        Plan::choose(outer, inner, module.block, self.sms)
    }

    /// `module`, loaded on this device (the first call per module JIT-compiles its PTX; later
    /// calls find it in the cache).
    fn load(&self, module: &GpuModule) -> Result<Arc<Loaded>> {
        let key = (module.ptx.as_ptr() as usize, module.ptx.len());
        let mut modules = self.modules.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = modules.get(&key) {
            return Ok(m.clone());
        }
        let loaded = Arc::new(guarded("load module", || Loaded::new(&self.ctx, module, self.max_shared))?);
        modules.insert(key, loaded.clone());
        Ok(loaded)
    }

    /// Reduces host inputs into host outputs: `vars` are the kernel's variables in declaration
    /// order (flat, row-major; a parameter its values), `values` receives `outer *
    /// value_width` floats and `indices` `outer * index_width` indices.
    pub fn reduce<T: Element>(
        &self,
        module: &GpuModule,
        vars: &[&[T]],
        outer: usize,
        inner: usize,
        values: &mut [T],
        indices: &mut [u32],
    ) -> Result<()> {
        guarded("reduce", || {
            if outer == 0 {
                return Ok(());
            }
            let copy = driver_error("copy to device");
            let inputs = vars
                .iter()
                .map(|x| {
                    if x.is_empty() { Ok(None) } else { self.stream.clone_htod(*x).map(Some).map_err(&copy) }
                })
                .collect::<Result<Vec<_>>>()?;
            let mut out_values = self.alloc::<T>(values.len())?;
            let mut out_indices = self.alloc::<u32>(indices.len())?;
            self.reduce_device(
                module,
                &inputs.iter().map(Option::as_ref).collect::<Vec<_>>(),
                outer,
                inner,
                out_values.as_mut(),
                out_indices.as_mut(),
            )?;
            let back = driver_error("copy from device");
            if let Some(v) = &out_values {
                self.stream.memcpy_dtoh(v, values).map_err(&back)?;
            }
            if let Some(i) = &out_indices {
                self.stream.memcpy_dtoh(i, indices).map_err(&back)?;
            }
            self.stream.synchronize().map_err(driver_error("synchronize"))
        })
    }

    /// A device buffer of `len` elements, or none for an empty one.
    pub fn alloc<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<Option<CudaSlice<T>>> {
        if len == 0 {
            return Ok(None);
        }
        self.stream.alloc_zeros::<T>(len).map(Some).map_err(driver_error("allocate"))
    }

    /// Reduces device-resident inputs into device-resident outputs, on this device's stream
    /// (asynchronously: synchronise the stream, or copy the outputs back, before reading them).
    /// `None` stands for an empty array (a variable with no rows, an output of width 0). The
    /// buffers must belong to this device (checked) and hold the lengths [`Device::reduce`]
    /// describes (the outputs' are checked; the caller checks the variables').
    pub fn reduce_device<T: Element>(
        &self,
        module: &GpuModule,
        vars: &[Option<&CudaSlice<T>>],
        outer: usize,
        inner: usize,
        values: Option<&mut CudaSlice<T>>,
        indices: Option<&mut CudaSlice<u32>>,
    ) -> Result<()> {
        let plan = self.plan(module, outer, inner);
        if plan == Plan::Empty {
            return Ok(());
        }
        if outer > MAX_ROWS || inner > MAX_ROWS {
            return Err(Error::Cuda {
                operation: "launch",
                message: format!(
                    "{outer} x {inner} rows exceed the {MAX_ROWS} rows per index of the GPU kernels"
                ),
            });
        }
        let foreign = vars.iter().flatten().any(|v| !self.owns(v))
            || values.as_ref().is_some_and(|v| !self.owns(v))
            || indices.as_ref().is_some_and(|v| !self.owns(v));
        if foreign {
            return Err(Error::Cuda {
                operation: "launch",
                message: format!("a buffer of another device was passed to device {}", self.ordinal()),
            });
        }
        let loaded = self.load(module)?;
        let values_len = values.as_ref().map_or(0, |v| v.len());
        let indices_len = indices.as_ref().map_or(0, |v| v.len());
        if !values_len.is_multiple_of(outer) || !indices_len.is_multiple_of(outer) {
            return Err(Error::Cuda {
                operation: "launch",
                message: format!(
                    "output buffers of {values_len} and {indices_len} elements for {outer} rows"
                ),
            });
        }
        // Device addresses; the guards order later work on other streams after this launch.
        let stream = &self.stream;
        let var_ptrs: Vec<_> = vars.iter().map(|v| v.map(|s| s.device_ptr(stream))).collect();
        let mut ptrs: Vec<u64> = var_ptrs.iter().map(|p| p.as_ref().map_or(0, |(ptr, _)| *ptr)).collect();
        let values_ptr = values.map(|v| v.device_ptr_mut(stream));
        let indices_ptr = indices.map(|v| v.device_ptr_mut(stream));
        let values_ptr_raw = values_ptr.as_ref().map_or(0, |(p, _)| *p);
        let indices_ptr_raw = indices_ptr.as_ref().map_or(0, |(p, _)| *p);
        let (outer32, inner32) = (outer as u32, inner as u32);
        let blocks = outer.div_ceil(module.block as usize) as u32;
        let shared = module.block.saturating_mul(module.shared_per_thread);
        match plan {
            Plan::Empty => Ok(()),
            Plan::OneD => {
                ptrs.extend([values_ptr_raw, indices_ptr_raw]);
                let mut counts = [outer32, inner32];
                loaded.launch(
                    stream,
                    loaded.reduce,
                    (blocks, 1),
                    module.block,
                    shared,
                    &mut ptrs,
                    &mut counts,
                )
            }
            Plan::TwoD { chunk, chunks } => {
                let slots = chunks as usize * outer;
                let (pv, pi) = module.partial_widths;
                let partial_values = self.alloc::<T>(slots * pv as usize)?;
                let partial_indices = self.alloc::<u32>(slots * pi as usize)?;
                let pv_ptr = partial_values.as_ref().map(|p| p.device_ptr(stream));
                let pi_ptr = partial_indices.as_ref().map(|p| p.device_ptr(stream));
                let (pv_raw, pi_raw) =
                    (pv_ptr.as_ref().map_or(0, |p| p.0), pi_ptr.as_ref().map_or(0, |p| p.0));
                ptrs.extend([pv_raw, pi_raw]);
                let mut counts = [outer32, inner32, chunk];
                loaded.launch(
                    stream,
                    loaded.reduce_2d,
                    (blocks, chunks),
                    module.block,
                    shared,
                    &mut ptrs,
                    &mut counts,
                )?;
                let mut ptrs = [pv_raw, pi_raw, values_ptr_raw, indices_ptr_raw];
                let mut counts = [outer32, chunks];
                let merge_blocks = outer.div_ceil(MERGE_BLOCK as usize) as u32;
                loaded.launch(stream, loaded.merge, (merge_blocks, 1), MERGE_BLOCK, 0, &mut ptrs, &mut counts)
            }
        }
    }
}

/// A module loaded in a context, with its three entry points.
struct Loaded {
    ctx: Arc<CudaContext>,
    module: sys::CUmodule,
    reduce: sys::CUfunction,
    reduce_2d: sys::CUfunction,
    merge: sys::CUfunction,
    /// Shared memory a block of `reduce` / `reduce_2d` needs, and what the device allows.
    shared: (u32, u32),
}

// SAFETY: module and function handles are plain driver handles, valid in any thread that has
// their context current (every use below binds it first); the driver synchronises access.
unsafe impl Send for Loaded {}
// SAFETY: as above; `Loaded` has no interior mutability.
unsafe impl Sync for Loaded {}

impl Drop for Loaded {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            // SAFETY: the module was loaded by `Loaded::new` and is unloaded only here.
            let _ = unsafe { result::module::unload(self.module) };
        }
    }
}

/// Bytes of the JIT compiler's error log kept when a module fails to load.
const LOG_BYTES: usize = 16 * 1024;

impl Loaded {
    fn new(ctx: &Arc<CudaContext>, module: &GpuModule, max_shared: u32) -> Result<Loaded> {
        let err = driver_error("load module");
        ctx.bind_to_thread().map_err(&err)?;
        let text = CString::new(module.ptx).map_err(|_| Error::Cuda {
            operation: "load module",
            message: format!("the PTX of {} contains a NUL byte", module.name),
        })?;
        let mut log = vec![0u8; LOG_BYTES];
        let mut options = [
            sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER,
            sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
        ];
        // The size option's value is the integer itself, passed in the pointer.
        let mut values: [*mut c_void; 2] = [log.as_mut_ptr().cast(), LOG_BYTES as *mut c_void];
        let mut handle = std::mem::MaybeUninit::<sys::CUmodule>::uninit();
        // SAFETY: `text` is a NUL-terminated PTX image that outlives the call; `options` and
        // `values` are two entries each, the log buffer is `LOG_BYTES` long as declared, and the
        // context is current on this thread.
        let status = unsafe {
            sys::cuModuleLoadDataEx(
                handle.as_mut_ptr(),
                text.as_ptr().cast(),
                options.len() as u32,
                options.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        };
        if status != sys::CUresult::CUDA_SUCCESS {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]);
            let message = describe(DriverError(status));
            return Err(Error::Cuda {
                operation: "load module",
                message: format!("{} failed to load: {message}; JIT log: {}", module.name, log.trim()),
            });
        }
        // SAFETY: the call succeeded, so it wrote the module handle.
        let handle = unsafe { handle.assume_init() };
        let mut loaded = Loaded {
            ctx: ctx.clone(),
            module: handle,
            reduce: std::ptr::null_mut(),
            reduce_2d: std::ptr::null_mut(),
            merge: std::ptr::null_mut(),
            shared: (0, 0),
        };
        let function = |name: &str| {
            let c = CString::new(name).unwrap_or_default();
            // SAFETY: `handle` is the module just loaded, not unloaded before `loaded` drops.
            unsafe { result::module::get_function(handle, c) }.map_err(driver_error("load module"))
        };
        loaded.reduce = function(ENTRY)?;
        loaded.reduce_2d = function(ENTRY_2D)?;
        loaded.merge = function(ENTRY_MERGE)?;
        let shared = module.block.saturating_mul(module.shared_per_thread);
        loaded.shared = (shared, max_shared.max(DEFAULT_SHARED));
        if shared > DEFAULT_SHARED && shared <= max_shared {
            // Kernels with large features per reduced row: opt in to more shared memory.
            let attribute = sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
            for f in [loaded.reduce, loaded.reduce_2d] {
                // SAFETY: `f` is a function of the loaded module; the context is current.
                unsafe { result::function::set_function_attribute(f, attribute, shared as i32) }
                    .map_err(driver_error("load module"))?;
            }
        }
        Ok(loaded)
    }

    /// Launches `f` on `grid` blocks of `block` threads with `shared` bytes of dynamic shared
    /// memory; its parameters are `ptrs` (device addresses) then `counts`, as the ABI orders
    /// every entry point.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &self,
        stream: &CudaStream,
        f: sys::CUfunction,
        grid: (u32, u32),
        block: u32,
        shared: u32,
        ptrs: &mut [u64],
        counts: &mut [u32],
    ) -> Result<()> {
        if shared > self.shared.1 {
            return Err(Error::Cuda {
                operation: "launch",
                message: format!(
                    "the kernel needs {shared} bytes of shared memory per block, the device allows {}",
                    self.shared.1
                ),
            });
        }
        let err = driver_error("launch");
        self.ctx.bind_to_thread().map_err(&err)?;
        let mut args: Vec<*mut c_void> = ptrs
            .iter_mut()
            .map(|p| (p as *mut u64).cast())
            .chain(counts.iter_mut().map(|c| (c as *mut u32).cast()))
            .collect();
        // SAFETY: `f` belongs to this loaded module, whose context is current; `args` points at
        // one `u64` per pointer parameter and one `u32` per count, in the order and of the
        // types of the entry's PTX signature, and they outlive the call (the driver copies
        // them); the buffers behind the pointers are live, on this device, and sized for
        // `grid` as the ABI requires (checked by the callers).
        unsafe {
            result::launch_kernel(
                f,
                (grid.0, grid.1, 1),
                (block, 1, 1),
                shared,
                stream.cu_stream(),
                &mut args,
            )
        }
        .map_err(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_output_rows_take_one_launch() {
        assert_eq!(Plan::choose(0, 10, 256, 132), Plan::Empty);
        assert_eq!(Plan::choose(1_000_000, 1_000_000, 256, 132), Plan::OneD);
        assert_eq!(Plan::choose(2 * 132 * 256, 1 << 20, 256, 132), Plan::OneD);
    }

    #[test]
    fn few_output_rows_split_the_reduced_rows() {
        for (outer, inner, block, sms) in
            [(1, 1_000_000, 256, 132), (100, 100_000, 128, 80), (10_000, 1 << 24, 256, 132), (5, 5000, 32, 1)]
        {
            let Plan::TwoD { chunk, chunks } = Plan::choose(outer, inner, block, sms) else {
                panic!("{outer} x {inner}: expected a 2D plan");
            };
            assert_eq!(chunk % block, 0);
            assert!(chunk as usize >= MIN_CHUNK_BLOCKS * block as usize);
            assert_eq!(chunks as usize, inner.div_ceil(chunk as usize), "{outer} x {inner}");
            assert!(chunks > 1 && chunks <= u16::MAX as u32);
            let blocks = outer.div_ceil(block as usize) * chunks as usize;
            assert!(blocks <= (TARGET_WAVES + 1) * sms as usize + chunks as usize, "{blocks} blocks");
        }
    }

    #[test]
    fn short_reductions_are_not_split() {
        assert_eq!(Plan::choose(1, 1000, 256, 132), Plan::OneD);
        assert_eq!(Plan::choose(1, 0, 256, 132), Plan::OneD);
    }

    #[test]
    fn largest_sizes_stay_within_u32() {
        for (outer, sms) in [(1, 132), (1, 7), (3000, 132), (1, 1)] {
            if let Plan::TwoD { chunk, chunks } = Plan::choose(outer, MAX_ROWS, 256, sms) {
                assert!((chunk as u64) * (chunks as u64) < u32::MAX as u64);
                assert!((chunks as u64) * (outer as u64) < u32::MAX as u64);
            }
        }
        assert_eq!(Plan::choose(MAX_ROWS, MAX_ROWS, 1024, 132), Plan::OneD);
    }

    #[test]
    fn no_driver_is_an_unavailable_device() {
        // On a machine with a usable device this checks nothing.
        if device_count() == 0 {
            let err = device(0).unwrap_err();
            assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
        }
    }
}
