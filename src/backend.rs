//! Where a kernel runs: the choice ([`Backend`]), its resolution against `KEOPS_BACKEND` and
//! the devices found, and (with the `cuda` feature) the GPU path in [`gpu`].

use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};

#[cfg(feature = "cuda")]
pub(crate) mod gpu;

/// What the GPU runtime needs of an element type (`f32`, `f64`); nothing without the `cuda`
/// feature.
#[cfg(feature = "cuda")]
pub trait GpuElement: keops_gpu::Element + crate::cuda::DeviceElement {}
#[cfg(feature = "cuda")]
impl GpuElement for f32 {}
#[cfg(feature = "cuda")]
impl GpuElement for f64 {}

/// What the GPU runtime needs of an element type (`f32`, `f64`); nothing without the `cuda`
/// feature.
#[cfg(not(feature = "cuda"))]
pub trait GpuElement {}
#[cfg(not(feature = "cuda"))]
impl<T> GpuElement for T {}

/// The device a kernel runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The GPU when the `cuda` feature is on and a device is found, else the CPU. The
    /// environment variable `KEOPS_BACKEND=cpu|cuda` overrides the choice.
    #[default]
    Auto,
    /// The CPU: rayon threads and SIMD.
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Auto => f.write_str("Auto"),
            Backend::Cpu => f.write_str("Cpu"),
            Backend::Cuda(n) => write!(f, "Cuda({n})"),
        }
    }
}

/// The backend a call actually uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    Cpu,
    /// The CUDA device with this ordinal, found usable.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    Cuda(usize),
}

/// What `KEOPS_BACKEND` asks for, read once.
fn env_override() -> Result<Option<Backend>> {
    static ENV: OnceLock<Result<Option<Backend>>> = OnceLock::new();
    ENV.get_or_init(|| match std::env::var("KEOPS_BACKEND") {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(None),
            "cpu" => Ok(Some(Backend::Cpu)),
            "cuda" | "gpu" => Ok(Some(Backend::Cuda(0))),
            other => Err(Error::BackendUnavailable {
                backend: format!("KEOPS_BACKEND={other}"),
                reason: "expected `cpu` or `cuda`".into(),
            }),
        },
    })
    .clone()
}

impl Backend {
    /// The backend a call with this choice runs on here: `Cpu` or `Cuda(n)` (after
    /// `KEOPS_BACKEND` and device detection), or why the requested one is unavailable.
    pub fn active(self) -> Result<Backend> {
        Ok(match self.resolve()? {
            Resolved::Cpu => Backend::Cpu,
            Resolved::Cuda(n) => Backend::Cuda(n),
        })
    }

    /// Decides where a call runs: an explicit choice wins, then `KEOPS_BACKEND`, then the GPU
    /// (device 0) if the `cuda` feature is on and the device is usable, else the CPU. An
    /// explicit CUDA choice that cannot be honoured is an error, never a silent fallback.
    pub(crate) fn resolve(self) -> Result<Resolved> {
        let wanted = match self {
            Backend::Auto => env_override()?.unwrap_or(Backend::Auto),
            explicit => explicit,
        };
        match wanted {
            Backend::Cpu => Ok(Resolved::Cpu),
            Backend::Cuda(n) => cuda(n).map(|()| Resolved::Cuda(n)).map_err(|reason| {
                Error::BackendUnavailable { backend: Backend::Cuda(n).to_string(), reason }
            }),
            Backend::Auto => Ok(if cuda(0).is_ok() { Resolved::Cuda(0) } else { Resolved::Cpu }),
        }
    }
}

/// Whether CUDA device `ordinal` is usable, or why not.
fn cuda(ordinal: usize) -> Result<(), String> {
    #[cfg(feature = "cuda")]
    return gpu::usable(ordinal);
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        Err("this binary was built without the `cuda` feature".into())
    }
}
