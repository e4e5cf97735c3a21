//! Points sorted into clusters, for block-sparse ranges: KeOps' `grid_cluster`,
//! `sort_clusters`, `cluster_ranges_centroids`, and which clusters interact from the distances
//! between centroids (a cluster-to-cluster mask, or neighbour lists found through a grid).
//! Points are flat row-major rows of `dim` numbers, as everywhere in keops.

use std::collections::HashMap;

use rayon::prelude::*;

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
    let n = check_rows(x, dim)?;
    let cells: Vec<i64> = x.iter().map(|&c| (c.to_f64() / size).floor() as i64).collect();
    let cell = |p: usize| &cells[p * dim..(p + 1) * dim];
    let mut order: Vec<usize> = (0..n).collect();
    order.par_sort_unstable_by(|&a, &b| cell(a).cmp(cell(b)));
    let mut labels = vec![0; n];
    let mut label = 0;
    for (k, &point) in order.iter().enumerate() {
        if k > 0 && cell(order[k - 1]) != cell(point) {
            label += 1;
        }
        labels[point] = label;
    }
    Ok(labels)
}

/// The permutation that sorts points by label, keeping their order within a label (KeOps'
/// `sort_clusters` returns the points permuted this way): `sorted[n] = points[perm[n]]`.
pub fn sort_by_label(labels: &[usize]) -> Vec<usize> {
    // A counting sort: each label's points go to its slot, in their order.
    let mut next = vec![0usize; labels.iter().max().map_or(0, |&m| m + 1)];
    for &label in labels {
        next[label] += 1;
    }
    let mut start = 0;
    for slot in &mut next {
        (*slot, start) = (start, start + *slot);
    }
    let mut perm = vec![0; labels.len()];
    for (n, &label) in labels.iter().enumerate() {
        perm[next[label]] = n;
        next[label] += 1;
    }
    perm
}

/// Rows of `dim` numbers in the order of `perm`: `out[n] = rows[perm[n]]`.
pub fn permute_rows<T: Copy>(rows: &[T], dim: usize, perm: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(perm.len() * dim);
    for &n in perm {
        out.extend_from_slice(&rows[n * dim..(n + 1) * dim]);
    }
    out
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
#[derive(Clone, Debug, PartialEq)]
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
    mask(centroids_i, centroids_j, dim, radius, None)
}

/// [`within`] in a periodic box `[0, period)^dim`: centroids are compared by their nearest
/// periodic images, as the kernel of a periodic system compares its points.
pub fn within_periodic<T: Real>(
    centroids_i: &[T],
    centroids_j: &[T],
    dim: usize,
    radius: T,
    period: T,
) -> Result<Vec<bool>> {
    mask(centroids_i, centroids_j, dim, radius, Some(checked_period(period)?))
}

/// For each centroid of `centroids_i`, the indices (increasing) of the centroids of
/// `centroids_j` within `radius`: what [`within`] keeps (with a `period`, what
/// [`within_periodic`] keeps), as lists for [`Ranges::from_neighbours`]. The centroids are
/// bucketed on a grid at least `radius` wide, so that each is compared with those of its
/// neighbouring buckets only (in up to 3 dimensions; all pairs beyond).
///
/// [`Ranges::from_neighbours`]: super::Ranges::from_neighbours
pub fn neighbours<T: Real>(
    centroids_i: &[T],
    centroids_j: &[T],
    dim: usize,
    radius: T,
    period: Option<T>,
) -> Result<Vec<Vec<usize>>> {
    let (m, n) = (check_rows(centroids_i, dim)?, check_rows(centroids_j, dim)?);
    let r = radius.to_f64();
    if !(r > 0.0 && r.is_finite()) {
        return Err(Error::Ranges { reason: format!("a radius of {r}") });
    }
    let period = period.map(checked_period).transpose()?;
    let (a, b) = (as_f64(centroids_i), as_f64(centroids_j));
    let close = |k: usize, l: usize| {
        let (a, b) = (&a[k * dim..(k + 1) * dim], &b[l * dim..(l + 1) * dim]);
        a.iter().zip(b).map(|(&u, &v)| nearest_image(u - v, period).powi(2)).sum::<f64>() <= r * r
    };
    // Buckets of side `width`, `count` of them per dimension in a periodic box (at least 3, so
    // that the offsets -1, 0, 1 reach distinct buckets), unbounded otherwise.
    let (width, count) = match period {
        Some(p) => (p / (p / r).floor(), Some((p / r).floor() as i64)),
        None => (r, None),
    };
    if dim > 3 || count.is_some_and(|c| c < 3) {
        return Ok((0..m).into_par_iter().map(|k| (0..n).filter(|&l| close(k, l)).collect()).collect());
    }
    // A bucket's coordinates, padded with zeros to 3 dimensions.
    let wrap = |b: i64| count.map_or(b, |c| b.rem_euclid(c));
    let bucket = |c: &[f64]| -> [i64; 3] {
        std::array::from_fn(|d| c.get(d).map_or(0, |&v| wrap((v / width).floor() as i64)))
    };
    // The j-centroids sorted by bucket, and where each bucket's run starts and ends.
    let keys: Vec<[i64; 3]> = b.chunks(dim).map(bucket).collect();
    let mut by_bucket: Vec<usize> = (0..n).collect();
    by_bucket.sort_unstable_by_key(|&l| (keys[l], l));
    let mut runs: HashMap<[i64; 3], (usize, usize)> = HashMap::new();
    for (at, &l) in by_bucket.iter().enumerate() {
        runs.entry(keys[l]).or_insert((at, at)).1 = at + 1;
    }
    let offsets: Vec<[i64; 3]> = (0..3usize.pow(dim as u32))
        .map(|code| {
            std::array::from_fn(|d| if d < dim { (code / 3usize.pow(d as u32) % 3) as i64 - 1 } else { 0 })
        })
        .collect();
    Ok((0..m)
        .into_par_iter()
        .map(|k| {
            let home = bucket(&a[k * dim..(k + 1) * dim]);
            let mut found = Vec::new();
            for offset in &offsets {
                let key: [i64; 3] = std::array::from_fn(|d| wrap(home[d] + offset[d]));
                if let Some(&(from, to)) = runs.get(&key) {
                    found.extend(by_bucket[from..to].iter().copied().filter(|&l| close(k, l)));
                }
            }
            found.sort_unstable();
            found
        })
        .collect())
}

/// The numbers as `f64`.
fn as_f64<T: Real>(x: &[T]) -> Vec<f64> {
    x.iter().map(|v| v.to_f64()).collect()
}

/// The displacement `d` along one axis, or in a periodic box that of the nearest images.
fn nearest_image(d: f64, period: Option<f64>) -> f64 {
    match period {
        Some(p) if d.abs() > 0.5 * p => d - p * (d / p).round(),
        _ => d,
    }
}

/// `period` as a number, or an error unless it is positive and finite.
fn checked_period<T: Real>(period: T) -> Result<f64> {
    let p = period.to_f64();
    if !(p > 0.0 && p.is_finite()) {
        return Err(Error::Ranges { reason: format!("a period of {p}") });
    }
    Ok(p)
}

/// The mask of centroid pairs within `radius`, nearest images in a box of side `period`.
fn mask<T: Real>(
    centroids_i: &[T],
    centroids_j: &[T],
    dim: usize,
    radius: T,
    period: Option<f64>,
) -> Result<Vec<bool>> {
    check_rows(centroids_i, dim)?;
    check_rows(centroids_j, dim)?;
    let r2 = radius.to_f64() * radius.to_f64();
    Ok(centroids_i
        .chunks(dim)
        .flat_map(|a| {
            centroids_j.chunks(dim).map(move |b| {
                let d2 =
                    a.iter().zip(b).map(|(&u, &v)| nearest_image(u.to_f64() - v.to_f64(), period).powi(2));
                d2.sum::<f64>() <= r2
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
