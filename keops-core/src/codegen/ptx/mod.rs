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
//! The kernels follow the GPU plan of [`super::gpu`] (its scheme, and how large kernels keep
//! what does not fit in registers); this module prints that plan as PTX.
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
//! - `text`: a module's text: its header, its entry points' parameters and registers;
//! - `writer`: a body being written (the GPU plan's `Emit` for PTX), its registers, and
//!   the one lowering of each primitive.
//!
//! # Testing without a GPU
//!
//! The unit tests run the kernels in an emulator of the PTX subset emitted here, bit for bit
//! against the CPU semantics of every primitive and against the reference evaluator for every
//! reduction, in both schemes, small and large kernels; `tests/ptxas.rs` assembles the modules
//! with a real `ptxas` and checks that the D = 3 Gaussian kernels and the D = 256 kernels do not
//! spill.

use crate::ast::GpuMath;
use crate::backward::{Auxiliary, Backward};
use crate::check::Kernel;
use crate::codegen::Lowered;
use crate::ir::{DType, Role};
use crate::lower::{Program, Staged};
use crate::prim::Prim;
use crate::reduction::{Reduction, ReductionKind, SumScheme};

pub use keops_abi::{ENTRY, ENTRY_2D, ENTRY_MERGE};

use super::gpu::{self, Spec};

mod text;
mod writer;

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

/// The forward module of one kernel, as [`gpu::plan`](super::gpu) plans it.
pub fn module(kernel: &Kernel, name: String) -> Module {
    gpu::plan(kernel, |spec| text::module(spec, name))
}

/// Bytes of shared memory that each pair of `kernel`'s [`ENTRY`] loads (its reduced row's
/// features), for tests that count the pairs of a loop in its machine code. Not a stable API.
#[doc(hidden)]
pub fn tile_row_bytes(kernel: &Kernel) -> usize {
    gpu::plan(kernel, |spec| spec.row_bytes())
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
    let spec = Spec::new(dtype, GpuMath::Reproducible, vars, reduction, &lowered, about);
    text::module(&spec, format!("primitives_{}", dtype.name()))
}

#[cfg(test)]
mod emulator;
#[cfg(test)]
mod tests;
