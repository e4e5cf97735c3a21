//! Reductions on the CPU: accumulator, update, merge and finalisation, per lane.
//!
//! A reduction keeps one accumulator per lane (each lane sees every `LANES`-th reduced index),
//! merges accumulators of consecutive ranges (tiles, then segments), and collapses the lanes at
//! the end. Merges always put the earlier range first, so ties resolve to the lowest index and
//! results do not depend on how work was split between threads.

use crate::cpu::math::{Math, Real};
use crate::kernel::{Array, KernelDef};

/// A reduction of a kernel's formula values.
pub trait Reducer<K: KernelDef>: 'static {
    /// The per-row state, for `LANES` lanes of type `V`.
    type Acc<V: Copy + Send + Sync>: Copy + Send + Sync;

    fn init<M: Math<K::T>>(m: M) -> Self::Acc<M::V>;
    /// Folds in one value per lane; `j` holds each lane's reduced index.
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M::V>, f: &K::F<M::V>, g: &K::G<M::V>, j: M::Idx);
    /// As `step`, for the lanes of `mask` only.
    fn step_masked<M: Math<K::T>>(
        m: M,
        acc: &mut Self::Acc<M::V>,
        f: &K::F<M::V>,
        g: &K::G<M::V>,
        j: M::Idx,
        mask: M::Mask,
    );
    /// Merges `later` (from larger indices) into `acc`, lane by lane.
    fn merge<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M::V>, later: &Self::Acc<M::V>);
    /// Collapses the lanes into one scalar accumulator.
    fn collapse<M: Math<K::T>>(m: M, acc: &Self::Acc<M::V>) -> Self::Acc<K::T>;
    /// Writes an output row.
    fn finalize(acc: &Self::Acc<K::T>, values: &mut [K::T], indices: &mut [usize]);
}

/// `sum_j F`: component-wise sums.
pub struct Sum;

impl<K: KernelDef> Reducer<K> for Sum {
    type Acc<V: Copy + Send + Sync> = K::F<V>;

    #[inline(always)]
    fn init<M: Math<K::T>>(m: M) -> K::F<M::V> {
        Array::from_fn(|_| m.splat(K::T::ZERO))
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut K::F<M::V>, f: &K::F<M::V>, _: &K::G<M::V>, _: M::Idx) {
        for (a, &x) in acc.as_mut().iter_mut().zip(f.as_ref()) {
            *a = m.add(*a, x);
        }
    }

    #[inline(always)]
    fn step_masked<M: Math<K::T>>(
        m: M,
        acc: &mut K::F<M::V>,
        f: &K::F<M::V>,
        _: &K::G<M::V>,
        _: M::Idx,
        mask: M::Mask,
    ) {
        let zero = m.splat(K::T::ZERO);
        for (a, &x) in acc.as_mut().iter_mut().zip(f.as_ref()) {
            *a = m.add(*a, m.blend(mask, x, zero));
        }
    }

    #[inline(always)]
    fn merge<M: Math<K::T>>(m: M, acc: &mut K::F<M::V>, later: &K::F<M::V>) {
        for (a, &x) in acc.as_mut().iter_mut().zip(later.as_ref()) {
            *a = m.add(*a, x);
        }
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(m: M, acc: &K::F<M::V>) -> K::F<K::T> {
        Array::from_fn(|k| m.reduce_sum(acc.as_ref()[k]))
    }

    fn finalize(acc: &K::F<K::T>, values: &mut [K::T], _: &mut [usize]) {
        values.copy_from_slice(acc.as_ref());
    }
}
