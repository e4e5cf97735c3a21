//! `sumsoftmaxweight_j(F, V)`.

use super::running_max::{
    RunningMax, accumulate, raise_max, scale_where, settled_step_chunks, step_rows_settled,
};
use super::{PairValues, Reducer, Scalar, lanes, pair_and_step};
use crate::cpu::MAX_LANES;
use crate::cpu::math::{Math, Real};
use crate::kernel::{Array, KernelDef};

/// `sumsoftmaxweight_j(F, V)`: `sum_j exp(F) V / sum_j exp(F)`, computed online.
pub struct SumSoftMaxWeight;

impl SumSoftMaxWeight {
    /// Adds `exp(f) * [w1, g...]` (`w1` is 1, or 0 in masked lanes).
    #[inline(always)]
    fn add<T: Real, M: Math<T>, G: Array<M::V>>(
        m: M,
        acc: &mut (M::V, M::V, G),
        f: M::V,
        w1: M::V,
        g: impl Fn(usize) -> M::V,
    ) {
        let (above, t) = raise_max(m, &mut acc.0, f, None);
        acc.1 = accumulate(m, above, t, acc.1, w1);
        for (k, s) in acc.2.as_mut().iter_mut().enumerate() {
            *s = accumulate(m, above, t, *s, g(k));
        }
    }
}

impl<K: KernelDef> Reducer<K> for SumSoftMaxWeight {
    /// Running maximum, sum of weights `exp(F - max)`, and weighted sums of `V`.
    type Acc<M: Math<K::T>> = (M::V, M::V, K::G<M::V>);

    #[inline(always)]
    fn init<M: Math<K::T>>(m: M) -> Self::Acc<M> {
        let zero = m.splat(K::T::ZERO);
        (m.splat(K::T::NEG_INFINITY), zero, Array::from_fn(|_| zero))
    }

    /// Empty sums in the frame of the maximum so far, as for [`LogSumExp`].
    #[inline(always)]
    fn restart<M: Math<K::T>>(m: M, total: &Self::Acc<M>) -> Self::Acc<M> {
        let zero = m.splat(K::T::ZERO);
        (total.0, zero, Array::from_fn(|_| zero))
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, g: &K::G<M::V>, _: M::Idx) {
        Self::add(m, acc, f.as_ref()[0], m.splat(K::T::ONE), |k| g.as_ref()[k]);
    }

    /// As [`LogSumExpWeight`]'s; the sum of weights adds `t` itself (`mul_add(1, t, s)`).
    #[inline(always)]
    fn step_rows<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<Self::Acc<M>>,
        values: &K::Block<PairValues<K, M::V>>,
        j: M::Idx,
    ) {
        step_rows_settled::<K, M, Self>(
            m,
            accs,
            values,
            j,
            |acc| acc.0,
            |acc, t, g| {
                acc.1 = m.add(acc.1, t);
                for (s, &g) in acc.2.as_mut().iter_mut().zip(g.as_ref()) {
                    *s = m.mul_add(g, t, *s);
                }
            },
        );
    }

    /// For values `V` that are reduced-row features, see [`settled_step_chunks`].
    #[inline(always)]
    fn step_chunks<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<Self::Acc<M>>,
        o: &K::Block<K::Outer<M::V>>,
        chunks: &[K::Inner<M::V>],
        first: usize,
    ) {
        // A constant, so that a kernel without scaled features does not instantiate their
        // code (the compiler drops a branch on a constant before it generates code).
        if const { K::SCALED.is_empty() } {
            return pair_and_step::<K, Self, M>(m, accs, o, chunks, first);
        }
        settled_step_chunks::<K, M, Self>(m, accs, o, chunks, first);
    }

    #[inline(always)]
    fn step_masked<M: Math<K::T>>(
        m: M,
        acc: &mut Self::Acc<M>,
        f: &K::F<M::V>,
        g: &K::G<M::V>,
        _: M::Idx,
        mask: M::Mask,
    ) {
        let f = m.blend(mask, f.as_ref()[0], m.splat(K::T::NEG_INFINITY));
        let zero = m.splat(K::T::ZERO);
        let w1 = m.blend(mask, m.splat(K::T::ONE), zero);
        Self::add(m, acc, f, w1, |k| m.blend(mask, g.as_ref()[k], zero));
    }

    #[inline(always)]
    fn merge<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>) {
        Self::add(m, acc, later.0, later.1, |k| later.2.as_ref()[k]);
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(m: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>> {
        let s = Scalar::<K>::default();
        let zero = K::T::ZERO;
        let mut out: Self::Acc<Scalar<K>> = (K::T::NEG_INFINITY, zero, Array::from_fn(|_| zero));
        let weights = lanes(m, acc.1);
        let sums: K::G<[K::T; MAX_LANES]> = Array::from_fn(|k| lanes(m, acc.2.as_ref()[k]));
        for (l, &mx) in lanes(m, acc.0)[..M::LANES].iter().enumerate() {
            Self::add(s, &mut out, mx, weights[l], |k| sums.as_ref()[k][l]);
        }
        out
    }

    #[inline(always)]
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], _: &mut [usize]) {
        let s = Scalar::<K>::default();
        for (v, &num) in values.iter_mut().zip(acc.2.as_ref()) {
            *v = s.div(num, acc.1);
        }
    }
}

impl<K: KernelDef> RunningMax<K> for SumSoftMaxWeight {
    #[inline(always)]
    fn max<M: Math<K::T>>(acc: &Self::Acc<M>) -> M::V {
        acc.0
    }

    #[inline(always)]
    fn rescale<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, top: M::V, t: M::V, above: M::Mask) {
        acc.0 = top;
        acc.1 = scale_where(m, above, acc.1, t);
        for s in acc.2.as_mut() {
            *s = scale_where(m, above, *s, t);
        }
    }

    #[inline(always)]
    fn add_unit<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, t: M::V) {
        acc.1 = m.add(acc.1, t);
    }

    #[inline(always)]
    fn scaled_sums<M: Math<K::T>>(acc: &mut Self::Acc<M>) -> &mut [M::V] {
        acc.2.as_mut()
    }
}
