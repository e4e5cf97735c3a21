//! Reductions on the CPU: accumulator, update, merge and finalisation, per lane.
//!
//! A reduction keeps one accumulator per lane (each lane sees every `LANES`-th reduced index),
//! merges accumulators of consecutive ranges (tiles, then segments), and collapses the lanes at
//! the end. Merges always put the earlier range first, so ties resolve to the lowest index and
//! results do not depend on how work was split between threads.
//!
//! Semantics follow KeOps (see keops-core's `Reduction::reduce_reference`, which tests compare
//! against): an empty reduction gives 0 (sums), +inf / -inf (min / max), index 0, and -inf for
//! log-sum-exp. K-min slots that no value fills hold +inf and index 0. NaN values are never
//! selected by min/max/K-min reductions (they compare false, as in KeOps' `a < b` tests); they
//! propagate through sums, log-sum-exp and soft-max. Infinities follow the limits: log-sum-exp
//! of only -inf values is -inf, with a +inf value it is +inf, and the soft-max averages `V` over
//! the +inf values of `F` (KeOps gives NaN in these three cases, from `exp(inf - inf)`).
//!
//! One file per family of accumulators, as keops-core's `reduction` table groups them: `sum`
//! (plain, compensated, in f64, and of products with the scaled features' two-pass schedule),
//! `extremum`, `kmin`, `log_sum_exp` and `soft_max`, which share `running_max`.

mod extremum;
mod kmin;
mod log_sum_exp;
mod running_max;
mod soft_max;
mod sum;

pub use extremum::Extremum;
pub use kmin::KMin;
pub use log_sum_exp::{LogSumExp, LogSumExpWeight};
pub(crate) use running_max::{NEGLIGIBLE_EXPONENT, add_exp, negligible};
pub use soft_max::SumSoftMaxWeight;
pub use sum::{DoubleSum, KahanSum, Sum, SumOfProducts};
pub(crate) use sum::{
    WideLanes, kahan_add, kahan_collapse, kahan_merge, wide_add, wide_collapse, wide_merge,
};

use std::mem::MaybeUninit;

use crate::cpu::MAX_LANES;
use crate::cpu::math::{Math, Real};
use crate::kernel::KernelDef;

/// One-lane arithmetic of a kernel's element type.
pub(super) type Scalar<K> = <<K as KernelDef>::T as Real>::Scalar;

/// A pair's formula value and weights (`F`, `G`), for the lanes of `V`.
pub type PairValues<K, V> = (<K as KernelDef>::F<V>, <K as KernelDef>::G<V>);

/// A reduction of a kernel's formula values.
pub trait Reducer<K: KernelDef>: 'static {
    /// Whether a row's reduced range is accumulated tile by tile and segment by segment, then
    /// merged in order (KeOps' block sum): it keeps the rounding error of long sums low, and
    /// makes a row's result the same whether its segments ran in parallel (calls with few
    /// rows) or one after the other. Selections merge exactly, so for them splitting the range
    /// only costs (each K-min tile or segment would start from an empty selection).
    const TILED: bool = true;
    /// Whether a segment's last, partial chunk may take `step_chunks` as a tile of its own,
    /// whose state then has its lanes outside the chunk's mask reset by `clear_lanes`: the
    /// state `step_masked` gives from the empty one. The driver then reaches `step_chunks`
    /// from one place, so a kernel whose pair stage adds its values itself
    /// ([`KernelDef::SUMS_IN_PAIR`]) compiles that stage once, and never `pair`.
    const PARTIAL_AS_TILE: bool = false;

    /// The per-row state, for the lanes of `M`.
    type Acc<M: Math<K::T>>: Copy + Send + Sync;

    fn init<M: Math<K::T>>(m: M) -> Self::Acc<M>;
    /// The state a tile starts from, after the tiles merged into `total`: by default the
    /// empty state. Whatever it is, `merge(total, tile)` must give the state of both.
    #[inline(always)]
    fn restart<M: Math<K::T>>(m: M, total: &Self::Acc<M>) -> Self::Acc<M> {
        let _ = total;
        Self::init(m)
    }
    /// Folds in one value per lane; `j` holds each lane's reduced index.
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, g: &K::G<M::V>, j: M::Idx);
    /// `step` for each row of a block of output rows, with the same `j`: a reduction may test
    /// all the rows at once.
    #[inline(always)]
    fn step_rows<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<Self::Acc<M>>,
        values: &K::Block<PairValues<K, M::V>>,
        j: M::Idx,
    ) {
        for (a, (f, g)) in accs.as_mut().iter_mut().zip(values.as_ref()) {
            Self::step(m, a, f, g, j);
        }
    }
    /// `step_rows` for each of `chunks`, consecutive packed reduced rows of which the first is
    /// chunk `first`, with the pair values of the block's rows: a reduction may order the work
    /// differently, as long as each accumulator sees the same steps in the same order.
    #[inline(always)]
    fn step_chunks<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<Self::Acc<M>>,
        o: &K::Block<K::Outer<M::V>>,
        chunks: &[K::Inner<M::V>],
        first: usize,
    ) {
        pair_and_step::<K, Self, M>(m, accs, o, chunks, first);
    }
    /// Resets the lanes outside `mask` of a tile's state to the empty state (where
    /// [`Reducer::PARTIAL_AS_TILE`]).
    #[inline(always)]
    fn clear_lanes<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, mask: M::Mask) {
        let _ = (m, acc, mask);
        unreachable!("only reductions with PARTIAL_AS_TILE clear lanes")
    }
    /// As `step`, for the lanes of `mask` only.
    fn step_masked<M: Math<K::T>>(
        m: M,
        acc: &mut Self::Acc<M>,
        f: &K::F<M::V>,
        g: &K::G<M::V>,
        j: M::Idx,
        mask: M::Mask,
    );
    /// Merges `later` (from larger indices) into `acc`, lane by lane.
    fn merge<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>);
    /// Collapses the lanes into one scalar accumulator.
    ///
    /// This and `finalize` run once per output row, inside the tier's `vectorize`: their
    /// implementations are `#[inline(always)]`, so that their scalar arithmetic gets the tier's
    /// instructions. Out of line, each fused multiply-add was a call to `fmaf` and each floor to
    /// `floorf`, a quarter of a log-sum-exp's time at 1,000 reduced rows.
    fn collapse<M: Math<K::T>>(m: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>>;
    /// Writes an output row: `values` and `indices` have the kernel's output widths (either may
    /// be empty).
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], indices: &mut [usize]);
}

/// [`Reducer::step_chunks`] as written: the pair values of each chunk, then `step_rows`.
#[inline(always)]
pub(super) fn pair_and_step<K: KernelDef, R: Reducer<K> + ?Sized, M: Math<K::T>>(
    m: M,
    accs: &mut K::Block<R::Acc<M>>,
    o: &K::Block<K::Outer<M::V>>,
    chunks: &[K::Inner<M::V>],
    first: usize,
) {
    for (c, feats) in chunks.iter().enumerate() {
        let j = m.iota(((first + c) * M::LANES) as u32);
        R::step_rows(m, accs, &K::pair(m, o, feats), j);
    }
}

/// Up to `N` values, pushed one after the other: the per-pair values of a run of chunks, for
/// which a zeroed array costs a `memset` per run (12 KiB for a block of 6 rows with AVX-512,
/// about a tenth of a small formula's time). No closures: the compiler may leave one out of
/// line, without the tier's target features.
pub(super) struct Scratch<T, const N: usize> {
    slots: [MaybeUninit<T>; N],
    len: usize,
}

impl<T: Copy, const N: usize> Scratch<T, N> {
    #[inline(always)]
    pub(super) fn new() -> Self {
        Scratch { slots: [MaybeUninit::uninit(); N], len: 0 }
    }

    /// Forgets the values.
    #[inline(always)]
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Adds a value after the others (panics past `N`).
    #[inline(always)]
    pub(super) fn push(&mut self, value: T) {
        self.slots[self.len].write(value);
        self.len += 1;
    }

    /// The values pushed since the last `clear`.
    #[inline(always)]
    pub(super) fn values(&mut self) -> &mut [T] {
        // SAFETY: `push` initialised each of the first `len` slots (`len <= N`: it indexes
        // before it counts), `MaybeUninit<T>` has `T`'s layout, and the slice borrows `self`
        // mutably.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<T>(), self.len) }
    }
}

/// The lanes of a value, in order, then zeros: collapses read the first `M::LANES`.
#[inline(always)]
pub(super) fn lanes<T: Real, M: Math<T>>(m: M, v: M::V) -> [T; MAX_LANES] {
    let mut out = [T::ZERO; MAX_LANES];
    m.store(v, &mut out);
    out
}

/// [`lanes`] of indices.
#[inline(always)]
pub(super) fn index_lanes<T: Real, M: Math<T>>(m: M, i: M::Idx) -> [u32; MAX_LANES] {
    let mut out = [0; MAX_LANES];
    m.store_idx(i, &mut out);
    out
}
