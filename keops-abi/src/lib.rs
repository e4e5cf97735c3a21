//! What keops' code generators (`keops-core`, run by the macros at build time) and its runtime
//! (`keops`, `keops-gpu`) must agree on, defined once: the description of a generated GPU
//! module and its entry points, the reductions of the CPU interpreter's programs, and the
//! bit-level semantics of the exponent primitives, which CPU kernels compute with and the f64
//! reference checks against.
//!
//! No dependencies, so that sharing it costs the runtime nothing to build.

pub mod bits;
pub mod interp;

/// A generated GPU module: its PTX text and launch geometry. The generator builds it with
/// owned strings; generated code embeds it with `&'static str`s, which the runtime launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GpuModule<S = &'static str> {
    /// The kernel type's name (`GaussConv`), or a backward kernel's (`GaussConv__Grad0`,
    /// `GaussConv__Aux`).
    pub name: S,
    /// The PTX text, with the entry points [`ENTRY`], [`ENTRY_2D`] and [`ENTRY_MERGE`]
    /// (keops-core's `codegen::ptx` documents their parameters).
    pub ptx: S,
    /// Threads per block of [`ENTRY`] and [`ENTRY_2D`].
    pub block: u32,
    /// Bytes of dynamic shared memory per thread of those blocks.
    pub shared_per_thread: u32,
    /// The floats and the `u32` indices of one partial result of [`ENTRY_2D`].
    pub partial_widths: (u32, u32),
}

/// The entry point of every module that reduces over all the reduced rows.
pub const ENTRY: &str = "keops_reduce";

/// The entry point that reduces over one chunk of the reduced rows per `blockIdx.y` and writes
/// partial results, for the 2D scheme.
pub const ENTRY_2D: &str = "keops_reduce_2d";

/// The entry point that merges the partial results of [`ENTRY_2D`] and finalises them.
pub const ENTRY_MERGE: &str = "keops_merge";
