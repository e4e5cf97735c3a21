//! Sums: plain, compensated (Kahan's), and of products, where each step is one fused
//! multiply-add, with the two-pass schedule of scaled features.

use std::ops::Range;

use super::{PairValues, Reducer, Scalar, Scratch, lanes, pair_and_step};
use crate::cpu::MAX_LANES;
use crate::cpu::math::{Math, Real};
use crate::kernel::{Array, KernelDef};

/// `sum_j F`: component-wise sums.
pub struct Sum;

impl<K: KernelDef> Reducer<K> for Sum {
    const PARTIAL_AS_TILE: bool = K::SUMS_IN_PAIR;

    type Acc<M: Math<K::T>> = K::F<M::V>;

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

    /// Through [`KernelDef::pair_sum`] where the pair stage adds the values itself.
    #[inline(always)]
    fn step_chunks<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<K::F<M::V>>,
        o: &K::Block<K::Outer<M::V>>,
        chunks: &[K::Inner<M::V>],
        first: usize,
    ) {
        if const { K::SUMS_IN_PAIR } {
            pair_sums::<K, M>(m, accs, o, chunks);
        } else {
            pair_and_step::<K, Self, M>(m, accs, o, chunks, first);
        }
    }

    /// The sums' lanes outside `mask` back to +0: a tile of one chunk started at +0 then holds
    /// `0 + x` in the chunk's lanes, as `step_masked` from +0 (`0 + blend(mask, x, 0)`).
    #[inline(always)]
    fn clear_lanes<M: Math<K::T>>(m: M, acc: &mut K::F<M::V>, mask: M::Mask) {
        clear_sum_lanes::<K, M>(m, acc, mask);
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

    #[inline(always)]
    fn finalize(acc: &K::F<K::T>, values: &mut [K::T], _: &mut [usize]) {
        values.copy_from_slice(acc.as_ref());
    }
}

/// Each chunk's values added into the sums `accs` by the pair stage itself, where a wide
/// formula's values are a loop ([`KernelDef::pair_sum`]).
#[inline(always)]
fn pair_sums<K: KernelDef, M: Math<K::T>>(
    m: M,
    accs: &mut K::Block<K::F<M::V>>,
    o: &K::Block<K::Outer<M::V>>,
    chunks: &[K::Inner<M::V>],
) {
    for feats in chunks {
        K::pair_sum(m, o, feats, accs);
    }
}

/// The lanes outside `mask` of the sums `acc` set to +0.
#[inline(always)]
fn clear_sum_lanes<K: KernelDef, M: Math<K::T>>(m: M, acc: &mut K::F<M::V>, mask: M::Mask) {
    let zero = m.splat(K::T::ZERO);
    for a in acc.as_mut() {
        *a = m.blend(mask, *a, zero);
    }
}

/// Adds `x` to the compensated sum `(s, c)`, whose value is `s - c`: `c` keeps the rounding
/// error of each addition (Kahan's summation), so that it is added back into the next one.
#[inline(always)]
pub(crate) fn kahan_add<T: Real, M: Math<T>>(m: M, s: &mut M::V, c: &mut M::V, x: M::V) {
    let y = m.sub(x, *c);
    let t = m.add(*s, y);
    *c = m.sub(m.sub(t, *s), y);
    *s = t;
}

/// Adds the compensated sum `(s2, c2)` to `(s, c)`: its sum, then its compensation, each
/// compensated.
#[inline(always)]
pub(crate) fn kahan_merge<T: Real, M: Math<T>>(m: M, s: &mut M::V, c: &mut M::V, s2: M::V, c2: M::V) {
    kahan_add(m, s, c, s2);
    kahan_add(m, s, c, m.neg(c2));
}

/// The lanes of the compensated sum `(s, c)` merged in order, as one scalar compensated sum.
#[inline(always)]
pub(crate) fn kahan_collapse<T: Real, M: Math<T>>(m: M, s: M::V, c: M::V) -> (T, T) {
    let one = T::Scalar::default();
    let (ss, cs) = (lanes(m, s), lanes(m, c));
    let (mut total, mut error) = (T::ZERO, T::ZERO);
    for (&s, &c) in ss[..M::LANES].iter().zip(&cs[..M::LANES]) {
        kahan_merge(one, &mut total, &mut error, s, c);
    }
    (total, error)
}

/// `sum_j F` accumulated with compensation (KeOps' `kahan_scheme`): each component a sum and
/// the rounding error it still owes, merged and collapsed with compensation too; the result
/// is `sum - error`.
pub struct KahanSum;

impl<K: KernelDef> Reducer<K> for KahanSum {
    type Acc<M: Math<K::T>> = (K::F<M::V>, K::F<M::V>);

    #[inline(always)]
    fn init<M: Math<K::T>>(m: M) -> Self::Acc<M> {
        (Array::from_fn(|_| m.splat(K::T::ZERO)), Array::from_fn(|_| m.splat(K::T::ZERO)))
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, _: &K::G<M::V>, _: M::Idx) {
        let (sums, errors) = acc;
        for ((s, c), &x) in sums.as_mut().iter_mut().zip(errors.as_mut()).zip(f.as_ref()) {
            kahan_add(m, s, c, x);
        }
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
        let (sums, errors) = acc;
        for ((s, c), &x) in sums.as_mut().iter_mut().zip(errors.as_mut()).zip(f.as_ref()) {
            let (mut s2, mut c2) = (*s, *c);
            kahan_add(m, &mut s2, &mut c2, x);
            *s = m.blend(mask, s2, *s);
            *c = m.blend(mask, c2, *c);
        }
    }

    #[inline(always)]
    fn merge<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>) {
        let (sums, errors) = acc;
        let pairs = later.0.as_ref().iter().zip(later.1.as_ref());
        for ((s, c), (&s2, &c2)) in sums.as_mut().iter_mut().zip(errors.as_mut()).zip(pairs) {
            kahan_merge(m, s, c, s2, c2);
        }
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(m: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>> {
        let parts: K::F<(K::T, K::T)> =
            Array::from_fn(|k| kahan_collapse(m, acc.0.as_ref()[k], acc.1.as_ref()[k]));
        (Array::from_fn(|k| parts.as_ref()[k].0), Array::from_fn(|k| parts.as_ref()[k].1))
    }

    #[inline(always)]
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], _: &mut [usize]) {
        let one = Scalar::<K>::default();
        for ((v, &s), &c) in values.iter_mut().zip(acc.0.as_ref()).zip(acc.1.as_ref()) {
            *v = one.sub(s, c);
        }
    }
}

/// One f64 sum per lane, for every SIMD width (a tier uses the first `M::LANES`).
pub(crate) type WideLanes = [f64; MAX_LANES];

/// Adds the lanes of `x`, each exactly widened to f64, to the sums `acc`. Written on arrays, so
/// that the compiler vectorises it with the tier's widening conversions.
#[inline(always)]
pub(crate) fn wide_add<T: Real, M: Math<T>>(m: M, acc: &mut WideLanes, x: M::V) {
    let xs = lanes(m, x);
    for (a, x) in acc[..M::LANES].iter_mut().zip(&xs[..M::LANES]) {
        *a += x.to_f64();
    }
}

/// Adds the lane sums `later` (of larger reduced indices) to `acc`.
#[inline(always)]
pub(crate) fn wide_merge<T: Real, M: Math<T>>(acc: &mut WideLanes, later: &WideLanes) {
    for (a, x) in acc[..M::LANES].iter_mut().zip(&later[..M::LANES]) {
        *a += x;
    }
}

/// The lanes' sums added in order.
#[inline(always)]
pub(crate) fn wide_collapse<T: Real, M: Math<T>>(acc: &WideLanes) -> f64 {
    acc[..M::LANES].iter().fold(0.0, |total, x| total + x)
}

/// `sum_j F` of f32 values in f64 accumulators (KeOps' `dtype_acc = "float64"`): each lane
/// sums its values in f64, tiles and segments merge in f64, and the result is rounded to the
/// kernel's type once.
pub struct DoubleSum;

impl<K: KernelDef> Reducer<K> for DoubleSum {
    type Acc<M: Math<K::T>> = K::F<WideLanes>;

    #[inline(always)]
    fn init<M: Math<K::T>>(_: M) -> Self::Acc<M> {
        Array::from_fn(|_| [0.0; MAX_LANES])
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, _: &K::G<M::V>, _: M::Idx) {
        for (a, &x) in acc.as_mut().iter_mut().zip(f.as_ref()) {
            wide_add(m, a, x);
        }
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
        let zero = m.splat(K::T::ZERO);
        for (a, &x) in acc.as_mut().iter_mut().zip(f.as_ref()) {
            wide_add(m, a, m.blend(mask, x, zero));
        }
    }

    #[inline(always)]
    fn merge<M: Math<K::T>>(_: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>) {
        for (a, x) in acc.as_mut().iter_mut().zip(later.as_ref()) {
            wide_merge::<K::T, M>(a, x);
        }
    }

    /// Into the one lane of the scalar state (`Scalar`'s `LANES` is 1).
    #[inline(always)]
    fn collapse<M: Math<K::T>>(_: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>> {
        Array::from_fn(|k| {
            let mut total = [0.0; MAX_LANES];
            total[0] = wide_collapse::<K::T, M>(&acc.as_ref()[k]);
            total
        })
    }

    #[inline(always)]
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], _: &mut [usize]) {
        for (v, total) in values.iter_mut().zip(acc.as_ref()) {
            *v = K::T::from_f64(total[0]);
        }
    }
}

/// `sum_j F` where the code generator gave each component of `F` as two factors, `F = A * B`
/// (`A` in the formula values, `B` in the weights' place): each step is one fused
/// multiply-add, `acc + A * B` rounded once. Otherwise as [`Sum`].
pub struct SumOfProducts;

impl<K: KernelDef> Reducer<K> for SumOfProducts {
    const PARTIAL_AS_TILE: bool = K::SUMS_IN_PAIR;

    type Acc<M: Math<K::T>> = K::F<M::V>;

    #[inline(always)]
    fn init<M: Math<K::T>>(m: M) -> K::F<M::V> {
        <Sum as Reducer<K>>::init(m)
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut K::F<M::V>, f: &K::F<M::V>, g: &K::G<M::V>, _: M::Idx) {
        for ((a, &x), &y) in acc.as_mut().iter_mut().zip(f.as_ref()).zip(g.as_ref()) {
            *a = m.mul_add(x, y, *a);
        }
    }

    /// Through [`KernelDef::pair_sum`] where the pair stage adds the values itself. For a
    /// kernel with [`KernelDef::SCALED`] features, in two passes over runs of chunks:
    /// the per-pair values of the run first, then the sums a few components at a time, so
    /// that their accumulators stay in registers (a wide sum's accumulators, one per component
    /// and row, would not fit) and each load of a feature serves every row of the block. Each
    /// accumulator takes the same multiply-adds in the same order as in `step_rows`.
    #[inline(always)]
    fn step_chunks<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<K::F<M::V>>,
        o: &K::Block<K::Outer<M::V>>,
        chunks: &[K::Inner<M::V>],
        first: usize,
    ) {
        // Constants, so that a kernel instantiates the code of its own schedule only (the
        // compiler drops a branch on a constant before it generates code).
        if const { K::SUMS_IN_PAIR } {
            return pair_sums::<K, M>(m, accs, o, chunks);
        }
        if const { K::SCALED.is_empty() } {
            // Chunks where an `exp` went beyond its normal range take `step_tiny`.
            for (c, feats) in chunks.iter().enumerate() {
                let (values, maybe_tiny) = K::pair_flagged(m, o, feats);
                if maybe_tiny {
                    *accs = step_tiny::<K, M>(m, *accs, values);
                } else {
                    <Self as Reducer<K>>::step_rows(
                        m,
                        accs,
                        &values,
                        m.iota(((first + c) * M::LANES) as u32),
                    );
                }
            }
            return;
        }
        // Without the pair stage's flag (and `mul_add_tiny`): collecting it over a run made the
        // common runs of a Gaussian sum of 3-vectors 3-4 % slower with AVX-512.
        let mut scratch = Scratch::<K::Block<M::V>, SCALED_RUN>::new();
        for run in chunks.chunks(SCALED_RUN) {
            scratch.clear();
            for feats in run {
                let values = K::pair(m, o, feats);
                scratch.push(Array::from_fn(|r| values.as_ref()[r].0.as_ref()[0]));
            }
            let run = ScaledRun { scales: scratch.values(), chunks: run, maybe_tiny: false };
            accumulate_scaled_run::<K, M, _>(m, accs, |acc| acc.as_mut(), run);
        }
    }

    /// As [`Sum`]'s: `x * y + 0` in the chunk's lanes, as `step_masked` from +0
    /// (`blend(mask, x * y + 0, 0)`).
    #[inline(always)]
    fn clear_lanes<M: Math<K::T>>(m: M, acc: &mut K::F<M::V>, mask: M::Mask) {
        clear_sum_lanes::<K, M>(m, acc, mask);
    }

    #[inline(always)]
    fn step_masked<M: Math<K::T>>(
        m: M,
        acc: &mut K::F<M::V>,
        f: &K::F<M::V>,
        g: &K::G<M::V>,
        _: M::Idx,
        mask: M::Mask,
    ) {
        for ((a, &x), &y) in acc.as_mut().iter_mut().zip(f.as_ref()).zip(g.as_ref()) {
            *a = m.blend(mask, m.mul_add(x, y, *a), *a);
        }
    }

    #[inline(always)]
    fn merge<M: Math<K::T>>(m: M, acc: &mut K::F<M::V>, later: &K::F<M::V>) {
        <Sum as Reducer<K>>::merge(m, acc, later)
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(m: M, acc: &K::F<M::V>) -> K::F<K::T> {
        <Sum as Reducer<K>>::collapse(m, acc)
    }

    #[inline(always)]
    fn finalize(acc: &K::F<K::T>, values: &mut [K::T], indices: &mut [usize]) {
        <Sum as Reducer<K>>::finalize(acc, values, indices)
    }
}

/// [`SumOfProducts`]' step for pair values that may be subnormal (an `exp` of the chunk went
/// beyond its normal range): the same sums, by [`Math::mul_add_tiny`], which avoids the slow
/// path some processors take on such operands. Out of line, and run through
/// [`Math::vectorize`] for the tier's instructions: inlined, its code made the common step's
/// loop spill registers (a gradient ran 13 % slower with AVX-512). The accumulators pass by
/// value: by reference, they would have to live in memory in the common step too.
#[cold]
#[inline(never)]
pub(super) fn step_tiny<K: KernelDef, M: Math<K::T>>(
    m: M,
    mut accs: K::Block<K::F<M::V>>,
    values: K::Block<PairValues<K, M::V>>,
) -> K::Block<K::F<M::V>> {
    m.vectorize(|| {
        for (acc, (f, g)) in accs.as_mut().iter_mut().zip(values.as_ref()) {
            for ((a, &x), &y) in acc.as_mut().iter_mut().zip(f.as_ref()).zip(g.as_ref()) {
                *a = m.mul_add_tiny(x, y, *a);
            }
        }
        accs
    })
}

/// Chunks per run of a scaled sum: their per-pair values and features stay in the L1 cache.
pub(super) const SCALED_RUN: usize = 32;

/// Rows of a block whose sums a scaled sum's second pass accumulates together, and
/// components per row: their accumulators (12), a feature and the rows' per-pair values take
/// AVX2's 16 registers.
const SCALED_ROWS: usize = 3;
const SCALED_GROUP: usize = 4;

/// A run of chunks for the second pass of a scaled sum.
pub(super) struct ScaledRun<'a, K: KernelDef, V: Copy + Send + Sync> {
    /// Each chunk's per-pair values, one per row of the block.
    pub(super) scales: &'a [K::Block<V>],
    /// The chunks' features.
    pub(super) chunks: &'a [K::Inner<V>],
    /// Whether a per-pair value may be subnormal (see [`Math::mul_add_tiny`]).
    pub(super) maybe_tiny: bool,
}

impl<K: KernelDef, V: Copy + Send + Sync> Clone for ScaledRun<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: KernelDef, V: Copy + Send + Sync> Copy for ScaledRun<'_, K, V> {}

/// The second pass of a scaled sum over a run of chunks: adds `scale * feature` to each sum of
/// [`KernelDef::SCALED`]'s features, where `sums` gives a row's accumulators of those
/// features, in order. A run whose scales may be subnormal takes [`accumulate_scaled_tiny`].
#[inline(always)]
pub(super) fn accumulate_scaled_run<K: KernelDef, M: Math<K::T>, A: Copy + Send + Sync>(
    m: M,
    accs: &mut K::Block<A>,
    sums: impl Fn(&mut A) -> &mut [M::V] + Copy,
    run: ScaledRun<'_, K, M::V>,
) {
    if run.maybe_tiny {
        *accs = accumulate_scaled_tiny::<K, M, A>(m, *accs, sums, run);
    } else {
        accumulate_scaled_rows::<K, M, A>(m, accs, sums, run);
    }
}

/// [`accumulate_scaled_run`] for scales that may be subnormal, whose sums take
/// [`Math::mul_add_tiny`]: out of line, as [`step_tiny`] (inlined, the soft-max's common
/// runs ran 5 % slower with AVX-512).
#[cold]
#[inline(never)]
fn accumulate_scaled_tiny<K: KernelDef, M: Math<K::T>, A: Copy + Send + Sync>(
    m: M,
    mut accs: K::Block<A>,
    sums: impl Fn(&mut A) -> &mut [M::V] + Copy,
    run: ScaledRun<'_, K, M::V>,
) -> K::Block<A> {
    m.vectorize(|| {
        accumulate_scaled_rows::<K, M, A>(m, &mut accs, sums, run);
        accs
    })
}

/// [`accumulate_scaled_run`]'s sums, a few rows and components at a time.
#[inline(always)]
fn accumulate_scaled_rows<K: KernelDef, M: Math<K::T>, A: Copy + Send + Sync>(
    m: M,
    accs: &mut K::Block<A>,
    sums: impl Fn(&mut A) -> &mut [M::V] + Copy,
    run: ScaledRun<'_, K, M::V>,
) {
    let rows = <K::Block<()> as Array<()>>::LEN;
    let full = K::SCALED.len() - K::SCALED.len() % SCALED_GROUP;
    for first_row in (0..rows).step_by(SCALED_ROWS) {
        let accs = &mut accs.as_mut()[first_row..rows.min(first_row + SCALED_ROWS)];
        let rows = first_row..first_row + accs.len();
        for k in (0..full).step_by(SCALED_GROUP) {
            accumulate_scaled::<K, M, A, SCALED_GROUP>(m, accs, sums, run, rows.clone(), k);
        }
        match const { K::SCALED.len() % SCALED_GROUP } {
            1 => accumulate_scaled::<K, M, A, 1>(m, accs, sums, run, rows, full),
            2 => accumulate_scaled::<K, M, A, 2>(m, accs, sums, run, rows, full),
            3 => accumulate_scaled::<K, M, A, 3>(m, accs, sums, run, rows, full),
            _ => {}
        }
    }
}

/// Sums `first..first + N` of the accumulators `accs` of the block's `rows`, over a run of
/// chunks (see [`accumulate_scaled_run`]).
#[inline(always)]
fn accumulate_scaled<K: KernelDef, M: Math<K::T>, A, const N: usize>(
    m: M,
    accs: &mut [A],
    sums: impl Fn(&mut A) -> &mut [M::V],
    run: ScaledRun<'_, K, M::V>,
    rows: Range<usize>,
    first: usize,
) {
    let maybe_tiny = run.maybe_tiny;
    let features: [usize; N] = core::array::from_fn(|k| K::SCALED[first + k]);
    let mut local: [[M::V; N]; SCALED_ROWS] = [[m.splat(K::T::ZERO); N]; SCALED_ROWS];
    let local = &mut local[..accs.len()];
    for (l, acc) in local.iter_mut().zip(accs.iter_mut()) {
        l.copy_from_slice(&sums(acc)[first..first + N]);
    }
    for (scale, feats) in run.scales.iter().zip(run.chunks) {
        let scale = &scale.as_ref()[rows.clone()];
        for (k, &f) in features.iter().enumerate() {
            let v = feats.as_ref()[f];
            for (sum, &s) in local.iter_mut().zip(scale) {
                sum[k] = if maybe_tiny { m.mul_add_tiny(s, v, sum[k]) } else { m.mul_add(s, v, sum[k]) };
            }
        }
    }
    for (acc, l) in accs.iter_mut().zip(local) {
        sums(acc)[first..first + N].copy_from_slice(l);
    }
}
