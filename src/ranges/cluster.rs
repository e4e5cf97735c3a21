//! Points sorted into clusters, for block-sparse ranges: KeOps' `grid_cluster`,
//! `sort_clusters`, `cluster_ranges_centroids`, and a cluster-to-cluster mask from the distances
//! between centroids. Points are flat row-major rows of `dim` numbers, as everywhere in keops.

use crate::cpu::math::Real;
use crate::error::{Error, Result};

/// The label of each point's cell in a grid of cubic cells of side `size`: two points share a
/// label exactly when they share a cell, and labels are `0..C` for the `C` non-empty cells in
/// the lexicographic order of their integer coordinates. This is KeOps' `grid_cluster` for any
/// dimension; KeOps (dimensions 1 to 3) orders cells by a weighted sum of their coordinates,
/// which gives the same labels while the cells span fewer than 1024 along each axis.
pub fn grid_cluster<T: Real>(x: &[T], dim: usize, size: T) -> Result<Vec<usize>> {
    let size = size.to_f64();
    if !(size > 0.0 && size.is_finite()) {
        return Err(Error::Ranges { reason: format!("grid cells of side {size}") });
    }
    check_rows(x, dim)?;
    let cells: Vec<Vec<i64>> =
        x.chunks(dim).map(|p| p.iter().map(|&c| (c.to_f64() / size).floor() as i64).collect()).collect();
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&a, &b| cells[a].cmp(&cells[b]));
    let mut labels = vec![0; cells.len()];
    let mut label = 0;
    for (n, &point) in order.iter().enumerate() {
        if n > 0 && cells[order[n - 1]] != cells[point] {
            label += 1;
        }
        labels[point] = label;
    }
    Ok(labels)
}

/// The permutation that sorts points by label, keeping their order within a label (KeOps'
/// `sort_clusters` returns the points permuted this way): `sorted[n] = points[perm[n]]`.
pub fn sort_by_label(labels: &[usize]) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..labels.len()).collect();
    perm.sort_by_key(|&n| labels[n]);
    perm
}

/// Rows of `dim` numbers in the order of `perm`: `out[n] = rows[perm[n]]`.
pub fn permute_rows<T: Copy>(rows: &[T], dim: usize, perm: &[usize]) -> Vec<T> {
    perm.iter().flat_map(|&n| &rows[n * dim..(n + 1) * dim]).copied().collect()
}

/// Rows of `dim` numbers put back in their order before [`permute_rows`] with `perm`.
pub fn unpermute_rows<T: Copy + Default>(sorted: &[T], dim: usize, perm: &[usize]) -> Vec<T> {
    let mut out = vec![T::default(); sorted.len()];
    for (n, &p) in perm.iter().enumerate() {
        out[p * dim..(p + 1) * dim].copy_from_slice(&sorted[n * dim..(n + 1) * dim]);
    }
    out
}

/// The clusters of labels `0..C`, once the points are sorted by label: each cluster's
/// `[start, end)` rows, its centroid (the mean of its points weighted by `weights`, 1 each
/// without them) and its total weight. KeOps' `cluster_ranges_centroids`.
pub struct Clusters<T> {
    pub ranges: Vec<[usize; 2]>,
    /// `C` rows of `dim` numbers.
    pub centroids: Vec<T>,
    pub weights: Vec<T>,
}

/// See [`Clusters`]. `labels` has one label per row of `x`.
pub fn clusters<T: Real>(
    x: &[T],
    dim: usize,
    labels: &[usize],
    weights: Option<&[T]>,
) -> Result<Clusters<T>> {
    let n = check_rows(x, dim)?;
    if labels.len() != n || weights.is_some_and(|w| w.len() != n) {
        return Err(Error::Ranges {
            reason: format!(
                "{n} points, {} labels and {} weights",
                labels.len(),
                weights.map_or(n, <[T]>::len)
            ),
        });
    }
    let count = labels.iter().max().map_or(0, |&m| m + 1);
    let mut sizes = vec![0usize; count];
    let mut totals = vec![0.0f64; count];
    let mut sums = vec![0.0f64; count * dim];
    for (p, &label) in labels.iter().enumerate() {
        let w = weights.map_or(1.0, |w| w[p].to_f64());
        sizes[label] += 1;
        totals[label] += w;
        for c in 0..dim {
            sums[label * dim + c] += w * x[p * dim + c].to_f64();
        }
    }
    let mut start = 0;
    let ranges = sizes
        .iter()
        .map(|&size| {
            start += size;
            [start - size, start]
        })
        .collect();
    let centroids = sums.iter().enumerate().map(|(k, &s)| T::from_f64(s / totals[k / dim.max(1)])).collect();
    Ok(Clusters { ranges, centroids, weights: totals.into_iter().map(T::from_f64).collect() })
}

/// The cluster-to-cluster mask of clusters whose centroids lie within `radius` of each other,
/// row-major with one row per cluster of `centroids_i`, for [`Ranges::from_mask`]. To keep every
/// pair of points closer than `r`, take `radius = r` plus the two clusters' largest distances
/// from a point to its centroid (a grid cell's diagonal bounds them).
///
/// [`Ranges::from_mask`]: super::Ranges::from_mask
pub fn within<T: Real>(centroids_i: &[T], centroids_j: &[T], dim: usize, radius: T) -> Result<Vec<bool>> {
    check_rows(centroids_i, dim)?;
    check_rows(centroids_j, dim)?;
    let r2 = radius.to_f64() * radius.to_f64();
    Ok(centroids_i
        .chunks(dim)
        .flat_map(|a| {
            centroids_j.chunks(dim).map(move |b| {
                a.iter().zip(b).map(|(&u, &v)| (u.to_f64() - v.to_f64()).powi(2)).sum::<f64>() <= r2
            })
        })
        .collect())
}

/// The number of rows of `x`, or an error if it does not hold whole rows of `dim > 0`.
fn check_rows<T>(x: &[T], dim: usize) -> Result<usize> {
    if dim == 0 || !x.len().is_multiple_of(dim) {
        return Err(Error::Ranges { reason: format!("{} numbers are not rows of dimension {dim}", x.len()) });
    }
    Ok(x.len() / dim)
}
