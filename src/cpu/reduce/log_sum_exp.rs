//! `logsumexp_j F`, with and without weights, and KeOps' raw `Max_SumShiftExp` forms.

use super::running_max::{
    NEGLIGIBLE_EXPONENT, RunningMax, add_exp, all_below_maxima, negligible, scale_where, settled_step_chunks,
    step_rows_settled,
};
use super::{PairValues, Reducer, Scalar, lanes, pair_and_step};
use crate::cpu::MAX_LANES;
use crate::cpu::math::{Math, Real};
use crate::kernel::{Array, KernelDef};

/// `logsumexp_j F`: `log sum_j exp(F)`, computed online and stably. With `RAW`, KeOps'
/// `Max_SumShiftExp`: the state itself, the maximum `m` then the sum of `exp(F - m)`.
pub struct LogSumExp<const RAW: bool = false>;

impl<K: KernelDef, const RAW: bool> Reducer<K> for LogSumExp<RAW> {
    type Acc<M: Math<K::T>> = (M::V, [M::V; 1]);

    #[inline(always)]
    fn init<M: Math<K::T>>(m: M) -> Self::Acc<M> {
        (m.splat(K::T::NEG_INFINITY), [m.splat(K::T::ZERO)])
    }

    /// An empty sum in the frame of the maximum so far, so that the tile's steps rarely find a
    /// new maximum (the slow path of `step_rows`).
    #[inline(always)]
    fn restart<M: Math<K::T>>(m: M, total: &Self::Acc<M>) -> Self::Acc<M> {
        (total.0, [m.splat(K::T::ZERO)])
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, _: &K::G<M::V>, _: M::Idx) {
        let one = m.splat(K::T::ONE);
        add_exp(m, &mut acc.0, &mut acc.1, f.as_ref()[0], |_| one, negligible::<K::T>());
    }

    /// The common case once the maxima have settled is that no lane of any row raises its
    /// row's maximum: then every lane adds `exp(f - max)`, with `f - max` negative, which is
    /// what `step` computes too (its `t + s` is `mul_add(1, t, s)`), in fewer operations.
    #[inline(always)]
    fn step_rows<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<Self::Acc<M>>,
        values: &K::Block<PairValues<K, M::V>>,
        j: M::Idx,
    ) {
        if all_below_maxima::<K, M>(m, |b| accs.as_ref()[b].0, values) {
            let floor = m.splat(K::T::from_f64(NEGLIGIBLE_EXPONENT));
            let d: K::Block<M::V> =
                Array::from_fn(|b| m.max(floor, m.sub(values.as_ref()[b].0.as_ref()[0], accs.as_ref()[b].0)));
            let t = K::T::exp_nonpositive(m, &d);
            for (acc, &t) in accs.as_mut().iter_mut().zip(t.as_ref()) {
                acc.1[0] = m.add(acc.1[0], t);
            }
        } else {
            for (acc, (f, g)) in accs.as_mut().iter_mut().zip(values.as_ref()) {
                <Self as Reducer<K>>::step(m, acc, f, g, j);
            }
        }
    }

    /// By runs of chunks, each raising the maxima once (see [`settled_step_chunks`], with no
    /// weights to sum a few at a time): each chunk then adds `exp(f - max)` to each row's sum.
    #[inline(always)]
    fn step_chunks<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<Self::Acc<M>>,
        o: &K::Block<K::Outer<M::V>>,
        chunks: &[K::Inner<M::V>],
        first: usize,
    ) {
        settled_step_chunks::<K, M, Self>(m, accs, o, chunks, first);
    }

    #[inline(always)]
    fn step_masked<M: Math<K::T>>(
        m: M,
        acc: &mut Self::Acc<M>,
        f: &K::F<M::V>,
        _: &K::G<M::V>,
        _: M::Idx,
        mask: M::Mask,
    ) {
        let f = m.blend(mask, f.as_ref()[0], m.splat(K::T::NEG_INFINITY));
        let w = m.blend(mask, m.splat(K::T::ONE), m.splat(K::T::ZERO));
        add_exp(m, &mut acc.0, &mut acc.1, f, |_| w, negligible::<K::T>());
    }

    #[inline(always)]
    fn merge<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>) {
        add_exp(m, &mut acc.0, &mut acc.1, later.0, |k| later.1[k], None);
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(m: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>> {
        let s = Scalar::<K>::default();
        let mut out = (K::T::NEG_INFINITY, [K::T::ZERO]);
        let (maxima, sums) = (lanes(m, acc.0), lanes(m, acc.1[0]));
        for (&mx, &sum) in maxima[..M::LANES].iter().zip(&sums) {
            add_exp(s, &mut out.0, &mut out.1, mx, |_| sum, None);
        }
        out
    }

    #[inline(always)]
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], _: &mut [usize]) {
        if RAW {
            values.copy_from_slice(&[acc.0, acc.1[0]]);
        } else {
            let s = Scalar::<K>::default();
            values[0] = s.add(acc.0, K::T::log(s, acc.1[0]));
        }
    }
}

impl<K: KernelDef, const RAW: bool> RunningMax<K> for LogSumExp<RAW> {
    const FLOOR: Option<f64> = Some(NEGLIGIBLE_EXPONENT);

    #[inline(always)]
    fn max<M: Math<K::T>>(acc: &Self::Acc<M>) -> M::V {
        acc.0
    }

    #[inline(always)]
    fn rescale<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, top: M::V, t: M::V, above: M::Mask) {
        acc.0 = top;
        acc.1[0] = scale_where(m, above, acc.1[0], t);
    }

    #[inline(always)]
    fn add_unit<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, t: M::V) {
        acc.1[0] = m.add(acc.1[0], t);
    }

    #[inline(always)]
    fn scaled_sums<M: Math<K::T>>(acc: &mut Self::Acc<M>) -> &mut [M::V] {
        &mut acc.1[..0]
    }
}

/// `logsumexp_j(F, W)`: `log sum_j exp(F) W`, component-wise in `W`, computed online. With
/// `RAW`, KeOps' `Max_SumShiftExpWeight`: the maximum `m`, then the sums of `exp(F - m) W`.
pub struct LogSumExpWeight<const RAW: bool = false>;

impl<K: KernelDef, const RAW: bool> Reducer<K> for LogSumExpWeight<RAW> {
    type Acc<M: Math<K::T>> = (M::V, K::G<M::V>);

    #[inline(always)]
    fn init<M: Math<K::T>>(m: M) -> Self::Acc<M> {
        (m.splat(K::T::NEG_INFINITY), Array::from_fn(|_| m.splat(K::T::ZERO)))
    }

    /// An empty sum in the frame of the maximum so far, as for [`LogSumExp`].
    #[inline(always)]
    fn restart<M: Math<K::T>>(m: M, total: &Self::Acc<M>) -> Self::Acc<M> {
        (total.0, Array::from_fn(|_| m.splat(K::T::ZERO)))
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, g: &K::G<M::V>, _: M::Idx) {
        add_exp(m, &mut acc.0, acc.1.as_mut(), f.as_ref()[0], |k| g.as_ref()[k], None);
    }

    /// Once the maxima have settled, each sum adds `exp(f - max) * w` with one multiply-add (see
    /// [`step_rows_settled`]).
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
                for (s, &g) in acc.1.as_mut().iter_mut().zip(g.as_ref()) {
                    *s = m.mul_add(g, t, *s);
                }
            },
        );
    }

    /// For weights that are reduced-row features, see [`settled_step_chunks`].
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
        add_exp(m, &mut acc.0, acc.1.as_mut(), f, |k| m.blend(mask, g.as_ref()[k], zero), None);
    }

    #[inline(always)]
    fn merge<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>) {
        add_exp(m, &mut acc.0, acc.1.as_mut(), later.0, |k| later.1.as_ref()[k], None);
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(m: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>> {
        let s = Scalar::<K>::default();
        let mut out: Self::Acc<Scalar<K>> = (K::T::NEG_INFINITY, Array::from_fn(|_| K::T::ZERO));
        let sums: K::G<[K::T; MAX_LANES]> = Array::from_fn(|k| lanes(m, acc.1.as_ref()[k]));
        for (l, &mx) in lanes(m, acc.0)[..M::LANES].iter().enumerate() {
            add_exp(s, &mut out.0, out.1.as_mut(), mx, |k| sums.as_ref()[k][l], None);
        }
        out
    }

    #[inline(always)]
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], _: &mut [usize]) {
        if RAW {
            let (max, sums) = values.split_first_mut().expect("a maximum, then the sums");
            *max = acc.0;
            sums.copy_from_slice(acc.1.as_ref());
        } else {
            let s = Scalar::<K>::default();
            for (v, &sum) in values.iter_mut().zip(acc.1.as_ref()) {
                *v = s.add(acc.0, K::T::log(s, sum));
            }
        }
    }
}

impl<K: KernelDef, const RAW: bool> RunningMax<K> for LogSumExpWeight<RAW> {
    #[inline(always)]
    fn max<M: Math<K::T>>(acc: &Self::Acc<M>) -> M::V {
        acc.0
    }

    #[inline(always)]
    fn rescale<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, top: M::V, t: M::V, above: M::Mask) {
        acc.0 = top;
        for s in acc.1.as_mut() {
            *s = scale_where(m, above, *s, t);
        }
    }

    #[inline(always)]
    fn add_unit<M: Math<K::T>>(_: M, _: &mut Self::Acc<M>, _: M::V) {}

    #[inline(always)]
    fn scaled_sums<M: Math<K::T>>(acc: &mut Self::Acc<M>) -> &mut [M::V] {
        acc.1.as_mut()
    }
}
