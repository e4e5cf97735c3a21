//! The driver of compiled kernels: per-row features, packing, splitting into parallel tasks.
//!
//! It is generic over the element type and the SIMD tier only, and each tier's [`Math`] calls
//! it from a method of its own ([`Math::drive`]): a tier's `Math` is a concrete type, so that
//! method is compiled here, once, rather than in every crate with kernels. A kernel reaches it
//! through two small trait objects: [`RowFeatures`] and, per tier, [`TierKernel`], whose
//! reduction loops are the only code compiled per kernel and tier.

use std::ops::Range;

use super::interp::Call;
use super::math::{Math, Real};
use super::tasks::Schedule;
use super::{FEW_ROWS, MAX_LANES, ROWS_PER_TASK, SEGMENT, TILE, parallel_chunks};

/// The sizes the driver needs from a kernel.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Features per output row.
    pub outer_width: usize,
    /// Features per reduced row.
    pub inner_width: usize,
    /// Output rows reduced together (`KernelDef::Block`).
    pub block: usize,
    /// Whether the reduction is accumulated tile by tile (selections are not).
    pub tiled: bool,
    pub value_width: usize,
    pub index_width: usize,
}

/// A compiled kernel's per-row features, shared by its tiers.
pub trait RowFeatures<T>: Sync {
    fn shape(&self) -> Shape;
    /// Writes the features of output row `row` into `out` (`outer_width` long).
    fn outer_row(&self, inputs: &[&[T]], row: usize, out: &mut [T]);
    /// Writes the features of reduced row `row` into `out` (`inner_width` long).
    fn inner_row(&self, inputs: &[&[T]], row: usize, out: &mut [T]);
}

/// A compiled kernel's reduction loops on one tier.
pub trait TierKernel<T: Real, M: Math<T>>: Sync {
    /// Reduces the output rows `rows` over the reduced rows `reduced` (ranges, in order),
    /// writing their results into `values` and `indices` (which start at the first of these
    /// rows).
    fn reduce_rows(
        &self,
        m: M,
        job: &Job<'_, T, M::V>,
        rows: Range<usize>,
        reduced: &[Range<usize>],
        values: &mut [T],
        indices: &mut [usize],
    );
    /// Reduces every output row in `segments` segments of all the reduced rows, in parallel,
    /// and merges each row's segments in order: for calls with too few output rows to keep
    /// every thread busy.
    fn reduce_segments(
        &self,
        m: M,
        job: &Job<'_, T, M::V>,
        segments: usize,
        values: &mut [T],
        indices: &mut [usize],
    );
}

/// The data of one evaluation, as the reduction loops read it.
pub struct Job<'a, T, V> {
    /// Every output row's features, `outer_width` each.
    pub outer: &'a [T],
    pub outer_rows: usize,
    /// The reduced rows' features, `LANES` rows per value: `chunks` chunks of `inner_width`
    /// values. The last chunk is padded with copies of the last row, whose lanes are masked
    /// out of the reduction.
    pub inner: &'a [V],
    pub chunks: usize,
    pub inner_rows: usize,
    /// Chunks per segment: every output row is reduced segment by segment and the segments'
    /// results merged in order, whether they run in parallel or one after the other, so a
    /// row's result depends neither on the other rows nor on the number of threads.
    pub per: usize,
}

/// Evaluates a compiled kernel on tier `m`.
pub(crate) fn drive<T: Real, M: Math<T>>(
    m: M,
    features: &dyn RowFeatures<T>,
    kernel: &dyn TierKernel<T, M>,
    call: Call<'_, T>,
) {
    let Call { inputs, outer_rows, inner_rows, ranges, values, indices } = call;
    let shape = features.shape();
    debug_assert_eq!(values.len(), outer_rows * shape.value_width);
    debug_assert_eq!(indices.len(), outer_rows * shape.index_width);
    if outer_rows == 0 {
        return;
    }
    let outer = feature_rows(outer_rows, shape.outer_width, &|r, out| features.outer_row(inputs, r, out));
    let inner = feature_rows(inner_rows, shape.inner_width, &|r, out| features.inner_row(inputs, r, out));
    let inner = pack(m, &inner, shape.inner_width, inner_rows);
    let chunks = inner_rows.div_ceil(M::LANES);
    // Chunks of the reduced rows per segment: whole tiles, and a function of the sizes along
    // the reduced index only.
    let tile_chunks = (TILE / M::LANES).max(1);
    let per = chunks.div_ceil((inner_rows / SEGMENT).clamp(1, 64)).next_multiple_of(tile_chunks).max(1);
    let segments = if outer_rows >= FEW_ROWS || ranges.is_some() { 1 } else { chunks.div_ceil(per).max(1) };
    // Selections give the same result in one segment as in several.
    let per = if segments == 1 && !shape.tiled { chunks.max(1) } else { per };
    let job = Job { outer: &outer, outer_rows, inner: &inner, chunks, inner_rows, per };
    if segments > 1 {
        kernel.reduce_segments(m, &job, segments, values, indices);
        return;
    }
    let schedule = match ranges {
        Some(ranges) => Schedule::ranged(outer_rows, ranges),
        None => Schedule::dense(outer_rows, inner_rows, shape.block),
    };
    let widths = (shape.value_width, shape.index_width);
    schedule.run(values, indices, widths, &|rows, reduced, values, indices| {
        kernel.reduce_rows(m, &job, rows, reduced, values, indices)
    });
}

/// `rows` rows of `width` features, each written by `row(r, out)`, computed in parallel.
fn feature_rows<T: Real>(rows: usize, width: usize, row: &(dyn Fn(usize, &mut [T]) + Sync)) -> Vec<T> {
    let mut out = vec![T::ZERO; rows * width];
    if width > 0 {
        parallel_chunks(&mut out, ROWS_PER_TASK * width, &|first, chunk| {
            for (k, features) in chunk.chunks_exact_mut(width).enumerate() {
                row(first / width + k, features);
            }
        });
    }
    out
}

/// Packs `rows` rows of `width` features (`flat`) `LANES` rows per value, chunk by chunk; the
/// last chunk is padded with copies of the last row.
fn pack<T: Real, M: Math<T>>(m: M, flat: &[T], width: usize, rows: usize) -> Vec<M::V> {
    assert!(M::LANES <= MAX_LANES);
    let chunks = rows.div_ceil(M::LANES);
    let mut packed = vec![m.splat(T::ZERO); chunks * width];
    if width > 0 {
        parallel_chunks(&mut packed, ROWS_PER_TASK * width, &|first, out| {
            for (k, v) in out.iter_mut().enumerate() {
                let (chunk, feature) = ((first + k) / width, (first + k) % width);
                let mut lanes = [T::ZERO; MAX_LANES];
                for (l, x) in lanes[..M::LANES].iter_mut().enumerate() {
                    *x = flat[(chunk * M::LANES + l).min(rows - 1) * width + feature];
                }
                *v = m.load(&lanes[..M::LANES]);
            }
        });
    }
    packed
}
