//! What a kernel's module is printed from, and where its values live: the block size, the
//! shared memory per thread, and a large kernel's per-thread slots (see the `ptx` module's
//! documentation).

use std::collections::HashMap;

use crate::codegen::Lowered;
use crate::ir::{DType, Role};
use crate::lower::{Staged, Val};
use crate::reduction::Reduction;

use super::rule::{Loc, Rule};
use super::writer::size;
use super::{BLOCK, LARGE_WORDS, Module, RESIDENT_WORDS, SHARED, SHARED_OPT_IN, STATE_WORDS};

/// Everything a kernel's text is printed from.
pub(super) struct Spec<'a> {
    pub(super) dtype: DType,
    /// Role and dimension of each declared variable.
    pub(super) vars: Vec<(Role, usize)>,
    pub(super) reduction: Reduction,
    pub(super) lowered: &'a Lowered,
    /// The formula, on one line, for the header comment.
    pub(super) about: String,
    /// The placement of a large kernel's values ([`Spec::large`]).
    pub(super) large: Option<Large>,
}

/// Where a large kernel keeps what does not fit in registers: per-thread slots in shared memory,
/// slot `k` of thread `t` at `(k * block + t) * bytes` (so that a warp's accesses fall in
/// distinct banks), the float slots first (the output-row features that are not resident, then
/// the states), then the `u32` slots of the states' indices, then the tile of reduced-row
/// features as for small kernels.
#[derive(Clone, Debug)]
pub(super) struct Large {
    /// Threads per block, which the slot layout is built for: a launch must have at most as
    /// many.
    pub(super) block: usize,
    /// The output-row features kept in shared memory, and their float slots.
    pub(super) outer: HashMap<Val, usize>,
    /// Whether the reduction states live in shared memory.
    pub(super) state: bool,
    /// Float slots per thread (the `u32` slots follow).
    pub(super) floats: usize,
    /// Bytes of slots per thread, a multiple of 8.
    pub(super) slot_bytes: usize,
}

/// Allocates a large kernel's per-thread slots, in the order of [`Large`].
pub(super) struct Slots {
    /// The thread's first float slot and first `u32` slot.
    pub(super) floats: String,
    pub(super) ints: String,
    /// Bytes between two slots of a thread: `block * bytes`.
    pub(super) float_stride: usize,
    pub(super) int_stride: usize,
    pub(super) next_float: usize,
    pub(super) next_int: usize,
}

impl Slots {
    pub(super) fn float(&mut self) -> Loc {
        self.next_float += 1;
        Loc::Shared {
            base: self.floats.clone(),
            offset: (self.next_float - 1) * self.float_stride,
            int: false,
        }
    }

    pub(super) fn int(&mut self) -> Loc {
        self.next_int += 1;
        Loc::Shared { base: self.ints.clone(), offset: (self.next_int - 1) * self.int_stride, int: true }
    }
}

impl Spec<'_> {
    pub(super) fn staged(&self) -> &Staged {
        &self.lowered.staged
    }

    /// Words (32-bit registers) of `n` floats of the kernel's type.
    pub(super) fn words(&self, n: usize) -> usize {
        n * size(self.dtype) / 4
    }

    /// Bytes of one reduced row's features in the shared tile. A small kernel's rows are padded
    /// to start on a 16-byte boundary (on 4 or 8 for smaller rows): the machine code then loads
    /// and stores four floats (two doubles) per instruction, where a row of 3 or 65 floats took
    /// one per float. A large kernel's are not: it loads each feature right before its use, and
    /// wider loads would keep features live early and spill.
    pub(super) fn row_bytes(&self) -> usize {
        let bytes = self.staged().inner_features.len() * size(self.dtype);
        match bytes {
            _ if self.large.is_some() => bytes,
            0..=16 => bytes.next_power_of_two() * usize::from(bytes > 0),
            _ => bytes.next_multiple_of(16),
        }
    }

    /// The placement of a large kernel's values, or `None` for a kernel small enough to keep
    /// everything in registers (see [`LARGE_WORDS`]).
    pub(super) fn large(&self) -> Option<Large> {
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

    pub(super) fn module(&self, name: String) -> Module {
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
        Module { name, ptx: self.text(), block, shared_per_thread, partial_widths }
    }
}
