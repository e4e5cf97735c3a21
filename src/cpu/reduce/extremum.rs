//! Minima and maxima, with their indices.

use super::{Reducer, Scalar, index_lanes, lanes};
use crate::cpu::math::{Math, Real};
use crate::kernel::{Array, KernelDef};

/// `min_j`, `max_j` and their arg- and value-and-arg forms: the output widths of the kernel
/// say which parts are written. `MAX` selects the maximum.
pub struct Extremum<const MAX: bool>;

impl<const MAX: bool> Extremum<MAX> {
    /// `a` is strictly better than `b`.
    #[inline(always)]
    fn better<T: Real, M: Math<T>>(m: M, a: M::V, b: M::V) -> M::Mask {
        if MAX { m.gt_mask(a, b) } else { m.lt_mask(a, b) }
    }

    fn worst<T: Real>() -> T {
        if MAX { T::NEG_INFINITY } else { T::INFINITY }
    }
}

impl<K: KernelDef, const MAX: bool> Reducer<K> for Extremum<MAX> {
    const TILED: bool = false;
    type Acc<M: Math<K::T>> = (K::F<M::V>, K::F<M::Idx>);

    #[inline(always)]
    fn init<M: Math<K::T>>(m: M) -> Self::Acc<M> {
        (Array::from_fn(|_| m.splat(Self::worst())), Array::from_fn(|_| m.splat_idx(0)))
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, _: &K::G<M::V>, j: M::Idx) {
        let (best, idx) = (acc.0.as_mut(), acc.1.as_mut());
        for (c, &x) in f.as_ref().iter().enumerate() {
            let take = Self::better(m, x, best[c]);
            best[c] = m.blend(take, x, best[c]);
            idx[c] = m.blend_idx(take, j, idx[c]);
        }
    }

    #[inline(always)]
    fn step_masked<M: Math<K::T>>(
        m: M,
        acc: &mut Self::Acc<M>,
        f: &K::F<M::V>,
        _: &K::G<M::V>,
        j: M::Idx,
        mask: M::Mask,
    ) {
        let (best, idx) = (acc.0.as_mut(), acc.1.as_mut());
        for (c, &x) in f.as_ref().iter().enumerate() {
            let take = m.and_mask(mask, Self::better(m, x, best[c]));
            best[c] = m.blend(take, x, best[c]);
            idx[c] = m.blend_idx(take, j, idx[c]);
        }
    }

    #[inline(always)]
    fn merge<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>) {
        let (best, idx) = (acc.0.as_mut(), acc.1.as_mut());
        for c in 0..best.len() {
            let (x, j) = (later.0.as_ref()[c], later.1.as_ref()[c]);
            let take = Self::better(m, x, best[c]);
            best[c] = m.blend(take, x, best[c]);
            idx[c] = m.blend_idx(take, j, idx[c]);
        }
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(m: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>> {
        let mut best: K::F<K::T> = Array::from_fn(|_| Self::worst());
        let mut idx: K::F<u32> = Array::from_fn(|_| 0);
        for c in 0..best.as_ref().len() {
            let values = lanes(m, acc.0.as_ref()[c]);
            let indices = index_lanes(m, acc.1.as_ref()[c]);
            let (b, i) = (&mut best.as_mut()[c], &mut idx.as_mut()[c]);
            for (&v, &j) in values[..M::LANES].iter().zip(&indices) {
                let strictly = if MAX { v > *b } else { v < *b };
                if strictly || (v == *b && j < *i) {
                    (*b, *i) = (v, j);
                }
            }
        }
        (best, idx)
    }

    #[inline(always)]
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], indices: &mut [usize]) {
        if !values.is_empty() {
            values.copy_from_slice(acc.0.as_ref());
        }
        for (o, &i) in indices.iter_mut().zip(acc.1.as_ref()) {
            *o = i as usize;
        }
    }
}
