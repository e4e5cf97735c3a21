//! KeOps-style kernel reductions for Rust, compiled at build time.
//!
//! A kernel reduction computes, for every `i`, `a_i = Reduction_j F(p, x_i, y_j)` without ever
//! storing the `M x N` matrix of `F`. The formula is parsed, checked, simplified and turned into
//! code by a procedural macro, so mistakes are compile errors and nothing is compiled at run time.
//!
//! ```
//! let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
//! let x = vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
//! let y = vec![[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 2.0, 0.0]];
//! let b = vec![[1.0], [2.0], [3.0]];
//! let a: Vec<[f32; 1]> = k.eval(&x, &y, &b)?;
//! let want = 1.0 + 2.0 * (-1.0f32).exp() + 3.0 * (-8.0f32).exp();
//! assert!((a[0][0] - want).abs() < 1e-6);
//! # Ok::<(), keops::Error>(())
//! ```
//!
//! # Writing kernels
//!
//! `keops!` takes a closure-like signature and a body:
//!
//! - **Variables**: a name ending in `_i` is indexed by `i`, in `_j` by `j`, anything else is a
//!   parameter shared by all pairs. The type gives precision and dimension: `[f32; D]`,
//!   `[f64; D]`, or a bare `f32` / `f64` (dimension 1). All variables share one float type.
//! - **Reduction**: the body starts with the reduction and the index it reduces over, which
//!   binds the whole rest of the expression: `sum_j F` gives one output row per `i`,
//!   `sum_i F` one per `j`.
//! - **Formula**: Rust operators with Rust precedence (`+ - * /`, unary `-`, and the comparisons
//!   `< <= > >= == !=`, which give 1 or 0), number literals, calls of operations by the
//!   lower-case KeOps name (`exp`, `log`, `sqdist`, `pow(x, n)`, `clamp`, `weightedsqdist`,
//!   `matvecmult`, `tensordot(a, b, (2, 3), (3,), (1,), (0,))`, `complexmult`, ...: every one is
//!   in the [table of operations](#operations)), indexing `x_i[0]`, slicing `x_i[1..3]`,
//!   concatenation `[a, b]`, and `grad(F, x_i, e_i)` for gradients inside formulas. Integer
//!   attributes come after the operands. Element-wise operations broadcast a dimension-1
//!   operand, as KeOps does.
//!
//! # KeOps formula strings: `genred!`
//!
//! `genred!` takes a formula as pykeops' `Genred` does, so KeOps code ports verbatim; the kernel
//! value is the same as `keops!` makes, with the alias names as argument names:
//!
//! ```
//! let k = keops::genred!(
//!     "Exp(-SqDist(x,y)) * b",
//!     ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"],
//!     reduction = "Sum", axis = 1, dtype = f32
//! );
//! let (x, y, b) = ([0.0f32, 0.0, 0.0], [0.0f32, 1.0, 0.0, 2.0, 2.0, 0.0], [2.0f32, 3.0]);
//! let a: Vec<f32> = k.eval_flat(&[&x[..], &y[..], &b[..]])?;
//! assert!((a[0] - (2.0 * (-1.0f32).exp() + 3.0 * (-8.0f32).exp())).abs() < 1e-6);
//! // Typed: i- and j-variables as rows, parameters by value, in alias order.
//! let typed: Vec<[f32; 1]> = k.eval(&[[0.0; 3]], &[[0.0, 1.0, 0.0], [2.0, 2.0, 0.0]], &[[2.0], [3.0]])?;
//! assert_eq!(typed.as_flattened(), a);
//! # Ok::<(), keops::Error>(())
//! ```
//!
//! - **Aliases** name the inputs, in argument order: `"x = Vi(3)"` (indexed by i, dimension 3),
//!   `"y = Vj(3)"`, `"g = Pm(1)"` (a parameter, passed to `eval` by value as `g: f32` would be;
//!   `Pm(D)` as `[f32; D]`), with an explicit position `"x = Vi(0, 3)"`, the
//!   old `Vx`/`Vy`, or `"x = Var(0, 3, 0)"`. `Var(pos, dim, cat)` may also appear directly in a
//!   formula. Positions must run from 0 without gaps.
//! - **Formulas** use KeOps' names (`Exp`, `SqDist`, `WeightedSqDist`, `TensorDot`, ...: see the
//!   [table of operations](#operations)) with Python's syntax and precedence: `+ - * /`, unary
//!   `-`, `x**2`, `(x|y)` for the scalar product, the comparisons, and `IntCst(n)`,
//!   `RatCst(p, q)`, `IntInv(n)`, `Zero(d)`, `Grad(f, x, e)`.
//! - **Options** (all optional): `reduction = "Sum"` (or `reduction_op`; default `"Sum"`),
//!   `axis = 0` (0, the default as in pykeops, reduces over i, one output row per j; 1 over
//!   j, one row per i), `dtype = f32` or `f64` (or
//!   `"float32"`, `"float64"`; default f32; pykeops' old name `cuda_type` works too),
//!   `opt_arg = K` for the K-reductions, `formula2 = "..."` for `SumSoftMaxWeight` and the
//!   weighted `LogSumExp` and `Max_SumShiftExp` (see [Reductions](#reductions)), and
//!   `sum_scheme = "block_sum"` (the default), `"kahan_scheme"` (compensated sums) or
//!   `"direct_sum"` (summed as `"block_sum"`); `dtype_acc = "float64"` or `use_double_acc = true`
//!   sums float32 values in float64 (`"auto"`, `"float32"` and `false` keep the kernel's type).
//!   Float64 accumulation applies to `Sum` (selections compare exactly in any type and ignore
//!   it; the log-sum-exp and soft-max refuse it), and not together with `"kahan_scheme"`.
//!   `gpu_math = "accurate"` (the default), `"fast"` or `"reproducible"` chooses how the GPU
//!   computes `exp` (see [Determinism](#determinism)).
//!   `enable_chunks` and `rec_multVar_highdim` tune pykeops' own code generation and change
//!   nothing here. pykeops' `True` and `False` are accepted as `true` and `false`.
//! - **Errors** in the strings are compile errors that quote the offending part and give its
//!   column (a span cannot point inside a string literal on stable Rust).
//!
//! # Reductions
//!
#![doc = include_str!("../docs/reductions.md")]
//!
//! # Determinism
//!
//! CPU results are bitwise reproducible on a machine: they do not depend on the number of
//! threads, nor on which other rows are evaluated in the same call. Each row is reduced in a
//! fixed order: tiles of 1024 reduced rows, merged in order into segments of at least 16384
//! rows, merged in order, all decided by the sizes along the reduced index only. The SIMD width
//! (see [`cpu_simd`]; `KEOPS_SIMD` lowers it) does change the order, hence the last bits, and
//! so does the interpreter that debug builds run (see [below](#build-time-and-debug-builds)),
//! which reduces each row tile by tile without segments.
//!
//! On a GPU, `exp` (the hot function of Gaussian, log-sum-exp and soft-max kernels) and
//! `rsqrt` (N-body forces) are computed in one of three ways, chosen per kernel with
//! `#[gpu_math = "..."]` in front of the kernel (either form of `keops!`) or
//! `gpu_math = "..."` in `genred!`. The CPU computes the same values in every mode; other
//! functions are the CPU's on the GPU too.
//!
//! - `"accurate"`, the default: `exp` on the special-function unit (`ex2.approx`) after an
//!   exact reduction of its argument, as CUDA's `expf` does: within 1.18 ulp of `exp` for
//!   every `f32` argument with an exact `ex2` (measured exhaustively, with the emulator's
//!   semantics), plus the unit's own error; subnormal results kept. About 40 % fewer machine instructions per pair than
//!   `"reproducible"` for a Gaussian sum (BENCHMARKS.md). `rsqrt` as `rsqrt.approx` and one
//!   Newton step, within an ulp (0 at 0 and at infinity, as KeOps' `Rsqrt`): an N-body
//!   force's pair loop takes half the instructions of `"reproducible"`.
//! - `"fast"`: `ex2.approx.ftz(x * log2(e))`, as pykeops' default `-use_fast_math`: an error
//!   that grows with `|x|` (relative `(1 + |x|) 2^-23` with an exact `ex2`), results below
//!   `2^-126` flushed to zero; `f32` division and square root as `-use_fast_math` compiles
//!   them too, `div.full.ftz` (2 ulp) and `sqrt.approx.ftz` (3 ulp), and `rsqrt` as CUDA's
//!   `rsqrtf` there, `rsqrt.approx.ftz` (2 ulp; 0 at 0, as KeOps' `Rsqrt`), subnormals
//!   flushed. A Laplace kernel's pair loop takes a third of the accurate mode's instructions,
//!   an N-body force's two thirds.
//! - `"reproducible"`: the CPU's own expansions of `exp` and `rsqrt`, so that every formula
//!   value on the GPU is the CPU's to the bit (sums still differ in their order).
//!
//! `f64` kernels compute as `"reproducible"` in every mode.
//!
//! ```
//! let k = keops::keops!(#[gpu_math = "reproducible"] |x_i: [f32; 1], y_j: [f32; 1]| sum_j exp(x_i - y_j));
//! assert_eq!(k.eval(&[[0.0]], &[[0.0]])?, [[1.0]]);
//! # Ok::<(), keops::Error>(())
//! ```
//!
//! # Gradients
//!
//! Every kernel with values has its backward pass, generated with it: the gradient of
//! `sum_r <a_r, e_r>` with respect to its inputs, where `e` (the gradient flowing back into the
//! output `a`) has the output's shape, as pykeops' `torch.autograd.grad(a, x, e)`:
//!
//! - `k.grad(.., &e)` computes every input's gradient, one field per input of the returned
//!   struct (a parameter's summed over all rows);
//! - `k.grad_x_i(.., &e)`, one method per input, computes that input's alone: only its backward
//!   kernel is built into the program and run (the others would cost build time too);
//! - `k.grad_flat(pos, &inputs, &e)` is the flat form, by position (it reaches every input's
//!   backward kernel, so it builds them all), and what generic code calls ([`Kernel`]).
//!
//! ```
//! keops::keops! {
//!     struct Gauss = |x_i: [f64; 2], y_j: [f64; 2], b_j: f64| sum_j exp(-sqdist(x_i, y_j)) * b_j;
//! }
//! let (x, y, b) = ([[0.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]], [1.0, 3.0]);
//! let e = [[1.0]];
//! // d/dx_i = sum_j 2 (y_j - x_i) exp(-|x_i - y_j|^2) b_j e_i.
//! let gx: Vec<[f64; 2]> = Gauss::new().grad_x_i(&x, &y, &b, &e)?;
//! let want = [2.0 * (-1.0f64).exp(), 2.0 * 2.0 * (-4.0f64).exp() * 3.0];
//! assert!((gx[0][0] - want[0]).abs() < 1e-12 && (gx[0][1] - want[1]).abs() < 1e-12);
//! let all = Gauss::new().grad(&x, &y, &b, &e)?;
//! assert_eq!(all.x_i, gx);
//! assert_eq!(all.b_j.len(), 2);
//! # Ok::<(), keops::Error>(())
//! ```
//!
//! Sums, log-sum-exps and soft-maxes differentiate as KeOps does; min, max and K-min reductions
//! (which KeOps refuses) take the derivative at the selected pairs, and index reductions have a
//! zero gradient. Inside a formula, `grad(F, x_i, e_i)` (KeOps' `Grad`) differentiates `F`
//! symbolically, so gradients of gradients are written that way: the kernel
//! `|x_i, y_j, b_j, e_i| sum_j grad(F, x_i, e_i)` gives the same values as the kernel of `F`'s
//! `grad_x_i` with `e`, and has backward kernels of its own. Its gradient with respect to `x_i`
//! against `v` is a Hessian-vector product of `sum_i <e_i, a_i>`; when `e` depends on the
//! inputs too (pykeops' `grad((out ** 2).sum(), x, create_graph=True)` differentiated again),
//! add the path through `e`: the gradient with respect to `e_i`, passed back through the
//! first kernel's own backward pass (`tests/gradients.rs` does it for pykeops' second-order
//! tests).
//!
//! # Naming the kernel type
//!
//! The expression form gives a value of an anonymous type. To store a kernel in a struct field
//! or a `static`, use the item form, which declares a named type with a `const fn new()`:
//!
//! ```
//! keops::keops! {
//!     /// Gaussian kernel convolution.
//!     pub struct GaussConv = |x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j;
//! }
//!
//! static GAUSS: GaussConv = GaussConv::new();
//! let a = GAUSS.eval(&[[0.0; 3]], &[[0.0; 3]], &[[2.0]])?;
//! assert_eq!(a, vec![[2.0]]);
//! # Ok::<(), keops::Error>(())
//! ```
//!
//! # Calling kernels
//!
//! - `eval(...)` takes the inputs in declaration order, i- and j-variables as `&[[T; D]]`,
//!   parameters by value (`2.0` for `g: f32`, `[1.0, 2.0]` for `p: [f32; 2]`), and returns
//!   `Vec<[T; W]>`, one row per output index.
//! - `eval_flat(&[&x, &y, &b])` takes flat row-major slices in declaration order and returns the
//!   output flat, row-major.
//! - Errors (lengths that are not a multiple of the dimension, i-variables with different row
//!   counts, ...) are [`Error`] values, never panics. An index with no variable has one row, as in
//!   pykeops; an empty reduction gives the reduction's identity (0 for a sum).
//! - `on(Backend::Cpu)` picks where the kernel runs; see [`Backend`].
//! - With the `cuda` feature, `eval_device` and `eval_device_into` take inputs that stay on the
//!   GPU between calls, and leave the output there; see [`cuda`]. `ptx_modules()` gives the PTX
//!   a GPU would run, in every build, for inspection.
//!
//! ```
//! use keops::Backend;
//!
//! let k = keops::keops!(|x_i: [f32; 2], y_j: [f32; 2], s: f32| min_j s * sqdist(x_i, y_j));
//! let (x, y) = ([[0.0, 0.0], [3.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]]);
//! // Parameters are passed by value.
//! assert_eq!(k.eval(&x, &y, 0.5)?, [[0.5], [2.0]]);
//! // The same inputs, flat and row-major; a parameter is a slice of one value.
//! assert_eq!(k.eval_flat(&[&[0.0, 0.0, 3.0, 0.0][..], &[1.0, 0.0, 0.0, 2.0], &[0.5]])?, [0.5, 2.0]);
//! // What the kernel is: its inputs in declaration order, its reduction, its output widths.
//! let info = k.info();
//! assert_eq!((info.vars.len(), info.value_width, info.index_width), (3, 1, 0));
//! let on_cpu = k.on(Backend::Cpu);
//! assert_eq!(on_cpu.backend(), Backend::Cpu);
//! assert_eq!(on_cpu.eval(&x, &y, 1.0)?, [[1.0], [4.0]]);
//! // Wrong shapes are errors: three numbers are not rows of two.
//! assert!(k.eval_flat(&[&[0.0, 0.0, 3.0][..], &[1.0, 0.0], &[0.5]]).is_err());
//! for (name, ptx) in k.ptx_modules() {
//!     assert!(ptx.contains(".entry keops_reduce"), "{name}");
//! }
//! # Ok::<(), keops::Error>(())
//! ```
//!
//! # Dimensions given at run time
//!
//! With the `dynamic` feature, a variable declared `[f32; _]` takes its dimension at run time,
//! for data whose dimension is known only then, or code generic over a `const D: usize`:
//!
//! ```text
//! let k = keops::keops!(|x_i: [f32; _], y_j: [f32; _], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
//! let a: Vec<[f32; 1]> = k.eval(&x, &y, &b)?;       // x, y: &[[f32; D]] for any D
//! let a = k.with_dims(&[d, d]).eval_flat(&[&x, &y, &b])?;
//! ```
//!
//! The macro checks names, operations and arities; the dimension rules are checked when a call
//! gives the dimensions, and a mismatch is an [`Error::Dimensions`] with the macro's message.
//! Each set of dimensions is then lowered once per process (about a millisecond), by the
//! macro's own pipeline (`keops-core`, which the feature adds to the dependencies). On the CPU
//! the program is interpreted, at 0.3 to 0.45 of the speed of a kernel compiled for that
//! dimension (`BENCHMARKS.md`), and costs no build time; on a GPU it runs as the PTX the macro
//! would have generated. `grad_flat` runs the backward kernels the macro would have generated.
//! See `DynKernel` for the rest of the API and what it does not do yet.
//!
//! # Build time and debug builds
//!
//! A kernel is compiled in the crate that declares it, with that crate's profile:
//!
//! - **Optimised builds** compile each kernel for AVX-512 and AVX2 on x86-64 (NEON on aarch64),
//!   about a second of release build for a typical kernel on a 2-core machine, and under two
//!   more for its gradients (`BENCHMARKS.md` has the figures). Kernels kept in a
//!   crate of their own are not rebuilt when the rest of a program changes.
//! - **Debug builds** (`cargo build`, `cargo run`, `cargo test`) run kernels in an interpreter
//!   compiled once, in this crate, provided this crate is optimised, which a user's
//!   `Cargo.toml` asks for with `[profile.dev.package.keops] opt-level = 3`. The formula's
//!   instructions are data, each applied to a batch of SIMD values: a kernel then costs a debug
//!   build a fraction of a second, and runs within 3 times its release time. Its
//!   formula values are the compiled kernel's, to the bit; the reductions' sums may differ in
//!   the last bits. Without that line, debug builds compile their kernels, unoptimised, as
//!   before: 50 to 130 times slower than release (the interpreter, unoptimised, would be
//!   slower still), and this repository's own tests check the compiled kernels that way.
//! - Distances, dot products and summed gradients over many dimensions are compiled as loops
//!   over the components; kernels with more than about a thousand other instructions per pair
//!   (a thousand `exp`s) are interpreted in every build: compiling them would take minutes.
//! - `KEOPS_CPU=interpreter` runs the interpreter in any build, and x86-64 machines without AVX2
//!   (or `KEOPS_SIMD=baseline|scalar`) run it at their SIMD width; the `all-tiers` feature
//!   compiles kernels for those tiers too.
//!
//! # Features
//!
//! - `cuda` (default): the CUDA backend, `Backend::Cuda` and the `cuda` module (device-resident
//!   inputs and outputs). The driver is loaded at run time: binaries built with it run without
//!   a GPU. `default-features = false` leaves it (and cudarc) out of the build.
//! - `dynamic`: dimensions given at run time, `x_i: [f32; _]` (see above and `DynKernel`); adds
//!   `keops-core` to the dependencies.
//! - `ndarray`: the `ndarray` module, `ArrayView2` inputs and `Array2` outputs (ndarray 0.16
//!   or 0.17).
//! - `nalgebra`: the `nalgebra` module, points as matrix columns (`Matrix3xX`) or `&[Point3]`,
//!   `DMatrix` outputs.
//! - `faer`: the `faer` module, `MatRef` inputs and `Mat` outputs.
//! - `half`: the `half` module, `f16` and `bf16` inputs and outputs for `f32` kernels (the
//!   `half` crate's types), computed and accumulated in `f32`.
//! - `candle`: the `candle` module, kernels as differentiable ops on candle `Tensor`s (Rust 1.94
//!   or later, as candle-core 0.11 needs; the rest of the crate builds with Rust 1.89).
//!
//! The three array modules read inputs in place when their memory already holds row-major rows,
//! and copy them otherwise ([`Rows`]).
//! - `all-tiers`: for tests, compiles every kernel for every CPU tier (see
//!   [above](#build-time-and-debug-builds)).
//!
//! # Operations
//!
#![doc = include_str!("../docs/ops.md")]
// docs.rs (`--cfg docsrs`, nightly) marks each feature-gated item with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate self as keops;

mod backend;
pub mod batch;
#[cfg(feature = "candle")]
pub mod candle;
mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "dynamic")]
mod dynamic;
mod error;
mod eval;
#[cfg(feature = "faer")]
pub mod faer;
mod grad;
#[cfg(feature = "half")]
pub mod half;
mod info;
mod kernel;
#[cfg(feature = "nalgebra")]
pub mod nalgebra;
#[cfg(feature = "ndarray")]
pub mod ndarray;
pub mod ranges;
mod rows;
mod solve;

pub use backend::Backend;
pub use cpu::math::Real;
#[cfg(feature = "dynamic")]
pub use dynamic::DynKernel;
pub use error::{Error, Result};
pub use info::{Index, KernelInfo, VarInfo};
#[doc(hidden)]
pub use keops_macros::{__op_table_kernels, __reduction_kernels};
pub use keops_macros::{genred, keops};
pub use kernel::{FlatKernel, Kernel, ParamValue};
pub use rows::Rows;
pub use solve::{Solution, SolveGradient, SolveOptions, StopRule, conjugate_gradient};

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

/// The SIMD instruction set CPU kernels use on this machine: `"avx512"`, `"avx2"`, `"sse2"`,
/// `"neon"` or `"scalar"` (chosen at run time; `KEOPS_SIMD` can lower it), or `"wide"`, the
/// portable lanes at AVX-512's widths that `KEOPS_SIMD=wide` picks with the `all-tiers`
/// feature (for tests). Below AVX2 on x86-64, kernels are interpreted (see the crate
/// documentation).
pub fn cpu_simd() -> &'static str {
    cpu::simd::tier().name()
}

/// What `keops!` generates for a kernel with dimensions given at run time (`[f32; _]`): the
/// items (`items: Name; ...`), or a block giving a value (`value: { ... }`).
#[cfg(feature = "dynamic")]
#[doc(hidden)]
#[macro_export]
macro_rules! __dynamic_kernel {
    (items: $name:ident; $($item:item)*) => { $($item)* };
    (value: $block:block) => { $block };
}

/// Without the `dynamic` feature: a compile error saying how to enable it.
#[cfg(not(feature = "dynamic"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __dynamic_kernel {
    (items: $name:ident; $($item:item)*) => {
        ::core::compile_error!("a dimension `_`, given at run time, needs keops' `dynamic` feature: `keops = { version = \"0.1\", features = [\"dynamic\"] }` in Cargo.toml");
        #[allow(dead_code)]
        struct $name;
    };
    // The error as the value: rustc types it as an error, so the caller's uses of the kernel
    // report nothing more.
    (value: $block:block) => {
        (::core::compile_error!("a dimension `_`, given at run time, needs keops' `dynamic` feature: `keops = { version = \"0.1\", features = [\"dynamic\"] }` in Cargo.toml"))
    };
}

/// Items used by generated code. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::cpu::interp::Call;
    pub use crate::cpu::math::{Math, Real, Scalar};
    pub use crate::cpu::reduce::{
        DoubleSum, Extremum, KMin, KahanSum, LogSumExp, LogSumExpWeight, Reducer, Sum, SumOfProducts,
        SumSoftMaxWeight,
    };
    pub use crate::eval::{eval_both, eval_flat, eval_indices, eval_values};
    pub use crate::grad::{Backprop, array, rows};
    pub use crate::kernel::{Array, GpuModule, KernelDef, ptx_entry, run_compiled, run_interpreted};

    /// The interpreter's program, as generated code declares it.
    pub mod interp {
        pub use crate::cpu::interp::{Differences, Inst, Op, PairStage, Prepass, Program, Reduction, Term};
    }
}
