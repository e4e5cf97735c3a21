//! Block-sparse ranges, KeOps' `ranges` argument, and the helpers that make them: which blocks
//! of reduced rows each block of output rows interacts with, so that a reduction restricted to
//! them (a kernel with a cut-off radius, a batch of point clouds of different sizes) costs only
//! the interacting blocks.
//!
//! A reduction over `j` uses [`Ranges`] whose blocks of output rows are blocks of `i` and whose
//! reduced blocks are blocks of `j`; its gradient with respect to a `j`-variable, a reduction
//! over `i`, uses the transposed ranges. [`Ranges::from_mask`], [`Ranges::from_neighbours`] and
//! [`Ranges::block_diagonal`] make both. The blocks come from sorting points into clusters ([`cluster`]); [`CutOff`] does
//! all of it for a cut-off radius, and puts the results back in the caller's order.
//!
//! ```
//! use keops::ranges::Ranges;
//!
//! // Two point clouds of 3 and 2 points (i), against clouds of 4 and 1 points (j).
//! let (over_j, over_i) = Ranges::block_diagonal(&[3, 2], &[4, 1])?;
//! assert_eq!(over_j.blocks().collect::<Vec<_>>(), [(0..3, vec![0..4]), (3..5, vec![4..5])]);
//! assert_eq!(over_j.pairs(), 3 * 4 + 2 * 1);
//! assert_eq!(over_i.blocks().next(), Some((0..4, vec![0..3])));
//! # Ok::<(), keops::Error>(())
//! ```

pub mod cluster;
mod cutoff;
mod eval;

pub use cutoff::CutOff;
pub use eval::{eval_flat, grad_flat};

use std::ops::Range;

use crate::backend::{Backend, Resolved};
use crate::error::{Error, Result};

/// Whether kernels on `backend` reduce ranges one block at a time (one launch per block on a
/// GPU, whose kernels do not take ranges yet) rather than in one call (the CPU's).
pub(crate) fn by_blocks(backend: Backend) -> bool {
    matches!(backend.resolve(), Ok(Resolved::Cuda(_)))
}

/// For each block of output rows, the blocks of reduced rows it is reduced over: KeOps'
/// `(ranges_i, slices_i, redranges_j)` for a reduction over `j`, or `(ranges_j, slices_j,
/// redranges_i)` for one over `i`. Output rows outside every block get the reduction of nothing
/// (0 for a sum), as in KeOps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ranges {
    outer: Vec<[usize; 2]>,
    slices: Vec<usize>,
    reduced: Vec<[usize; 2]>,
}

impl Ranges {
    /// Ranges from KeOps' three arrays: `outer[k] = [start, end)` of output rows, reduced over
    /// `reduced[slices[k - 1]..slices[k]]` (from 0 for `k = 0`). An error unless the output
    /// blocks are increasing and disjoint, every block has `start <= end`, and `slices` is
    /// non-decreasing with one entry per output block, ending at `reduced.len()`.
    pub fn new(outer: Vec<[usize; 2]>, slices: Vec<usize>, reduced: Vec<[usize; 2]>) -> Result<Ranges> {
        let bad = |reason: String| Err(Error::Ranges { reason });
        if slices.len() != outer.len() {
            return bad(format!("{} output blocks but {} slices", outer.len(), slices.len()));
        }
        for (k, &[start, end]) in outer.iter().enumerate() {
            if start > end {
                return bad(format!("output block {k} is [{start}, {end})"));
            }
            if let Some(&[_, previous_end]) = k.checked_sub(1).map(|p| &outer[p])
                && start < previous_end
            {
                return bad(format!(
                    "output block {k} starts at {start}, before the end of the previous one ({previous_end})"
                ));
            }
        }
        let mut previous = 0;
        for (k, &slice) in slices.iter().enumerate() {
            if slice < previous || slice > reduced.len() {
                return bad(format!(
                    "slice {k} is {slice}: slices must increase, from 0 to the {} reduced blocks",
                    reduced.len()
                ));
            }
            previous = slice;
        }
        if previous != reduced.len() {
            return bad(format!("the slices end at {previous}, not at the {} reduced blocks", reduced.len()));
        }
        if let Some((k, [start, end])) = reduced.iter().enumerate().find(|(_, [s, e])| s > e) {
            return bad(format!("reduced block {k} is [{start}, {end})"));
        }
        Ok(Ranges { outer, slices, reduced })
    }

    /// An error unless every block lies within `outer_rows` output rows and `reduced_rows`
    /// reduced rows: what a reduction checks before it uses the ranges.
    pub fn check_bounds(&self, outer_rows: usize, reduced_rows: usize) -> Result<()> {
        let outside = |blocks: &[[usize; 2]], rows: usize, what: &str| {
            blocks.iter().find(|b| b[1] > rows).map(|&[start, end]| Error::Ranges {
                reason: format!("{what} block [{start}, {end}) goes past the {rows} rows"),
            })
        };
        match outside(&self.outer, outer_rows, "output")
            .or_else(|| outside(&self.reduced, reduced_rows, "reduced"))
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The ranges of a cluster-to-cluster mask, KeOps' `from_matrix`: output clusters
    /// `clusters_i` (blocks of `i`), reduced clusters `clusters_j`, and `keep` row-major, one row
    /// per cluster of `i`. Returns the ranges of a reduction over `j`, then those of a reduction
    /// over `i` (the transposed mask).
    pub fn from_mask(
        clusters_i: &[[usize; 2]],
        clusters_j: &[[usize; 2]],
        keep: &[bool],
    ) -> Result<(Ranges, Ranges)> {
        let (m, n) = (clusters_i.len(), clusters_j.len());
        if keep.len() != m * n {
            return Err(Error::Ranges {
                reason: format!("a mask of {} entries for {m} x {n} clusters", keep.len()),
            });
        }
        let over_j = Ranges::of_mask(clusters_i, clusters_j, |k, l| keep[k * n + l])?;
        let over_i = Ranges::of_mask(clusters_j, clusters_i, |l, k| keep[k * n + l])?;
        Ok((over_j, over_i))
    }

    /// The ranges of clusters and their neighbours: output clusters `clusters_i` (blocks of `i`,
    /// one after the other in row order), reduced clusters `clusters_j` likewise, and for each
    /// cluster of `i` the increasing indices of the clusters of `j` it interacts with (as
    /// [`cluster::neighbours`] finds them). Returns the ranges of a reduction over `j`, then
    /// those over `i`. Unlike [`from_mask`](Self::from_mask), which follows KeOps' `from_matrix`
    /// block for block, runs of consecutive clusters become one reduced block, so that a
    /// reduction reads them in place.
    pub fn from_neighbours(
        clusters_i: &[[usize; 2]],
        clusters_j: &[[usize; 2]],
        neighbours: &[Vec<usize>],
    ) -> Result<(Ranges, Ranges)> {
        if neighbours.len() != clusters_i.len() {
            return Err(Error::Ranges {
                reason: format!(
                    "neighbours of {} clusters for {} clusters",
                    neighbours.len(),
                    clusters_i.len()
                ),
            });
        }
        let mut transposed = vec![Vec::new(); clusters_j.len()];
        for (k, list) in neighbours.iter().enumerate() {
            if let Some(w) = list.windows(2).find(|w| w[0] >= w[1]) {
                return Err(Error::Ranges {
                    reason: format!("the neighbours of cluster {k} do not increase ({} then {})", w[0], w[1]),
                });
            }
            for &l in list {
                transposed
                    .get_mut(l)
                    .ok_or_else(|| Error::Ranges {
                        reason: format!("cluster {k} has neighbour {l}, of {} clusters", clusters_j.len()),
                    })?
                    .push(k);
            }
        }
        let over_j = Ranges::of_lists(clusters_i, clusters_j, neighbours)?;
        let over_i = Ranges::of_lists(clusters_j, clusters_i, &transposed)?;
        Ok((over_j, over_i))
    }

    /// Ranges of increasing lists of reduced clusters, runs of adjacent clusters merged.
    fn of_lists(outer: &[[usize; 2]], reduced: &[[usize; 2]], lists: &[Vec<usize>]) -> Result<Ranges> {
        let mut slices = Vec::with_capacity(outer.len());
        let mut blocks: Vec<[usize; 2]> = Vec::new();
        for list in lists {
            let first = blocks.len();
            for &l in list {
                let [start, end] = reduced[l];
                let joined = blocks.len() > first;
                match blocks.last_mut() {
                    Some(last) if joined && last[1] == start => last[1] = end,
                    _ => blocks.push([start, end]),
                }
            }
            slices.push(blocks.len());
        }
        Ranges::new(outer.to_vec(), slices, blocks)
    }

    fn of_mask(
        outer: &[[usize; 2]],
        reduced: &[[usize; 2]],
        keep: impl Fn(usize, usize) -> bool,
    ) -> Result<Ranges> {
        let mut slices = Vec::with_capacity(outer.len());
        let mut blocks = Vec::new();
        for k in 0..outer.len() {
            blocks.extend((0..reduced.len()).filter(|&l| keep(k, l)).map(|l| reduced[l]));
            slices.push(blocks.len());
        }
        Ranges::new(outer.to_vec(), slices, blocks)
    }

    /// The ranges of independent problems of `sizes_i` output rows and `sizes_j` reduced rows
    /// (a ragged batch: problem `b` pairs its `sizes_i[b]` rows of `i` with its `sizes_j[b]`
    /// rows of `j`, stored one problem after the other). Returns the ranges of a reduction over
    /// `j`, then those over `i`; an error if the two lists differ in length.
    pub fn block_diagonal(sizes_i: &[usize], sizes_j: &[usize]) -> Result<(Ranges, Ranges)> {
        if sizes_i.len() != sizes_j.len() {
            return Err(Error::Ranges {
                reason: format!("{} problems along i but {} along j", sizes_i.len(), sizes_j.len()),
            });
        }
        let blocks = |sizes: &[usize]| -> Vec<[usize; 2]> {
            let mut start = 0;
            sizes
                .iter()
                .map(|&n| {
                    start += n;
                    [start - n, start]
                })
                .collect()
        };
        let (bi, bj) = (blocks(sizes_i), blocks(sizes_j));
        let slices: Vec<usize> = (1..=bi.len()).collect();
        let diagonal = |outer: &[[usize; 2]], reduced: &[[usize; 2]]| Ranges {
            outer: outer.to_vec(),
            slices: slices.clone(),
            reduced: reduced.to_vec(),
        };
        Ok((diagonal(&bi, &bj), diagonal(&bj, &bi)))
    }

    /// Each block of output rows with the blocks of reduced rows it is reduced over.
    pub fn blocks(&self) -> impl Iterator<Item = (Range<usize>, Vec<Range<usize>>)> + '_ {
        self.outer.iter().enumerate().map(|(k, &[start, end])| {
            let from = if k == 0 { 0 } else { self.slices[k - 1] };
            (start..end, self.reduced[from..self.slices[k]].iter().map(|&[s, e]| s..e).collect())
        })
    }

    /// The same pairs' ranges for a reduction over the other index (KeOps' transposed ranges,
    /// which the backward pass of a reduction over `j` uses for gradients with respect to
    /// `j`-variables): the boundaries of the reduced blocks cut the other index into pieces,
    /// consecutive pieces paired with the same output blocks form one block, and adjacent
    /// output blocks one reduced block. A pair that these ranges reduce twice (overlapping
    /// reduced blocks) is reduced twice by the transpose too.
    ///
    /// ```
    /// use keops::ranges::Ranges;
    ///
    /// // Rows 0..2 of i against 0..3 and 5..6 of j; rows 2..4 against 2..6.
    /// let r = Ranges::new(vec![[0, 2], [2, 4]], vec![2, 3], vec![[0, 3], [5, 6], [2, 6]])?;
    /// let t = r.transposed();
    /// assert_eq!(
    ///     t.blocks().collect::<Vec<_>>(),
    ///     [(0..2, vec![0..2]), (2..3, vec![0..4]), (3..5, vec![2..4]), (5..6, vec![0..4])]
    /// );
    /// assert_eq!(t.pairs(), r.pairs());
    /// # Ok::<(), keops::Error>(())
    /// ```
    pub fn transposed(&self) -> Ranges {
        let mut cuts: Vec<usize> = self.reduced.iter().flatten().copied().collect();
        cuts.sort_unstable();
        cuts.dedup();
        let piece = |row: usize| cuts.partition_point(|&c| c < row);
        // For each piece, the output blocks paired with it, in order.
        let mut lists: Vec<Vec<usize>> = vec![Vec::new(); cuts.len().saturating_sub(1)];
        for k in 0..self.outer.len() {
            let from = if k == 0 { 0 } else { self.slices[k - 1] };
            for &[start, end] in &self.reduced[from..self.slices[k]] {
                for list in &mut lists[piece(start)..piece(end)] {
                    list.push(k);
                }
            }
        }
        let (mut outer, mut slices, mut reduced) = (Vec::new(), Vec::new(), Vec::<[usize; 2]>::new());
        let mut p = 0;
        while p < lists.len() {
            let mut q = p + 1;
            while q < lists.len() && lists[q] == lists[p] {
                q += 1;
            }
            if !lists[p].is_empty() {
                outer.push([cuts[p], cuts[q]]);
                let first = reduced.len();
                for &k in &lists[p] {
                    let [start, end] = self.outer[k];
                    let joined = reduced.len() > first;
                    match reduced.last_mut() {
                        Some(last) if joined && last[1] == start => last[1] = end,
                        _ => reduced.push([start, end]),
                    }
                }
                slices.push(reduced.len());
            }
            p = q;
        }
        Ranges { outer, slices, reduced }
    }

    /// The number of pairs a reduction with these ranges computes.
    pub fn pairs(&self) -> usize {
        self.blocks().map(|(rows, reduced)| rows.len() * reduced.iter().map(Range::len).sum::<usize>()).sum()
    }

    /// KeOps' three arrays: the output blocks, the slices, the reduced blocks.
    pub fn as_keops(&self) -> (&[[usize; 2]], &[usize], &[[usize; 2]]) {
        (&self.outer, &self.slices, &self.reduced)
    }
}
