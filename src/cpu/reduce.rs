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

use std::ops::Range;

use crate::cpu::MAX_LANES;
use crate::cpu::math::{Math, Real, Task};
use crate::kernel::{Array, KernelDef};

/// One-lane arithmetic of a kernel's element type.
type Scalar<K> = <<K as KernelDef>::T as Real>::Scalar;

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
fn pair_and_step<K: KernelDef, R: Reducer<K> + ?Sized, M: Math<K::T>>(
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

/// `sum_j F`: component-wise sums.
pub struct Sum;

impl<K: KernelDef> Reducer<K> for Sum {
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

/// `sum_j F` where the code generator gave each component of `F` as two factors, `F = A * B`
/// (`A` in the formula values, `B` in the weights' place): each step is one fused
/// multiply-add, `acc + A * B` rounded once. Otherwise as [`Sum`].
pub struct SumOfProducts;

impl<K: KernelDef> Reducer<K> for SumOfProducts {
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

    /// For a kernel with [`KernelDef::SCALED`] features, in two passes over runs of chunks:
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
        // A constant, so that a kernel without scaled features does not instantiate their
        // code (the compiler drops a branch on a constant before it generates code).
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
        let mut scales = [Array::from_fn(|_| m.splat(K::T::ZERO)); SCALED_RUN];
        for run in chunks.chunks(SCALED_RUN) {
            for (s, feats) in scales.iter_mut().zip(run) {
                let values = K::pair(m, o, feats);
                *s = Array::from_fn(|r| values.as_ref()[r].0.as_ref()[0]);
            }
            let run = ScaledRun { scales: &scales[..run.len()], chunks: run, maybe_tiny: false };
            accumulate_scaled_run::<K, M, _>(m, accs, |acc| acc.as_mut(), run);
        }
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
fn step_tiny<K: KernelDef, M: Math<K::T>>(
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
const SCALED_RUN: usize = 32;

/// Rows of a block whose sums a scaled sum's second pass accumulates together, and
/// components per row: their accumulators (12), a feature and the rows' per-pair values take
/// AVX2's 16 registers.
const SCALED_ROWS: usize = 3;
const SCALED_GROUP: usize = 4;

/// A run of chunks for the second pass of a scaled sum.
struct ScaledRun<'a, K: KernelDef, V: Copy + Send + Sync> {
    /// Each chunk's per-pair values, one per row of the block.
    scales: &'a [K::Block<V>],
    /// The chunks' features.
    chunks: &'a [K::Inner<V>],
    /// Whether a per-pair value may be subnormal (see [`Math::mul_add_tiny`]).
    maybe_tiny: bool,
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
fn accumulate_scaled_run<K: KernelDef, M: Math<K::T>, A: Copy + Send + Sync>(
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

/// `kmin_j::<N>`, `argkmin_j::<N>`, `kmin_argkmin_j::<N>`: per component, the `N` smallest
/// values in increasing order (ties by increasing index) and their indices.
///
/// The selection is kept once per output row, rather than once per lane: a vector of values is
/// compared with the row's current `N`-th value, and only the rare lanes below it are inserted,
/// in lane order. After the first few chunks almost every step is one comparison. An insertion
/// moves `LANES` slots at a time (a `Selection`'s slots are consecutive), without branches:
/// at 2,000 reduced rows and `N = 10`, when insertions are frequent, this ran ArgKMin 1.4 x
/// faster on AVX2 than a scalar insertion.
pub struct KMin<const N: usize>;

impl<const N: usize> KMin<N> {
    /// Inserts the lanes of `x` (indices `j`) among `below` (the lanes below the `N`-th value
    /// when the step began) that are still below it when their turn comes, in lane order. The
    /// lanes are stored here, inlined where the SIMD instructions are enabled; the insertions,
    /// rare, are out of line.
    #[inline(always)]
    fn insert_lanes<T: Real, M: Math<T>>(
        m: M,
        selection: &mut Selection<T, N>,
        (x, j): (M::V, M::Idx),
        below: u64,
    ) {
        let (mut xs, mut js) = ([T::ZERO; MAX_LANES], [0u32; MAX_LANES]);
        m.store(x, &mut xs);
        m.store_idx(j, &mut js);
        Self::insert_stored(m, selection, (&xs, &js), below);
    }

    /// [`Selection::insert`] of the lanes `below` of `xs` (indices `js`), in order, with the
    /// target features of `m`.
    #[cold]
    #[inline(never)]
    fn insert_stored<T: Real, M: Math<T>>(
        m: M,
        selection: &mut Selection<T, N>,
        (xs, js): (&[T; MAX_LANES], &[u32; MAX_LANES]),
        below: u64,
    ) {
        m.vectorize(InsertLanes { m, selection, xs, js, below });
    }
}

/// A selection's `N` slots (values or indices), followed by room for the lanes past `N` of the
/// last of the vectors that cover them: the slots are read and written a vector at a time.
#[derive(Clone, Copy)]
#[repr(C)]
struct Padded<X, const N: usize> {
    slots: [X; N],
    overhang: [X; MAX_LANES],
}

impl<X: Copy, const N: usize> Padded<X, N> {
    fn filled(x: X) -> Self {
        Padded { slots: [x; N], overhang: [x; MAX_LANES] }
    }

    /// The slots, then the overhang.
    #[inline(always)]
    fn all(&self) -> &[X] {
        // SAFETY: `repr(C)` places `overhang` right after `slots`, at `size_of::<[X; N]>()`,
        // a multiple of `X`'s alignment, so no padding separates the two arrays: `self` is
        // `N + MAX_LANES` initialised `X`s, borrowed for as long as `self` is.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast::<X>(), N + MAX_LANES) }
    }

    /// [`Padded::all`], mutably.
    #[inline(always)]
    fn all_mut(&mut self) -> &mut [X] {
        // SAFETY: as in `all`; the borrow of `self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut((self as *mut Self).cast::<X>(), N + MAX_LANES) }
    }
}

/// One component's K-selection: its `N` smallest values in increasing order, and their
/// indices. Slots that no value filled hold +inf and index 0.
#[derive(Clone, Copy)]
pub struct Selection<T, const N: usize> {
    values: Padded<T, N>,
    indices: Padded<u32, N>,
}

impl<T: Real, const N: usize> Selection<T, N> {
    fn empty() -> Self {
        Selection { values: Padded::filled(T::INFINITY), indices: Padded::filled(0) }
    }

    /// The `N`-th value: a candidate enters only if it is below.
    #[inline(always)]
    fn last(&self) -> T {
        self.values.slots[N - 1]
    }

    /// Inserts `x` (index `i`) if it is below the `N`-th value; equal values stay before it, so
    /// earlier indices win ties. `LANES` slots at a time (see [`shift_in`]).
    #[inline(always)]
    fn insert<M: Math<T>>(&mut self, m: M, x: T, i: u32) {
        // NaN compares as not smaller, so it never enters the selection.
        let enters = x < self.last();
        if !enters {
            return;
        }
        let (x, i) = (m.splat(x), m.splat_idx(i));
        let mut carry = (m.splat(T::NEG_INFINITY), m.splat_idx(0));
        for s in (0..N).step_by(M::LANES) {
            let own = (m.load(&self.values.all()[s..]), m.load_idx(&self.indices.all()[s..]));
            let (new, up) = shift_in(m, (x, i), own, carry);
            m.store(new.0, &mut self.values.all_mut()[s..]);
            m.store_idx(new.1, &mut self.indices.all_mut()[s..]);
            carry = up;
        }
    }

    /// [`Selection::insert`] of the lanes `below` of `xs` (indices `js`), in lane order, for
    /// selections of at most [`HELD_VECTORS`] vectors: their slots stay in registers from the
    /// first insertion to the last. Each insertion is then a few dependent vector operations,
    /// where reading the slots back from memory waited on the previous insertion's stores. A
    /// value not below the `N`-th when its turn comes leaves every slot as it is, so there is
    /// no test.
    #[inline(always)]
    fn insert_held<M: Math<T>>(&mut self, m: M, xs: &[T; MAX_LANES], js: &[u32; MAX_LANES], mut below: u64) {
        let vectors = N.div_ceil(M::LANES);
        debug_assert!(vectors <= HELD_VECTORS);
        let mut held = [(m.splat(T::ZERO), m.splat_idx(0)); HELD_VECTORS];
        for (v, slots) in held.iter_mut().enumerate().take(vectors) {
            let s = v * M::LANES;
            *slots = (m.load(&self.values.all()[s..]), m.load_idx(&self.indices.all()[s..]));
        }
        while below != 0 {
            let l = below.trailing_zeros() as usize;
            let x = (m.splat(xs[l]), m.splat_idx(js[l]));
            let mut carry = (m.splat(T::NEG_INFINITY), m.splat_idx(0));
            for slots in held.iter_mut().take(vectors) {
                let (new, up) = shift_in(m, x, *slots, carry);
                (*slots, carry) = (new, up);
            }
            below &= below - 1;
        }
        for (v, slots) in held.iter().enumerate().take(vectors) {
            let s = v * M::LANES;
            m.store(slots.0, &mut self.values.all_mut()[s..]);
            m.store_idx(slots.1, &mut self.indices.all_mut()[s..]);
        }
    }
}

/// The most vectors of slots a selection may take to be held in registers across a step's
/// insertions ([`Selection::insert_held`]): `N` up to 32 in f32 with AVX2 (64 with AVX-512),
/// 16 in f64 (32).
const HELD_VECTORS: usize = 4;

/// A vector of a selection's values and the vector of their indices.
type Slots<T, M> = (<M as Math<T>>::V, <M as Math<T>>::Idx);

/// One vector of a selection's slots (values and indices) with `x` (index `i`) inserted: a
/// slot takes its predecessor where `x` is below that, else `x` where `x` is below its own
/// value, else keeps its own; without a data-dependent branch. `carry` is the previous vector's
/// slots moved up a lane (its last slot in lane 0, the predecessor of this vector's first; -inf
/// before the first vector, which no `x` is below). Returns the new slots, and this vector's
/// slots moved up a lane, the next one's `carry`.
#[inline(always)]
fn shift_in<T: Real, M: Math<T>>(
    m: M,
    (x, i): Slots<T, M>,
    (own, own_i): Slots<T, M>,
    (carry, carry_i): Slots<T, M>,
) -> (Slots<T, M>, Slots<T, M>) {
    let first = m.tail(1);
    let (up, up_i) = (m.rotate_up(own), m.rotate_up_idx(own_i));
    let (prev, prev_i) = (m.blend(first, carry, up), m.blend_idx(first, carry_i, up_i));
    let (shifts, takes) = (m.lt_mask(x, prev), m.lt_mask(x, own));
    let new = m.blend(shifts, prev, m.blend(takes, x, own));
    let new_i = m.blend_idx(shifts, prev_i, m.blend_idx(takes, i, own_i));
    ((new, new_i), (up, up_i))
}

/// [`KMin::insert_stored`]'s loop, as a task for [`Math::vectorize`].
struct InsertLanes<'a, T, M, const N: usize> {
    m: M,
    selection: &'a mut Selection<T, N>,
    xs: &'a [T; MAX_LANES],
    js: &'a [u32; MAX_LANES],
    below: u64,
}

impl<T: Real, M: Math<T>, const N: usize> Task for InsertLanes<'_, T, M, N> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        if N.div_ceil(M::LANES) <= HELD_VECTORS {
            return self.selection.insert_held(self.m, self.xs, self.js, self.below);
        }
        let mut below = self.below;
        while below != 0 {
            let l = below.trailing_zeros() as usize;
            self.selection.insert(self.m, self.xs[l], self.js[l]);
            below &= below - 1;
        }
    }
}

impl<K: KernelDef, const N: usize> Reducer<K> for KMin<N> {
    const TILED: bool = false;

    type Acc<M: Math<K::T>> = K::F<Selection<K::T, N>>;

    #[inline(always)]
    fn init<M: Math<K::T>>(_: M) -> Self::Acc<M> {
        Array::from_fn(|_| Selection::empty())
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, _: &K::G<M::V>, j: M::Idx) {
        for (selection, &x) in acc.as_mut().iter_mut().zip(f.as_ref()) {
            // Most values are worse than the current N-th: skip them with one comparison.
            let below = m.lane_bits(m.lt_mask(x, m.splat(selection.last())));
            if below != 0 {
                Self::insert_lanes(m, selection, (x, j), below);
            }
        }
    }

    /// Once the selections have filled, almost no value of any row enters them: one test of
    /// every row and component skips the block.
    #[inline(always)]
    fn step_rows<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<Self::Acc<M>>,
        values: &K::Block<PairValues<K, M::V>>,
        j: M::Idx,
    ) {
        let mut take = m.tail(0);
        for (acc, (f, _)) in accs.as_ref().iter().zip(values.as_ref()) {
            for (selection, &x) in acc.as_ref().iter().zip(f.as_ref()) {
                take = m.or_mask(take, m.lt_mask(x, m.splat(selection.last())));
            }
        }
        if m.any(take) {
            for (acc, (f, g)) in accs.as_mut().iter_mut().zip(values.as_ref()) {
                <Self as Reducer<K>>::step(m, acc, f, g, j);
            }
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
        for (selection, &x) in acc.as_mut().iter_mut().zip(f.as_ref()) {
            // Lanes past the end hold padding, left out by the mask.
            let below = m.lane_bits(m.and_mask(mask, m.lt_mask(x, m.splat(selection.last()))));
            if below != 0 {
                Self::insert_lanes(m, selection, (x, j), below);
            }
        }
    }

    fn merge<M: Math<K::T>>(_: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>) {
        let scalar = <K::T as Real>::Scalar::default();
        for (selection, later) in acc.as_mut().iter_mut().zip(later.as_ref()) {
            // +inf is never selected, so a first slot at +inf is an empty selection, the first
            // tile's `total`: what `later` holds is the merge.
            let empty = selection.values.slots[0] == K::T::INFINITY;
            if empty {
                *selection = *later;
                continue;
            }
            for (&x, &i) in later.values.slots.iter().zip(&later.indices.slots) {
                // `later`'s values increase: once one is not below the N-th, none after is.
                let enters = x < selection.last();
                if !enters {
                    break;
                }
                selection.insert(scalar, x, i);
            }
        }
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(_: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>> {
        *acc
    }

    #[inline(always)]
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], indices: &mut [usize]) {
        let width = acc.as_ref().len();
        for (c, selection) in acc.as_ref().iter().enumerate() {
            for k in 0..N {
                if !values.is_empty() {
                    values[k * width + c] = selection.values.slots[k];
                }
                if !indices.is_empty() {
                    indices[k * width + c] = selection.indices.slots[k] as usize;
                }
            }
        }
    }
}

/// The exponent below which a term `exp(d)` cannot change a plain log-sum-exp's running sum:
/// that sum is at least 1 (the maximum's own term) and at most the number of terms, below
/// 2^64, and `exp(-80) < 2^-115`, so adding such a term, or rescaling by it before adding 1,
/// gives the same sum to the bit whether it is `exp(-80)` or smaller. Raising smaller
/// exponents to it keeps `exp` out of the subnormal range, where AMD processors take a slow
/// micro-coded assist on every subnormal result (log-sum-exps of well-separated values ran 2x
/// slower). Weighted sums have no such bound and are left exact.
const NEGLIGIBLE_EXPONENT: f64 = -80.0;

/// [`NEGLIGIBLE_EXPONENT`] in `T`, as the floor of [`raise_max`].
#[inline(always)]
pub(super) fn negligible<T: Real>() -> Option<T> {
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
fn raise_max<T: Real, M: Math<T>>(m: M, mx: &mut M::V, f: M::V, floor: Option<T>) -> (M::Mask, M::V) {
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
fn accumulate<T: Real, M: Math<T>>(m: M, above: M::Mask, t: M::V, s: M::V, w: M::V) -> M::V {
    m.blend(above, m.mul_add(s, t, w), m.mul_add(w, t, s))
}

/// Adds `exp(f) * w_k` to each sum `k`.
#[inline(always)]
pub(super) fn add_exp<T: Real, M: Math<T>>(
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
fn all_below_maxima<K: KernelDef, M: Math<K::T>>(
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
fn settled_exp<K: KernelDef, M: Math<K::T>>(
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
fn exp_of_nonpositive<K: KernelDef, M: Math<K::T>>(m: M, d: K::Block<M::V>) -> (K::Block<M::V>, bool) {
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
fn step_rows_settled<K: KernelDef, M: Math<K::T>, R: Reducer<K>>(
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
trait RunningMax<K: KernelDef>: Reducer<K> {
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
fn scale_where<T: Real, M: Math<T>>(m: M, above: M::Mask, v: M::V, t: M::V) -> M::V {
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
fn settled_step_chunks<K: KernelDef, M: Math<K::T>, R: RunningMax<K>>(
    m: M,
    accs: &mut K::Block<R::Acc<M>>,
    o: &K::Block<K::Outer<M::V>>,
    chunks: &[K::Inner<M::V>],
    first: usize,
) {
    let max = R::max::<M>;
    let floor = R::FLOOR.map(K::T::from_f64);
    let inf = m.splat(K::T::INFINITY);
    let mut scales: [K::Block<M::V>; SCALED_RUN] = [Array::from_fn(|_| m.splat(K::T::ZERO)); SCALED_RUN];
    for (r, run) in chunks.chunks(SCALED_RUN).enumerate() {
        let scales = &mut scales[..run.len()];
        let mut finite = m.tail(M::LANES);
        for (s, feats) in scales.iter_mut().zip(run) {
            let values = K::pair(m, o, feats);
            *s = Array::from_fn(|b| values.as_ref()[b].0.as_ref()[0]);
            for &f in s.as_ref() {
                finite = m.and_mask(finite, m.lt_mask(m.abs(f), inf));
            }
        }
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
