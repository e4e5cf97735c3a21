//! The GPU plan, shared by every GPU target: how a kernel's reduction is split over threads,
//! blocks and shared memory, and the bodies of its entry points written in the operations of
//! `Emit`, which each target implements (PTX's is in [`super::ptx`]).
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
//! - [`ENTRY_MERGE`](keops_abi::ENTRY_MERGE) merges a state of more than `MERGE_WORDS` (64) words (merged and loaded
//!   together) a group of components at a time (sums and selections; log-sum-exp and soft-max
//!   states are merged whole).
//!
//! Every value is the one the small kernels compute, by the same instructions, but for sums of
//! per-pair products, which a small kernel fuses into its accumulators (see [`module()`](super::ptx::module)) and a
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
//! # Files
//!
//! - `emit`: the seam, the operations a target implements;
//! - `layout`: what a module is printed from, its block size and shared memory, and where a
//!   large kernel keeps what does not fit in registers;
//! - `kernel`: the bodies of the three entry points;
//! - `rule`: reduction states, and each accumulator's initialisation, step, merge and
//!   finalisation.

#[cfg(test)]
pub(crate) use emit::size;
pub(crate) use emit::{Class, Cmp, Emit, IntOp, Loop, Space};
pub(crate) use layout::{Spec, plan};

mod emit;
mod kernel;
mod layout;
mod rule;
#[cfg(test)]
mod tests;

/// Threads per block, unless the tile of reduced-row features would not fit in [`SHARED`].
pub(crate) const BLOCK: usize = 256;

/// Shared memory a tile may take: what every device grants without an opt-in.
const SHARED: usize = 48 * 1024;

/// Shared memory a block of a large kernel may take when [`SHARED`] does not hold a warp: what
/// the devices of compute capability 7.0 and above (7.5 apart) grant with an opt-in.
const SHARED_OPT_IN: usize = 96 * 1024;

/// 32-bit registers of output-row features, reduction states (tile and total) and reduced-row
/// features above which a kernel is large (`Large`). Below it (a 64-dimensional Gaussian
/// kernel in f32 is 140), everything stays in registers.
const LARGE_WORDS: usize = 160;

/// 32-bit registers a large kernel keeps output-row features in; the others live in shared
/// memory.
const RESIDENT_WORDS: usize = 128;

/// 32-bit registers a large kernel's reduction states (tile and total) may take; a larger state
/// lives in shared memory.
const STATE_WORDS: usize = 32;

/// 32-bit registers of the merged and the loaded state that [`ENTRY_MERGE`](keops_abi::ENTRY_MERGE) works on at a
/// time: a wider state is merged a group of components at a time.
const MERGE_WORDS: usize = 64;
