//! Reductions with a cut-off radius in one call: the points sorted into grid clusters, the
//! pairs of clusters that can hold points closer than the radius reduced, the output put back
//! in the caller's order.

use super::Ranges;
use super::cluster::{Clusters, clusters, grid_cluster, permute_rows, sort_by_label, unpermute_rows, within};
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
}

impl CutOff {
    /// The cut-off `radius` between the points `x` (indexed by `i`) and `y` (by `j`), rows of
    /// `dim` numbers: the kernel's variables whose points decide which pairs interact.
    pub fn new<T: Real>(x: &[T], y: &[T], dim: usize, radius: T) -> Result<CutOff> {
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
        let (perm_j, cj) = sort(y)?;
        // A point lies within half a cell diagonal of its cell's centre, so within a diagonal
        // of its cluster's centroid (which lies in the cell).
        let diagonal = cell * (dim as f64).sqrt();
        let keep = within(&ci.centroids, &cj.centroids, dim, T::from_f64(r + 2.0 * diagonal))?;
        let (over_j, over_i) = Ranges::from_mask(&ci.ranges, &cj.ranges, &keep)?;
        Ok(CutOff { perm_i, perm_j, over_j, over_i })
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
        let g = super::grad_flat(k, pos, &sorted, &e, ranges)?;
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
