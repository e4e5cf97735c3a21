//! What a compiled kernel gives the [driver](super::driver): its features and, for each tier,
//! its reduction loops. This is the code compiled in the crate that defines the kernel, so it
//! holds no more than the loops over a block of output rows and the merges of their results.

use std::marker::PhantomData;
use std::ops::Range;

use super::driver::{Job, RowFeatures, Shape, TierKernel};
use super::math::{Math, Real, Task};
use super::reduce::Reducer;
use super::{TILE, parallel_collect};
use crate::kernel::{Array, KernelDef};

type Acc<K, M> = <<K as KernelDef>::Red as Reducer<K>>::Acc<M>;
type ScalarAcc<K> = Acc<K, <<K as KernelDef>::T as Real>::Scalar>;

/// Kernel `K`, as the driver reaches it.
pub(crate) struct Compiled<K>(PhantomData<K>);

impl<K> Compiled<K> {
    pub(crate) const NEW: Self = Compiled(PhantomData);
}

impl<K: KernelDef> RowFeatures<K::T> for Compiled<K> {
    fn shape(&self) -> Shape {
        Shape {
            outer_width: <K::Outer<()> as Array<()>>::LEN,
            inner_width: <K::Inner<()> as Array<()>>::LEN,
            block: <K::Block<()> as Array<()>>::LEN,
            tiled: K::Red::TILED,
            value_width: K::INFO.value_width,
            index_width: K::INFO.index_width,
        }
    }

    fn outer_row(&self, inputs: &[&[K::T]], row: usize, out: &mut [K::T]) {
        out.copy_from_slice(K::outer(inputs, row).as_ref());
    }

    fn inner_row(&self, inputs: &[&[K::T]], row: usize, out: &mut [K::T]) {
        out.copy_from_slice(K::inner(inputs, row).as_ref());
    }
}

/// The job's features as kernel `K`'s arrays: the output rows', and the packed reduced rows'.
#[allow(clippy::type_complexity)]
fn arrays<'a, K: KernelDef, M: Math<K::T>>(
    job: &Job<'a, K::T, M::V>,
) -> (&'a [K::Outer<K::T>], &'a [K::Inner<M::V>]) {
    (K::Outer::<K::T>::slice_of(job.outer, job.outer_rows), K::Inner::<M::V>::slice_of(job.inner, job.chunks))
}

impl<K: KernelDef, M: Math<K::T>> TierKernel<K::T, M> for Compiled<K> {
    fn reduce_rows(
        &self,
        m: M,
        job: &Job<'_, K::T, M::V>,
        rows: Range<usize>,
        reduced: &[Range<usize>],
        values: &mut [K::T],
        indices: &mut [usize],
    ) {
        let (outer, inner) = arrays::<K, M>(job);
        let (vw, iw) = (K::INFO.value_width, K::INFO.index_width);
        let block = <K::Block<()> as Array<()>>::LEN;
        for first in rows.clone().step_by(block) {
            let accs = reduce_block_once::<K, M>(m, outer, first, inner, reduced, job.per);
            for row in first..rows.end.min(first + block) {
                let r = row - rows.start;
                let acc = &accs.as_ref()[row - first];
                K::Red::finalize(acc, &mut values[r * vw..(r + 1) * vw], &mut indices[r * iw..(r + 1) * iw]);
            }
        }
    }

    fn reduce_segments(
        &self,
        m: M,
        job: &Job<'_, K::T, M::V>,
        segments: usize,
        values: &mut [K::T],
        indices: &mut [usize],
    ) {
        let (outer, inner) = arrays::<K, M>(job);
        let (vw, iw) = (K::INFO.value_width, K::INFO.index_width);
        let block = <K::Block<()> as Array<()>>::LEN;
        let blocks = job.outer_rows.div_ceil(block);
        let (rows, per) = (job.inner_rows, job.per);
        let partial: Vec<K::Block<ScalarAcc<K>>> = parallel_collect(blocks * segments, &|t| {
            let (b, s) = (t / segments, t % segments);
            let range = (s * per * M::LANES).min(rows)..((s + 1) * per * M::LANES).min(rows);
            reduce_block_once::<K, M>(m, outer, b * block, inner, &[range], per)
        });
        let scalar = <K::T as Real>::Scalar::default();
        for r in 0..job.outer_rows {
            let (b, k) = (r / block, r % block);
            let mut acc = partial[b * segments].as_ref()[k];
            for later in &partial[b * segments + 1..(b + 1) * segments] {
                K::Red::merge(scalar, &mut acc, &later.as_ref()[k]);
            }
            K::Red::finalize(&acc, &mut values[r * vw..(r + 1) * vw], &mut indices[r * iw..(r + 1) * iw]);
        }
    }
}

/// [`reduce_block`], out of line, under the tier's target features: its two callers (whole
/// rows, and segments of rows) share one copy of the reduction loop, the largest code of a
/// kernel, rather than each inlining its own, which the compiler would have to optimise twice
/// per kernel and tier.
///
/// Its arguments are slices and sizes, not the [`Job`]: passed by value rather than read
/// through a pointer, they cost the compiler markedly less to optimise in the loops (see
/// BENCHMARKS.md).
#[inline(never)]
fn reduce_block_once<K: KernelDef, M: Math<K::T>>(
    m: M,
    outer: &[K::Outer<K::T>],
    first: usize,
    inner: &[K::Inner<M::V>],
    ranges: &[Range<usize>],
    per: usize,
) -> K::Block<ScalarAcc<K>> {
    m.vectorize(ReduceBlock::<K, M> { m, outer, first, inner, ranges, per })
}

/// [`reduce_block`]'s arguments, as a task for [`Math::vectorize`].
struct ReduceBlock<'a, K: KernelDef, M: Math<K::T>> {
    m: M,
    outer: &'a [K::Outer<K::T>],
    first: usize,
    inner: &'a [K::Inner<M::V>],
    ranges: &'a [Range<usize>],
    per: usize,
}

impl<K: KernelDef, M: Math<K::T>> Task for ReduceBlock<'_, K, M> {
    type Output = K::Block<ScalarAcc<K>>;

    #[inline(always)]
    fn run(self) -> Self::Output {
        reduce_block::<K, M>(self.m, self.outer, self.first, self.inner, self.ranges, self.per)
    }
}

/// Reduces the block of output rows starting at `first` over the reduced rows `ranges`, in
/// order, segment by segment (`per` chunks of packed reduced rows each, counted from row 0):
/// the rows of a segment are accumulated lane by lane, its lanes collapsed when the next rows
/// lie in another segment, and the collapsed results merged in order. Rows past the end repeat
/// the last one (their results are not used). Each row is reduced in the same order whatever
/// the block size and whether the segments are reduced here or in parallel, so results depend
/// on neither.
#[inline(always)]
fn reduce_block<K: KernelDef, M: Math<K::T>>(
    m: M,
    outer: &[K::Outer<K::T>],
    first: usize,
    inner: &[K::Inner<M::V>],
    ranges: &[Range<usize>],
    per: usize,
) -> K::Block<ScalarAcc<K>> {
    let o: K::Block<K::Outer<M::V>> = Array::from_fn(|b| {
        let row = &outer[(first + b).min(outer.len() - 1)];
        Array::from_fn(|k| m.splat(row.as_ref()[k]))
    });
    let rows_per_segment = per * M::LANES;
    let mut total: Option<K::Block<ScalarAcc<K>>> = None;
    let mut lanes: K::Block<Acc<K, M>> = Array::from_fn(|_| K::Red::init(m));
    let mut segment = None;
    for range in ranges {
        let mut start = range.start;
        while start < range.end {
            let s = start / rows_per_segment;
            if segment.is_some_and(|current| current != s) {
                merge_collapsed::<K, M>(m, &mut total, &mut lanes);
            }
            segment = Some(s);
            let end = ((s + 1) * rows_per_segment).min(range.end);
            reduce_rows::<K, M>(m, &o, inner, start..end, &mut lanes);
            start = end;
        }
    }
    merge_collapsed::<K, M>(m, &mut total, &mut lanes);
    total.expect("merged once")
}

/// Collapses the lanes of `lanes` into `total` (merged after it), and empties them.
#[inline(always)]
fn merge_collapsed<K: KernelDef, M: Math<K::T>>(
    m: M,
    total: &mut Option<K::Block<ScalarAcc<K>>>,
    lanes: &mut K::Block<Acc<K, M>>,
) {
    let scalar = <K::T as Real>::Scalar::default();
    // A loop rather than `from_fn`'s closure, which the compiler may leave out of line, without
    // the target features that the collapses' scalar arithmetic needs (see `Reducer::collapse`).
    let mut collapsed: K::Block<ScalarAcc<K>> = Array::from_fn(|_| K::Red::init(scalar));
    for b in 0..<K::Block<()> as Array<()>>::LEN {
        collapsed.as_mut()[b] = K::Red::collapse(m, &lanes.as_ref()[b]);
        lanes.as_mut()[b] = K::Red::init(m);
    }
    match total {
        None => *total = Some(collapsed),
        Some(total) => {
            for b in 0..<K::Block<()> as Array<()>>::LEN {
                K::Red::merge(scalar, &mut total.as_mut()[b], &collapsed.as_ref()[b]);
            }
        }
    }
}

/// Accumulates the reduced rows `rows` of the packed chunks `inner` into `total`, lane by
/// lane, for a block of output rows with features `o`: the chunk the rows start in if they
/// start inside it (ranges do), the whole chunks tile by tile, then the partial last chunk.
#[inline(always)]
fn reduce_rows<K: KernelDef, M: Math<K::T>>(
    m: M,
    o: &K::Block<K::Outer<M::V>>,
    inner: &[K::Inner<M::V>],
    rows: Range<usize>,
    total: &mut K::Block<Acc<K, M>>,
) {
    let lanes = M::LANES;
    let (first, end) = (rows.start / lanes, rows.end.div_ceil(lanes));
    let whole = if rows.start.is_multiple_of(lanes) { first } else { first + 1 };
    let full = (rows.end / lanes).max(whole);
    let tile = if K::Red::TILED { (TILE / lanes).max(1) } else { usize::MAX };
    let mut start = first;
    while start < end {
        let (stop, mask) = if start < whole {
            (whole, Some(m.lanes_between(rows.start - start * lanes, (rows.end - start * lanes).min(lanes))))
        } else if start < full {
            (start.saturating_add(tile).min(full), None)
        } else {
            (end, Some(m.tail(rows.end - start * lanes)))
        };
        // A partial chunk as a tile of its own, or stepped lane by lane: branches on the
        // constant, so that a kernel instantiates only the code of its own way, and each way
        // reaches the formula from one place.
        if const { !K::Red::PARTIAL_AS_TILE }
            && let Some(mask) = mask
        {
            let j = m.iota((start * lanes) as u32);
            let values = K::pair(m, o, &inner[start]);
            for b in 0..<K::Block<()> as Array<()>>::LEN {
                let (f, g) = &values.as_ref()[b];
                let mut acc = K::Red::init(m);
                K::Red::step_masked(m, &mut acc, f, g, j, mask);
                K::Red::merge(m, &mut total.as_mut()[b], &acc);
            }
        } else {
            let mut acc: K::Block<Acc<K, M>> = Array::from_fn(|b| K::Red::restart(m, &total.as_ref()[b]));
            K::Red::step_chunks(m, &mut acc, o, &inner[start..stop], start);
            if let Some(mask) = mask {
                for a in acc.as_mut() {
                    K::Red::clear_lanes(m, a, mask);
                }
            }
            for b in 0..<K::Block<()> as Array<()>>::LEN {
                K::Red::merge(m, &mut total.as_mut()[b], &acc.as_ref()[b]);
            }
        }
        start = stop;
    }
}
