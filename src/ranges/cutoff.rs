//! Reductions with a cut-off radius in one call: the points sorted into grid clusters, the
//! pairs of clusters that can hold points closer than the radius reduced, the output put back
//! in the caller's order.

use std::sync::OnceLock;

use super::Ranges;
use super::cluster::{
    Clusters, clusters, grid_cluster, neighbours, permute_rows, sort_by_label, unpermute_rows,
};
use crate::cpu::math::Real;
use crate::error::{Error, Result};
use crate::info::Index;
use crate::kernel::Kernel;

/// Everything a reduction restricted to the pairs of points closer than a radius needs, made
/// once for two point sets and reused by every call on them: the orders that sort each set by
/// grid cell, and the ranges of the cluster pairs that can hold such points (cells of half the
/// radius, centroids within the radius plus two cell diagonals). Every pair closer than the
/// radius is reduced, and some farther ones: a kernel that is not zero beyond the radius gives
/// the dense result minus the terms of the pairs left out.
///
/// ```
/// use keops::ranges::CutOff;
///
/// // Neighbours within 0.3 of each point, among points on a line.
/// let x: Vec<f64> = (0..50).map(|k| k as f64 * 0.1).collect();
/// let count = keops::keops!(|x_i: f64, y_j: f64, r2: f64| sum_j step(r2 - (x_i - y_j) * (x_i - y_j)));
/// let near = CutOff::new(&x, &x, 1, 0.3)?;
/// let counts = near.eval_flat(&count, &[&x, &x, &[0.3 * 0.3 - 1e-9]])?;
/// assert_eq!(counts[0], 3.0); // itself, 0.1 and 0.2 (0.3 is not strictly closer)
/// assert_eq!(counts[25], 5.0);
/// assert!(near.pairs() < 50 * 50);
/// # Ok::<(), keops::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CutOff {
    /// `sorted[n] = points[perm[n]]`, for the points of `i`, then of `j`.
    perm_i: Vec<usize>,
    perm_j: Vec<usize>,
    over_j: Ranges,
    over_i: Ranges,
    /// The same pairs' ranges over the other index, for gradients, made when first needed.
    over_j_transposed: OnceLock<Ranges>,
    over_i_transposed: OnceLock<Ranges>,
}

impl CutOff {
    /// The cut-off `radius` between the points `x` (indexed by `i`) and `y` (by `j`), rows of
    /// `dim` numbers: the kernel's variables whose points decide which pairs interact.
    pub fn new<T: Real>(x: &[T], y: &[T], dim: usize, radius: T) -> Result<CutOff> {
        Self::build(x, y, dim, radius, None)
    }

    /// The cut-off `radius` between points of a periodic box `[0, period)^dim`, whose kernel
    /// measures distances between nearest periodic images (KeOps' `Mod(x - y, period, -period
    /// / 2)`): pairs that interact across the box's faces are kept too.
    pub fn periodic<T: Real>(x: &[T], y: &[T], dim: usize, radius: T, period: T) -> Result<CutOff> {
        Self::build(x, y, dim, radius, Some(period))
    }

    fn build<T: Real>(x: &[T], y: &[T], dim: usize, radius: T, period: Option<T>) -> Result<CutOff> {
        let r = radius.to_f64();
        if !(r > 0.0 && r.is_finite()) {
            return Err(Error::Ranges { reason: format!("a cut-off radius of {r}") });
        }
        let cell = r / 2.0;
        // Each set's order by cell, and its clusters once sorted.
        let sort = |points: &[T]| -> Result<(Vec<usize>, Clusters<T>)> {
            let labels = grid_cluster(points, dim, T::from_f64(cell))?;
            let perm = sort_by_label(&labels);
            let sorted_labels: Vec<usize> = perm.iter().map(|&p| labels[p]).collect();
            let c = clusters(&permute_rows(points, dim, &perm), dim, &sorted_labels, None)?;
            Ok((perm, c))
        };
        let (perm_i, ci) = sort(x)?;
        // The points of a set against themselves (a particle system) are sorted once.
        let same = std::ptr::eq(x, y);
        let (perm_j, cj) = if same { (perm_i.clone(), ci.clone()) } else { sort(y)? };
        // A point lies within half a cell diagonal of its cell's centre, so within a diagonal
        // of its cluster's centroid (which lies in the cell).
        let diagonal = cell * (dim as f64).sqrt();
        let reach = T::from_f64(r + 2.0 * diagonal);
        let near_j = neighbours(&ci.centroids, &cj.centroids, dim, reach, period)?;
        let (groups_i, lists_i) = group(&ci.ranges, &near_j, &cj.ranges);
        let over_j = Ranges::of_lists(&groups_i, &cj.ranges, &lists_i)?;
        // Distances are symmetric: a set against itself has the same ranges both ways.
        let over_i = if same {
            over_j.clone()
        } else {
            let (groups_j, lists_j) = group(&cj.ranges, &transpose(&near_j, cj.ranges.len()), &ci.ranges);
            Ranges::of_lists(&groups_j, &ci.ranges, &lists_j)?
        };
        Ok(CutOff {
            perm_i,
            perm_j,
            over_j,
            over_i,
            over_j_transposed: OnceLock::new(),
            over_i_transposed: OnceLock::new(),
        })
    }

    /// The number of pairs a reduction computes (the dense reduction computes `M N`).
    pub fn pairs(&self) -> usize {
        self.over_j.pairs()
    }

    /// `k.eval_flat(inputs)` over the pairs of the cut-off, in the inputs' order: the i- and
    /// j-variables must have the rows of the points the cut-off was made with.
    pub fn eval_flat<K: Kernel>(&self, k: &K, inputs: &[&[K::T]]) -> Result<Vec<K::T>> {
        let info = k.info();
        let sorted = self.sort_inputs(k, inputs)?;
        let sorted: Vec<&[K::T]> = sorted.iter().map(Vec::as_slice).collect();
        let (ranges, outer_perm, reduced_perm) = match info.reduced {
            Index::I => (&self.over_i, &self.perm_j, &self.perm_i),
            _ => (&self.over_j, &self.perm_i, &self.perm_j),
        };
        let out = super::eval_flat(k, &sorted, ranges)?;
        let (vw, iw) = (info.value_width, info.index_width);
        let rows = outer_perm.len();
        let mut values = unpermute_rows(&out[..rows * vw], vw, outer_perm);
        let sorted_indices: Vec<K::T> = out[rows * vw..]
            .iter()
            .map(|&j| {
                let j = j.to_f64() as usize;
                reduced_perm.get(j).map_or(j, |&p| p) as f64
            })
            .map(K::T::from_f64)
            .collect();
        values.extend(unpermute_rows(&sorted_indices, iw, outer_perm));
        Ok(values)
    }

    /// `k.grad_flat(pos, inputs, e)` over the pairs of the cut-off, in the inputs' order.
    pub fn grad_flat<K: Kernel>(
        &self,
        k: &K,
        pos: usize,
        inputs: &[&[K::T]],
        e: &[K::T],
    ) -> Result<Vec<K::T>> {
        let info = k.info();
        let sorted = self.sort_inputs(k, inputs)?;
        let sorted: Vec<&[K::T]> = sorted.iter().map(Vec::as_slice).collect();
        let (ranges, outer_perm) = match info.reduced {
            Index::I => (&self.over_i, &self.perm_j),
            _ => (&self.over_j, &self.perm_i),
        };
        let e = permute_rows(e, info.value_width, outer_perm);
        let transposed = match info.reduced {
            Index::I => &self.over_i_transposed,
            _ => &self.over_j_transposed,
        };
        let transposed = transposed.get_or_init(|| ranges.transposed());
        let g = super::eval::grad_flat_transposed(k, pos, &sorted, &e, ranges, Some(transposed))?;
        let var = info.vars[pos];
        Ok(match self.perm(var.index) {
            Some(perm) => unpermute_rows(&g, var.dim, perm),
            None => g,
        })
    }

    /// The order of the points of `index`, none for parameters.
    fn perm(&self, index: Index) -> Option<&[usize]> {
        match index {
            Index::I => Some(&self.perm_i),
            Index::J => Some(&self.perm_j),
            Index::Param => None,
        }
    }

    /// The inputs sorted as the cut-off's points, after checking their rows.
    fn sort_inputs<K: Kernel>(&self, k: &K, inputs: &[&[K::T]]) -> Result<Vec<Vec<K::T>>> {
        let info = k.info();
        if inputs.len() != info.vars.len() {
            return Err(Error::InputCount { expected: info.vars.len(), got: inputs.len() });
        }
        info.vars
            .iter()
            .zip(inputs)
            .map(|(v, x)| match self.perm(v.index) {
                None => Ok(x.to_vec()),
                Some(perm) if x.len() == perm.len() * v.dim => Ok(permute_rows(x, v.dim, perm)),
                Some(perm) => Err(Error::Ranges {
                    reason: format!(
                        "input `{}` has {} numbers, not the {} rows of the cut-off's points",
                        v.name,
                        x.len(),
                        perm.len()
                    ),
                }),
            })
            .collect()
    }
}

/// The output rows a block of a cut-off gathers before it is reduced: consecutive clusters
/// (neighbouring cells) are reduced together, over the union of their neighbours, so that each
/// call of the kernel amortises reading its reduced rows over enough output rows.
const MIN_ROWS: usize = 32;

/// How much a block's reduced rows may grow, as a fraction, by grouping clusters.
const MAX_GROWTH: (usize, usize) = (3, 2);

/// For each cluster of the other set, the clusters of this one that list it.
fn transpose(lists: &[Vec<usize>], count: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); count];
    for (k, list) in lists.iter().enumerate() {
        for &l in list {
            out[l].push(k);
        }
    }
    out
}

/// Consecutive clusters grouped into blocks of about [`MIN_ROWS`] rows, each with the union of
/// its clusters' lists (increasing): a cluster joins the block before it while that block has
/// fewer rows and the union reaches at most [`MAX_GROWTH`] times the reduced rows of the block's
/// first cluster (sparse points, whose neighbouring cells share few neighbours, stay apart).
fn group(
    clusters: &[[usize; 2]],
    lists: &[Vec<usize>],
    reduced: &[[usize; 2]],
) -> (Vec<[usize; 2]>, Vec<Vec<usize>>) {
    let rows = |l: usize| reduced[l][1] - reduced[l][0];
    let (mut blocks, mut unions) = (Vec::new(), Vec::new());
    // `seen[l] == blocks.len()` once the block being built lists `l`.
    let mut seen = vec![usize::MAX; reduced.len()];
    let mut k = 0;
    while k < clusters.len() {
        let start = clusters[k][0];
        let (mut union, mut union_rows) = (Vec::new(), 0);
        let mut limit = usize::MAX;
        loop {
            for &l in &lists[k] {
                if seen[l] != blocks.len() {
                    seen[l] = blocks.len();
                    union.push(l);
                    union_rows += rows(l);
                }
            }
            limit = limit.min(union_rows.saturating_mul(MAX_GROWTH.0) / MAX_GROWTH.1);
            k += 1;
            let joins = k < clusters.len()
                && clusters[k - 1][1] - start < MIN_ROWS
                && union_rows
                    + lists[k].iter().filter(|&&l| seen[l] != blocks.len()).map(|&l| rows(l)).sum::<usize>()
                    <= limit;
            if !joins {
                break;
            }
        }
        union.sort_unstable();
        blocks.push([start, clusters[k - 1][1]]);
        unions.push(union);
    }
    (blocks, unions)
}
