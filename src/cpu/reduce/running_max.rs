//! What the log-sum-exps and the soft-max share: a running maximum per lane, the sums of
//! `exp(F - max)` rescaled when it rises, and the schedule of rows whose maxima have settled.

use super::sum::{SCALED_RUN, ScaledRun, accumulate_scaled_run};
use super::{PairValues, Reducer, Scratch, pair_and_step};
use crate::cpu::math::{Math, Real};
use crate::kernel::{Array, KernelDef};

/// The exponent below which a term `exp(d)` cannot change a plain log-sum-exp's running sum:
/// that sum is at least 1 (the maximum's own term) and at most the number of terms, below
/// 2^64, and `exp(-80) < 2^-115`, so adding such a term, or rescaling by it before adding 1,
/// gives the same sum to the bit whether it is `exp(-80)` or smaller. Raising smaller
/// exponents to it keeps `exp` out of the subnormal range, where AMD processors take a slow
/// micro-coded assist on every subnormal result (log-sum-exps of well-separated values ran 2x
/// slower). Weighted sums have no such bound and are left exact.
pub(crate) const NEGLIGIBLE_EXPONENT: f64 = -80.0;

/// [`NEGLIGIBLE_EXPONENT`] in `T`, as the floor of [`raise_max`].
#[inline(always)]
pub(crate) fn negligible<T: Real>() -> Option<T> {
    Some(T::from_f64(NEGLIGIBLE_EXPONENT))
}

/// The online, stable update shared by the log-sum-exp family. A pair `(mx, s)` stands for
/// `exp(mx) * s`; adding `exp(f) * w` first raises the running maximum `mx` to include `f`, then
/// rescales whichever side is smaller by `t = exp(-|f - mx|)`, so that no exponential overflows
/// and each update costs one exponential. Returns whether `f` is the new maximum, and `t`.
///
/// With a `floor`, exponents below it are raised to it: for sums that a term this small cannot
/// change (see [`NEGLIGIBLE_EXPONENT`]), this keeps `exp` out of the subnormal range.
#[inline(always)]
pub(super) fn raise_max<T: Real, M: Math<T>>(
    m: M,
    mx: &mut M::V,
    f: M::V,
    floor: Option<T>,
) -> (M::Mask, M::V) {
    let above = m.gt_mask(f, *mx);
    let hi = m.blend(above, f, *mx);
    let lo = m.blend(above, *mx, f);
    // Equal values weigh the same: `t = 1`, also when both are +inf or both -inf, where the
    // difference would be NaN. (Both -inf: the sums are then multiples of `exp(-inf) = 0`, so a
    // log-sum-exp stays -inf, and a soft-max of only -inf values weighs them equally, as it
    // does equal finite values.) A NaN `f` makes `t` NaN, which propagates.
    let d = m.blend(m.eq_mask(lo, hi), m.splat(T::ZERO), m.sub(lo, hi));
    // `max(floor, d)` keeps a NaN `d`.
    let d = floor.map_or(d, |floor| m.max(m.splat(floor), d));
    *mx = hi;
    (above, T::exp(m, d))
}

/// `s` plus `exp(f) w`, in the frame of the maximum raised by [`raise_max`].
#[inline(always)]
pub(super) fn accumulate<T: Real, M: Math<T>>(m: M, above: M::Mask, t: M::V, s: M::V, w: M::V) -> M::V {
    m.blend(above, m.mul_add(s, t, w), m.mul_add(w, t, s))
}

/// Adds `exp(f) * w_k` to each sum `k`.
#[inline(always)]
pub(crate) fn add_exp<T: Real, M: Math<T>>(
    m: M,
    mx: &mut M::V,
    sums: &mut [M::V],
    f: M::V,
    w: impl Fn(usize) -> M::V,
    floor: Option<T>,
) {
    let (above, t) = raise_max(m, mx, f, floor);
    for (k, s) in sums.iter_mut().enumerate() {
        *s = accumulate(m, above, t, *s, w(k));
    }
}

/// Whether no lane of any row raises its row's maximum: the common case once the maxima have
/// settled, where the log-sum-exp family's steps need neither `raise_max`'s blends nor
/// `accumulate`'s second product.
#[inline(always)]
pub(super) fn all_below_maxima<K: KernelDef, M: Math<K::T>>(
    m: M,
    maxima: impl Fn(usize) -> M::V,
    values: &K::Block<PairValues<K, M::V>>,
) -> bool {
    let rows = values.as_ref().iter().enumerate();
    m.all(
        rows.fold(m.tail(M::LANES), |all, (b, (f, _))| m.and_mask(all, m.lt_mask(f.as_ref()[0], maxima(b)))),
    )
}

/// `t = exp(f - max)` for each row of a block that [`all_below_maxima`] holds for: the `t` of
/// `raise_max` (whose `f - max` is then never the equal case), so that `accumulate` reduces to
/// `mul_add(w, t, s)`. Exponents within `(-80, 0]`, the usual case, take the shorter
/// [`Real::exp_nonpositive`]; weighted sums are kept exact, so smaller ones are not raised as
/// a plain log-sum-exp's are, and take the full `exp`.
#[inline(always)]
pub(super) fn settled_exp<K: KernelDef, M: Math<K::T>>(
    m: M,
    maxima: impl Fn(usize) -> M::V,
    values: &K::Block<PairValues<K, M::V>>,
) -> K::Block<M::V> {
    exp_of_nonpositive::<K, M>(m, Array::from_fn(|b| m.sub(values.as_ref()[b].0.as_ref()[0], maxima(b)))).0
}

/// `exp(d)` for each row of a block, `d <= 0` or -inf: by [`Real::exp_nonpositive`] if every
/// `d` is above [`NEGLIGIBLE_EXPONENT`], else by [`Real::exp_below`] (which give `exp`'s
/// values where they apply). And whether some values may be subnormal: whether some `d` is
/// below `-EXP_NORMAL_BOUND`.
#[inline(always)]
pub(super) fn exp_of_nonpositive<K: KernelDef, M: Math<K::T>>(
    m: M,
    d: K::Block<M::V>,
) -> (K::Block<M::V>, bool) {
    if m.all_below_abs(d.as_ref(), K::T::from_f64(-NEGLIGIBLE_EXPONENT)) {
        (K::T::exp_nonpositive(m, &d), false)
    } else {
        (K::T::exp_below(m, &d), !m.all_below_abs(d.as_ref(), K::T::EXP_NORMAL_BOUND))
    }
}

/// The block step of the weighted log-sum-exps. Once no lane of any row raises its maximum
/// ([`all_below_maxima`]), `add(acc, t, g)` adds each row's terms with the `t` of
/// [`settled_exp`], where `accumulate` is `mul_add(w, t, s)`: what `step` computes, in fewer
/// operations (softmax attention with 16 weights and softmax weights of 3 ran 1.4x and 1.5x
/// faster on AVX2). Else each row takes `step`.
#[inline(always)]
pub(super) fn step_rows_settled<K: KernelDef, M: Math<K::T>, R: Reducer<K>>(
    m: M,
    accs: &mut K::Block<R::Acc<M>>,
    values: &K::Block<PairValues<K, M::V>>,
    j: M::Idx,
    max: impl Fn(&R::Acc<M>) -> M::V,
    add: impl Fn(&mut R::Acc<M>, M::V, &K::G<M::V>),
) {
    if all_below_maxima::<K, M>(m, |b| max(&accs.as_ref()[b]), values) {
        let t = settled_exp::<K, M>(m, |b| max(&accs.as_ref()[b]), values);
        for ((acc, (_, g)), &t) in accs.as_mut().iter_mut().zip(values.as_ref()).zip(t.as_ref()) {
            add(acc, t, g);
        }
    } else {
        for (acc, (f, g)) in accs.as_mut().iter_mut().zip(values.as_ref()) {
            R::step(m, acc, f, g, j);
        }
    }
}

/// The state of the log-sum-exp family, as [`settled_step_chunks`] updates it: a running
/// maximum per lane, and sums of `exp(f - max)` times a weight.
pub(super) trait RunningMax<K: KernelDef>: Reducer<K> {
    /// Exponents `f - max` below it are raised to it (see [`NEGLIGIBLE_EXPONENT`]).
    const FLOOR: Option<f64> = None;
    fn max<M: Math<K::T>>(acc: &Self::Acc<M>) -> M::V;
    /// Sets the maximum to `top` and multiplies every sum by `t`, in the lanes of `above`.
    fn rescale<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, top: M::V, t: M::V, above: M::Mask);
    /// Adds `t` to the sums whose weight is 1.
    fn add_unit<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, t: M::V);
    /// The sums whose weights are the reduced-row features [`KernelDef::SCALED`], in order.
    fn scaled_sums<M: Math<K::T>>(acc: &mut Self::Acc<M>) -> &mut [M::V];
}

/// `v * t` in the lanes of `above`, else `v`.
#[inline(always)]
pub(super) fn scale_where<T: Real, M: Math<T>>(m: M, above: M::Mask, v: M::V, t: M::V) -> M::V {
    m.blend(above, m.mul(v, t), v)
}

/// The chunk steps of the log-sum-exp family, by runs of chunks: the plain log-sum-exp, and
/// the weighted ones whose weights are reduced-row features ([`KernelDef::SCALED`],
/// `sum_j exp(<q_i, k_j>) v_j` with a vector `v_j`), which take two passes as a scaled sum's.
/// The first pass computes the run's exponents and raises each lane's maximum to the largest
/// of them at once, rescaling the sums; the second takes `t = exp(f - max)` for each pair, adds
/// it to the sums whose weight is 1, and `t` times the weights to the others, a few components
/// at a time, with their accumulators in registers.
///
/// Stepping pair by pair instead would rescale at every pair that raises a maximum: with 6
/// rows of 8 lanes, about one chunk in ten over 20,000 reduced rows, each taking the slow
/// update for all the rows of its block. A run whose exponents are not all finite is stepped
/// pair by pair, for the limits the online update gives infinities (the whole block of rows, so
/// the rounding of a row's sums may then depend on the rows it shares its block with; the
/// values are the same to within that rounding).
#[inline(always)]
pub(super) fn settled_step_chunks<K: KernelDef, M: Math<K::T>, R: RunningMax<K>>(
    m: M,
    accs: &mut K::Block<R::Acc<M>>,
    o: &K::Block<K::Outer<M::V>>,
    chunks: &[K::Inner<M::V>],
    first: usize,
) {
    let max = R::max::<M>;
    let floor = R::FLOOR.map(K::T::from_f64);
    let inf = m.splat(K::T::INFINITY);
    let mut scratch = Scratch::<K::Block<M::V>, SCALED_RUN>::new();
    for (r, run) in chunks.chunks(SCALED_RUN).enumerate() {
        let mut finite = m.tail(M::LANES);
        scratch.clear();
        for feats in run {
            let values = K::pair(m, o, feats);
            let s: K::Block<M::V> = Array::from_fn(|b| values.as_ref()[b].0.as_ref()[0]);
            for &f in s.as_ref() {
                finite = m.and_mask(finite, m.lt_mask(m.abs(f), inf));
            }
            scratch.push(s);
        }
        let scales = scratch.values();
        if !m.all(finite) {
            pair_and_step::<K, R, M>(m, accs, o, run, first + r * SCALED_RUN);
            continue;
        }
        for (b, acc) in accs.as_mut().iter_mut().enumerate() {
            let old = max(acc);
            let top = scales.iter().fold(old, |top, s| m.max(top, s.as_ref()[b]));
            let above = m.gt_mask(top, old);
            if m.any(above) {
                // `old` may be -inf (no pair yet, or only -inf exponents): `t` is then 0, or
                // `exp(floor)`.
                let d = m.blend(above, m.sub(old, top), m.splat(K::T::ZERO));
                let t = K::T::exp(m, floor.map_or(d, |floor| m.max(m.splat(floor), d)));
                R::rescale(m, acc, top, t, above);
            }
        }
        let mut maybe_tiny = false;
        for s in scales.iter_mut() {
            let d: K::Block<M::V> = Array::from_fn(|b| m.sub(s.as_ref()[b], max(&accs.as_ref()[b])));
            *s = match floor {
                Some(floor) => {
                    K::T::exp_nonpositive(m, &Array::from_fn(|b| m.max(m.splat(floor), d.as_ref()[b])))
                }
                None => {
                    let (t, tiny) = exp_of_nonpositive::<K, M>(m, d);
                    maybe_tiny |= tiny;
                    t
                }
            };
        }
        for t in scales.iter() {
            for (acc, &t) in accs.as_mut().iter_mut().zip(t.as_ref()) {
                R::add_unit(m, acc, t);
            }
        }
        let run = ScaledRun { scales, chunks: run, maybe_tiny };
        accumulate_scaled_run::<K, M, _>(m, accs, R::scaled_sums::<M>, run);
    }
}
