//! What a kernel's module is printed from, and where its values live: the block size, the
//! shared memory per thread, and a large kernel's per-thread slots (see the module
//! documentation).

use std::collections::HashMap;

use crate::ast::GpuMath;
use crate::check::Kernel;
use crate::codegen::{Lowered, lower_kernel_into};
use crate::ir::{DType, Role};
use crate::lower::Program;
use crate::lower::{Staged, Val};
use crate::prim::Prim;
use crate::reduction::Reduction;

use super::emit::size;
use super::rule::{Loc, Rule};
use super::{BLOCK, LARGE_WORDS, RESIDENT_WORDS, SHARED, SHARED_OPT_IN, STATE_WORDS};

/// Everything a kernel's text is printed from.
pub(crate) struct Spec<'a> {
    pub(crate) dtype: DType,
    /// How `exp` is computed: [`GpuMath::Reproducible`] in `f64`.
    pub(crate) math: GpuMath,
    /// Role and dimension of each declared variable.
    pub(crate) vars: Vec<(Role, usize)>,
    pub(crate) reduction: Reduction,
    pub(crate) lowered: &'a Lowered,
    /// The formula, on one line, for the header comment.
    pub(crate) about: String,
    /// The placement of a large kernel's values ([`Spec::large`]).
    pub(crate) large: Option<Large>,
}

/// Where a large kernel keeps what does not fit in registers: per-thread slots in shared memory,
/// slot `k` of thread `t` at `(k * block + t) * bytes` (so that a warp's accesses fall in
/// distinct banks), the float slots first (the output-row features that are not resident, then
/// the states), then the `u32` slots of the states' indices, then the tile of reduced-row
/// features as for small kernels.
#[derive(Clone, Debug)]
pub(crate) struct Large {
    /// Threads per block, which the slot layout is built for: a launch must have at most as
    /// many.
    pub(crate) block: usize,
    /// The output-row features kept in shared memory, and their float slots.
    pub(crate) outer: HashMap<Val, usize>,
    /// Whether the reduction states live in shared memory.
    pub(crate) state: bool,
    /// Float slots per thread (the `u32` slots follow).
    pub(crate) floats: usize,
    /// Bytes of slots per thread, a multiple of 8.
    pub(crate) slot_bytes: usize,
}

/// Allocates a large kernel's per-thread slots, in the order of [`Large`].
pub(crate) struct Slots {
    /// The thread's first float slot and first `u32` slot.
    pub(crate) floats: String,
    pub(crate) ints: String,
    /// Bytes between two slots of a thread: `block * bytes`.
    pub(crate) float_stride: usize,
    pub(crate) int_stride: usize,
    pub(crate) next_float: usize,
    pub(crate) next_int: usize,
}

impl Slots {
    pub(crate) fn float(&mut self) -> Loc {
        self.next_float += 1;
        Loc::Shared {
            base: self.floats.clone(),
            offset: (self.next_float - 1) * self.float_stride,
            int: false,
        }
    }

    pub(crate) fn int(&mut self) -> Loc {
        self.next_int += 1;
        Loc::Shared { base: self.ints.clone(), offset: (self.next_int - 1) * self.int_stride, int: true }
    }
}

/// Calls `f` with the plan of `kernel`.
///
/// A small kernel's sum of per-pair products (`K(x_i, y_j) * b_j`) accumulates each product with
/// one fused multiply-add, as the CPU kernels do (see [`Lowered::factored`]): one instruction
/// a component instead of two, and the same rounding as the CPU's. A large kernel streams its
/// components one at a time and keeps the plain products.
pub(crate) fn plan<R>(kernel: &Kernel, f: impl FnOnce(&Spec) -> R) -> R {
    // `f64` has no special-function unit.
    let math = if kernel.dtype == DType::F64 { GpuMath::Reproducible } else { kernel.gpu_math };
    let program = match math {
        GpuMath::Reproducible => Program::new(kernel.dtype),
        GpuMath::Accurate | GpuMath::Fast => Program::with_native(kernel.dtype, &[Prim::Exp, Prim::Rsqrt]),
    };
    let lowered = lower_kernel_into(kernel, program);
    let about = kernel.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let vars: Vec<(Role, usize)> = kernel.params.iter().map(|p| (p.role, p.dim)).collect();
    let spec =
        |lowered| Spec::new(kernel.dtype, math, vars.clone(), kernel.reduction, lowered, about.clone());
    let factored = if kernel.reduction.plain_sum() { lowered.factored(kernel) } else { None };
    if let Some(products) = &factored {
        let fused = spec(products);
        if fused.large.is_none() {
            return f(&fused);
        }
    }
    f(&spec(&lowered))
}

impl<'a> Spec<'a> {
    /// The plan of `lowered`, a kernel of `dtype` computing `exp` as `math` says, with
    /// variables `vars` (role and dimension each) reduced by `reduction`; `about` says what it
    /// computes, for the reader.
    pub(crate) fn new(
        dtype: DType,
        math: GpuMath,
        vars: Vec<(Role, usize)>,
        reduction: Reduction,
        lowered: &'a Lowered,
        about: String,
    ) -> Spec<'a> {
        let mut spec = Spec { dtype, math, vars, reduction, lowered, about, large: None };
        spec.large = spec.large();
        spec
    }
}

impl Spec<'_> {
    pub(crate) fn staged(&self) -> &Staged {
        &self.lowered.staged
    }

    /// Words (32-bit registers) of `n` floats of the kernel's type.
    pub(crate) fn words(&self, n: usize) -> usize {
        n * size(self.dtype) / 4
    }

    /// Bytes of one reduced row's features in the shared tile. A small kernel's rows are padded
    /// to start on a 16-byte boundary (on 4 or 8 for smaller rows): the machine code then loads
    /// and stores four floats (two doubles) per instruction, where a row of 3 or 65 floats took
    /// one per float. A large kernel's are not: it loads each feature right before its use, and
    /// wider loads would keep features live early and spill.
    pub(crate) fn row_bytes(&self) -> usize {
        let bytes = self.staged().inner_features.len() * size(self.dtype);
        match bytes {
            _ if self.large.is_some() => bytes,
            0..=16 => bytes.next_power_of_two() * usize::from(bytes > 0),
            _ => bytes.next_multiple_of(16),
        }
    }

    /// The placement of a large kernel's values, or `None` for a kernel small enough to keep
    /// everything in registers (see [`LARGE_WORDS`]).
    pub(crate) fn large(&self) -> Option<Large> {
        let staged = self.staged();
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let rule = Rule(self.reduction);
        let (nv, ni) = rule.widths(nf, ng);
        let copies = if rule.tiled() { 2 } else { 1 };
        let state_words = copies * (self.words(nv) + ni);
        let (outer, inner) = (staged.outer_features.len(), staged.inner_features.len());
        if self.words(outer + inner) + state_words <= LARGE_WORDS {
            return None;
        }
        let state = state_words > STATE_WORDS;
        let budget = RESIDENT_WORDS.saturating_sub(if state { 0 } else { state_words });
        let resident = budget * 4 / size(self.dtype);
        let shared_outer: HashMap<Val, usize> =
            staged.outer_features.iter().skip(resident).enumerate().map(|(k, &v)| (v, k)).collect();
        let floats = shared_outer.len() + if state { copies * nv } else { 0 };
        let ints = if state { copies * ni } else { 0 };
        let slot_bytes = (floats * size(self.dtype) + ints * 4).next_multiple_of(8);
        let per_thread = slot_bytes + inner * size(self.dtype);
        let powers = || (0..=BLOCK.trailing_zeros()).rev().map(|k| 1usize << k);
        let block = match powers().find(|&b| b * per_thread <= SHARED) {
            Some(b) if b >= 32 => b,
            _ => powers().find(|&b| b <= 32 && b * per_thread <= SHARED_OPT_IN).unwrap_or(1),
        };
        Some(Large { block, outer: shared_outer, state, floats, slot_bytes })
    }

    /// How the module is launched: threads per block, bytes of dynamic shared memory per
    /// thread, and the floats and indices of a partial result of the 2D scheme.
    pub(crate) fn launch(&self) -> (u32, u32, (u32, u32)) {
        let mut per_thread = self.row_bytes();
        let block = match (per_thread, &self.large) {
            (_, Some(large)) => {
                per_thread += large.slot_bytes;
                large.block
            }
            (0, None) => BLOCK,
            (n, None) => (SHARED / n / 32 * 32).clamp(32, BLOCK),
        };
        let block = u32::try_from(block).unwrap_or_else(|_| unreachable!("block sizes are at most {BLOCK}"));
        let shared_per_thread = u32::try_from(per_thread).unwrap_or(u32::MAX);
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let (pv, pi) = Rule(self.reduction).widths(nf, ng);
        let partial_widths = (u32::try_from(pv).unwrap_or(u32::MAX), u32::try_from(pi).unwrap_or(u32::MAX));
        (block, shared_per_thread, partial_widths)
    }
}
