//! The PTX code generator: GPU kernels as PTX text, printed at compile time from the same staged
//! scalar program as the Rust kernels ([`super::lower_kernel`]).
//!
//! Only basic [`Prim`]s reach a backend (the transcendental functions are already expanded into
//! them), and each has exactly one lowering here (`Ptx::prim`), with the reference semantics of
//! [`crate::prim`]: every arithmetic instruction rounds to nearest (`.rn`, so that `ptxas` never
//! contracts a multiplication and an addition into a fused one the CPU does not make), division
//! and square root are correctly rounded, subnormals are kept (no `.ftz`), no `.approx`
//! instruction is used, and `min` / `max` are the C ternaries rather than PTX's `min` (which
//! ignores NaN). A GPU kernel therefore computes the same formula values as the CPU kernel, bit
//! for bit; only the order of accumulation in reductions differs.
//!
//! # Scheme
//!
//! KeOps' `GpuReduc1D`: one thread per output row. A thread computes its row's features (the
//! values that depend on the output row and the parameters only) once, into registers. The
//! reduced rows are then visited tile by tile, a tile being as many rows as the block has
//! threads: each thread computes the features of one reduced row of the tile and stores them in
//! shared memory, and after a barrier every thread runs the per-pair program against each row
//! of the tile and folds the result into its accumulators, which stay in registers. Sums,
//! log-sum-exps and soft-maxes accumulate each tile apart and then merge it into the row's total
//! (KeOps' block sum); selections fold into the total directly. Ties resolve to the lowest
//! index, and an empty reduction gives the CPU's identities.
//!
//! # Large kernels
//!
//! A kernel whose output-row features, reduction states (tile and total) and reduced-row
//! features take more than `LARGE_WORDS` (160) 32-bit registers (e.g. a Gaussian kernel in
//! dimension 256; D = 64 in f32 is 140 and stays as above) would spill if it kept all of them
//! in registers, so it keeps part of them in shared memory instead (`Large`):
//!
//! - the output row's features beyond the first `RESIDENT_WORDS` (128) words, and the
//!   reduction states when they take more than `STATE_WORDS` (32) words, live in per-thread
//!   slots: slot `k` of thread `t` at `(k * block + t) * bytes`, so that a warp's accesses fall
//!   in distinct banks; the tile of reduced-row features follows the slots;
//! - the pair program is streamed: each component of the formulas is computed right before the
//!   reduction takes it in, each feature is loaded from shared memory right before its first
//!   use, and values of one instruction on features (the differences of a distance) are
//!   computed again where they are used rather than kept live;
//! - values are stored to shared memory as soon as the prepasses compute them, and the final
//!   results written out as soon as they are loaded or computed;
//! - [`ENTRY_MERGE`] merges a state of more than `MERGE_WORDS` (64) words (merged and loaded
//!   together) a group of components at a time (sums and selections; log-sum-exp and soft-max
//!   states are merged whole).
//!
//! Every value is the one the small kernels compute, by the same instructions, but for sums of
//! per-pair products, which a small kernel fuses into its accumulators (see [`module()`]) and a
//! large one rounds before adding. The block is
//! the largest power of two up to 256 threads whose shared memory fits in 48 KiB, when that is a
//! warp or more; otherwise the largest up to 32 that fits in `SHARED_OPT_IN` (96 KiB, what
//! every device of compute capability 7.0 or more grants with an opt-in, 7.5 apart), down to a
//! single thread. Dimension-256 kernels take 8 to 32 threads and 48 to 78 KiB per block, and
//! about 170 registers.
//!
//! When there are too few output rows to fill the device, the 2D scheme splits the reduced
//! rows into chunks as well: block `(x, y)` reduces the output rows of block `x` over chunk `y`
//! and writes its accumulators unfinalised, and a merge kernel (one thread per output row)
//! merges the chunks in order and finalises, which gives the same results up to the order of
//! the additions.
//!
//! # Kernel ABI
//!
//! Every module ([`Module`]) is a complete PTX text (`.version 7.0`, `.target sm_70`,
//! `.address_size 64`; the driver compiles it for any newer GPU) with three entry points.
//! Pointers are `.u64` global addresses, counts `.u32`; floats are the kernel's type, indices
//! `u32`; every array is row-major. An i- or j-variable of dimension `D` is `rows * D` floats, a
//! parameter its `D` floats. "Variables" are the kernel's declared variables in declaration
//! order (for a backward kernel, its forward kernel's followed by the extra inputs of its
//! [`Backward`] plan). Nothing is launched when `outer_rows` is 0. Row counts are 32-bit and
//! loops step by whole blocks, so the runtime must keep `outer_rows + block`,
//! `inner_rows + block`, `chunks * chunk` and `chunks * outer_rows` below 2^32 (refusing or
//! splitting larger calls).
//!
//! - [`ENTRY`] `keops_reduce(variables..., values, indices, outer_rows, inner_rows)`: the whole
//!   reduction. `values` receives `outer_rows * value_width` floats (a K-reduction's slot `k` of
//!   component `c` at `k * D + c`, as on the CPU), `indices` `outer_rows * index_width` indices;
//!   either may be null when its width is 0. Launch a grid of `ceil(outer_rows / block)` blocks
//!   of `block` threads with `block * Module::shared_per_thread` bytes of dynamic shared
//!   memory, where `block` is [`Module::block`], the size chosen for the kernel (a small kernel
//!   also runs with any other multiple of 32 up to 1024; a large kernel's shared memory is laid
//!   out for at most [`Module::block`] threads). [`Module::block`] keeps the shared memory within
//!   the 48 KiB every device grants, except for kernels with more than 1536 bytes of features
//!   per reduced row and some large kernels, for which the runtime must raise the function's
//!   dynamic shared memory limit (or the launch fails); none needs more than 96 KiB.
//! - [`ENTRY_2D`] `keops_reduce_2d(variables..., partial_values, partial_indices, outer_rows,
//!   inner_rows, chunk)`: the same on a grid of `(ceil(outer_rows / block), chunks)` blocks,
//!   block `(x, y)` reducing the reduced rows `y * chunk .. min((y + 1) * chunk, inner_rows)`
//!   (`chunk` a multiple of `block`, `chunks = ceil(inner_rows / chunk)`, at least 1). The
//!   partial result of output row `r` in chunk `y` is slot `y * outer_rows + r` of
//!   `partial_values` (slots of `Module::partial_widths.0` floats) and of `partial_indices`
//!   (slots of `Module::partial_widths.1` indices; null when that width is 0).
//! - [`ENTRY_MERGE`] `keops_merge(partial_values, partial_indices, values, indices, outer_rows,
//!   chunks)`: one thread per output row, any block size, no shared memory; writes `values` and
//!   `indices` as [`ENTRY`] does.
//!
//! Backward kernels of `Sum`, `LogSumExp` and `SumSoftMaxWeight` are reductions like any other
//! and get a module each, as does the auxiliary forward kernel of a backward pass. The gradients
//! of selections (`Min`, `KMin`, ...) evaluate a derivative at the selected pairs and have no GPU
//! kernel yet. Large dimensions are unrolled (no loops over components): a large kernel's code
//! grows with its dimension, but its registers do not.
//!
//! # Files
//!
//! - `layout`: what a module is printed from, its block size and shared memory, and where a
//!   large kernel keeps what does not fit in registers;
//! - `kernel`: the text of the three entry points;
//! - `writer`: a body being written, its registers, and the one lowering of each primitive;
//! - `rule`: reduction states, and each accumulator's initialisation, step, merge and
//!   finalisation.
//!
//! # Testing without a GPU
//!
//! The unit tests run the kernels in an emulator of the PTX subset emitted here, bit for bit
//! against the CPU semantics of every primitive and against the reference evaluator for every
//! reduction, in both schemes, small and large kernels; `tests/ptxas.rs` assembles the modules
//! with a real `ptxas` and checks that the D = 3 Gaussian kernels and the D = 256 kernels do not
//! spill.

use crate::backward::{Auxiliary, Backward};
use crate::check::Kernel;
use crate::codegen::{Lowered, lower_kernel};
use crate::ir::{DType, Role};
use crate::lower::{Program, Staged};
use crate::prim::Prim;
use crate::reduction::{Reduction, ReductionKind, SumScheme};

pub use keops_abi::{ENTRY, ENTRY_2D, ENTRY_MERGE};

use layout::Spec;

mod kernel;
mod layout;
mod rule;
mod writer;

/// Threads per block, unless the tile of reduced-row features would not fit in [`SHARED`].
const BLOCK: usize = 256;

/// Shared memory a tile may take: what every device grants without an opt-in.
const SHARED: usize = 48 * 1024;

/// Shared memory a block of a large kernel may take when [`SHARED`] does not hold a warp: what
/// the devices of compute capability 7.0 and above (7.5 apart) grant with an opt-in.
const SHARED_OPT_IN: usize = 96 * 1024;

/// 32-bit registers of output-row features, reduction states (tile and total) and reduced-row
/// features above which a kernel is large ([`Large`](layout::Large)). Below it (a 64-dimensional Gaussian
/// kernel in f32 is 140), everything stays in registers.
const LARGE_WORDS: usize = 160;

/// 32-bit registers a large kernel keeps output-row features in; the others live in shared
/// memory.
const RESIDENT_WORDS: usize = 128;

/// 32-bit registers a large kernel's reduction states (tile and total) may take; a larger state
/// lives in shared memory.
const STATE_WORDS: usize = 32;

/// 32-bit registers of the merged and the loaded state that [`ENTRY_MERGE`] works on at a
/// time: a wider state is merged a group of components at a time.
const MERGE_WORDS: usize = 64;

/// A GPU kernel as the generator makes it: its PTX text and launch geometry, with the names
/// the Rust generator gives the kernel types.
pub type Module = keops_abi::GpuModule<String>;

/// The modules of `kernel` (named `name`) and, given its backward plan, of its backward and
/// auxiliary kernels.
pub fn modules(kernel: &Kernel, name: &str, backward: Option<&(Vec<Backward>, Auxiliary)>) -> Vec<Module> {
    let mut out = vec![module(kernel, name.to_string())];
    if let Some((plans, aux)) = backward {
        if let Some(a) = aux.log_sum_exp.as_ref().or(aux.selection.as_ref()) {
            out.push(module(a, format!("{name}__Aux")));
        }
        for (pos, plan) in plans.iter().enumerate() {
            if let Backward::Reduction { kernel, .. } = plan {
                out.push(module(kernel, format!("{name}__Grad{pos}")));
            }
        }
    }
    out
}

/// The forward module of one kernel.
///
/// A small kernel's sum of per-pair products (`K(x_i, y_j) * b_j`) accumulates each product with
/// one fused multiply-add, as the CPU kernels do (see [`Lowered::factored`]): one instruction
/// a component instead of two, and the same rounding as the CPU's. A large kernel streams its
/// components one at a time and keeps the plain products.
pub fn module(kernel: &Kernel, name: String) -> Module {
    let lowered = lower_kernel(kernel);
    let spec = |lowered| {
        let mut spec = Spec {
            dtype: kernel.dtype,
            vars: kernel.params.iter().map(|p| (p.role, p.dim)).collect(),
            reduction: kernel.reduction,
            lowered,
            about: kernel.text.split_whitespace().collect::<Vec<_>>().join(" "),
            large: None,
        };
        spec.large = spec.large();
        spec
    };
    let factored = if kernel.reduction.plain_sum() { lowered.factored(kernel) } else { None };
    if let Some(products) = &factored {
        let fused = spec(products);
        if fused.large.is_none() {
            return fused.module(name);
        }
    }
    spec(&lowered).module(name)
}

/// A module applying every basic primitive in the kernel's type, with operands in registers and
/// with a constant in each position, in both prepasses and the pair stage; for tests (and
/// `ptxas` runs) of the lowerings. Not a stable API.
#[doc(hidden)]
pub fn primitive_module(dtype: DType) -> Module {
    let mut p = Program::new(dtype);
    let regs = [p.load(0, 0), p.load(1, 0), p.load(1, 1)];
    let c = p.constant(0.75);
    let mut outputs = Vec::new();
    for &prim in Prim::ALL.iter().filter(|p| !p.is_expanded()) {
        let args = &regs[..prim.arity()];
        outputs.push(p.prim(prim, args));
        for k in 0..args.len() {
            let mut with_constant = args.to_vec();
            with_constant[k] = c;
            outputs.push(p.prim(prim, &with_constant));
        }
        // Per reduced row (both operands of the j side) and per output row.
        let inner = [regs[1], regs[2], regs[1]];
        outputs.push(p.prim(prim, &inner[..prim.arity()]));
        let outer = [regs[0], c, regs[0]];
        outputs.push(p.prim(prim, &outer[..prim.arity()]));
    }
    let roles = [Role::I, Role::J];
    let nf = outputs.len();
    let lowered = Lowered { staged: Staged::new(p, outputs, &roles, Role::I), nf };
    let reduction = Reduction { kind: ReductionKind::Sum, k: 1, over: Role::J, scheme: SumScheme::Block };
    let vars = vec![(Role::I, 1), (Role::J, 2)];
    let about = "every basic primitive".to_string();
    let mut spec = Spec { dtype, vars, reduction, lowered: &lowered, about, large: None };
    spec.large = spec.large();
    spec.module(format!("primitives_{}", dtype.name()))
}

#[cfg(test)]
mod emulator;
#[cfg(test)]
mod tests;
