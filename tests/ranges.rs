//! Block-sparse ranges and the clustering helpers, against pykeops 2.3's own helpers on the
//! same inputs (`tests/data/keops_ranges/make.py`), and malformed ranges as errors.
//! Run on its own with `cargo test --test ranges`.

mod common;

use common::json::Json;
use keops::Error;
use keops::ranges::Ranges;
use keops::ranges::cluster::{clusters, grid_cluster, permute_rows, sort_by_label, unpermute_rows, within};

fn cases() -> Vec<Json> {
    let path = format!("{}/tests/data/keops_ranges/cases.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Json::parse(&text).arr().to_vec()
}

fn ints(j: &Json) -> Vec<usize> {
    j.nums().into_iter().map(|v| v as usize).collect()
}

fn pairs(v: &[usize]) -> Vec<[usize; 2]> {
    v.chunks(2).map(|p| [p[0], p[1]]).collect()
}

fn field<'a>(case: &'a Json, key: &str) -> &'a Json {
    case.get(key).unwrap_or_else(|| panic!("no `{key}`"))
}

#[test]
fn grid_clusters_ranges_and_centroids_are_pykeops() {
    let mut seen = 0;
    for case in cases().iter().filter(|c| field(c, "kind").str() == "clusters") {
        seen += 1;
        let dim = field(case, "dim").num() as usize;
        let x = field(case, "x").nums();
        let w = field(case, "weights").nums();
        let labels = grid_cluster(&x, dim, field(case, "size").num()).unwrap();
        assert_eq!(labels, ints(field(case, "labels")), "labels, dimension {dim}");

        let c = clusters(&x, dim, &labels, Some(&w)).unwrap();
        assert_eq!(c.ranges, pairs(&ints(field(case, "ranges"))), "ranges, dimension {dim}");
        common::assert_close(&c.centroids, &field(case, "centroids").nums(), 1e-12, 1e-12, "centroids");
        common::assert_close(&c.weights, &field(case, "cluster_weights").nums(), 1e-12, 1e-12, "weights");

        // Sorted by label: the same labels, and each cluster the same points (pykeops' sort
        // is not stable, ours is, so the order within a cluster may differ).
        let perm = sort_by_label(&labels);
        let sorted_labels: Vec<usize> = perm.iter().map(|&p| labels[p]).collect();
        assert_eq!(sorted_labels, ints(field(case, "sorted_labels")));
        let sorted = permute_rows(&x, dim, &perm);
        let theirs = field(case, "sorted_x").nums();
        for &[start, end] in &c.ranges {
            let rows = |v: &[f64]| {
                let mut r: Vec<Vec<u64>> = v[start * dim..end * dim]
                    .chunks(dim)
                    .map(|p| p.iter().map(|c| c.to_bits()).collect())
                    .collect();
                r.sort();
                r
            };
            assert_eq!(rows(&sorted), rows(&theirs), "cluster [{start}, {end})");
        }
        assert_eq!(unpermute_rows(&sorted, dim, &perm), x);
    }
    assert_eq!(seen, 3);
}

#[test]
fn ranges_from_a_mask_are_pykeops() {
    let mut seen = 0;
    for case in cases().iter().filter(|c| field(c, "kind").str() == "from_matrix") {
        seen += 1;
        let keep: Vec<bool> =
            field(case, "keep").arr().iter().map(|b| matches!(b, Json::Bool(true))).collect();
        let ci = pairs(&ints(field(case, "ranges_i")));
        let cj = pairs(&ints(field(case, "ranges_j")));
        let (over_j, over_i) = Ranges::from_mask(&ci, &cj, &keep).unwrap();
        for (ours, key) in [(&over_j, "over_j"), (&over_i, "over_i")] {
            let theirs = field(case, key);
            let (outer, slices, reduced) = ours.as_keops();
            assert_eq!(outer, pairs(&ints(field(theirs, "ranges"))), "{key}");
            assert_eq!(slices, ints(field(theirs, "slices")), "{key}");
            assert_eq!(reduced, pairs(&ints(field(theirs, "redranges"))), "{key}");
        }
        // Both directions compute the same pairs.
        assert_eq!(over_j.pairs(), over_i.pairs());
    }
    assert_eq!(seen, 2);
}

#[test]
fn block_diagonal_ranges_are_those_of_the_diagonal_mask() {
    let (sizes_i, sizes_j) = ([3, 0, 5, 2], [4, 2, 1, 6]);
    let (over_j, over_i) = Ranges::block_diagonal(&sizes_i, &sizes_j).unwrap();
    let blocks = |sizes: &[usize]| -> Vec<[usize; 2]> {
        sizes
            .iter()
            .scan(0, |s, &n| {
                *s += n;
                Some([*s - n, *s])
            })
            .collect()
    };
    let eye: Vec<bool> = (0..16).map(|k| k / 4 == k % 4).collect();
    let (mj, mi) = Ranges::from_mask(&blocks(&sizes_i), &blocks(&sizes_j), &eye).unwrap();
    assert_eq!((over_j.clone(), over_i), (mj, mi));
    assert_eq!(over_j.pairs(), 3 * 4 + 5 + 2 * 6);
    assert!(over_j.check_bounds(10, 13).is_ok());
    assert!(matches!(Ranges::block_diagonal(&[1, 2], &[3]), Err(Error::Ranges { .. })));
}

#[test]
fn malformed_ranges_are_errors() {
    let err = |r: keops::Result<Ranges>| match r {
        Err(Error::Ranges { reason }) => reason,
        other => panic!("{other:?}"),
    };
    // Overlapping output blocks, a backwards block, slices that decrease or miss the end.
    assert!(
        err(Ranges::new(vec![[0, 4], [3, 6]], vec![1, 2], vec![[0, 1], [1, 2]])).contains("before the end")
    );
    assert!(err(Ranges::new(vec![[4, 2]], vec![1], vec![[0, 1]])).contains("[4, 2)"));
    assert!(
        err(Ranges::new(vec![[0, 1], [1, 2]], vec![2, 1], vec![[0, 1], [1, 2]]))
            .contains("slices must increase")
    );
    assert!(err(Ranges::new(vec![[0, 1]], vec![1], vec![[0, 1], [1, 2]])).contains("not at the 2"));
    assert!(err(Ranges::new(vec![[0, 1]], vec![], vec![])).contains("1 output blocks but 0 slices"));
    assert!(err(Ranges::new(vec![[0, 1]], vec![1], vec![[3, 1]])).contains("reduced block 0"));
    // Blocks past the data.
    let r = Ranges::new(vec![[0, 5]], vec![1], vec![[2, 9]]).unwrap();
    assert!(r.check_bounds(5, 9).is_ok());
    let e = r.check_bounds(5, 8).unwrap_err();
    assert_eq!(e.to_string(), "block-sparse ranges: reduced block [2, 9) goes past the 8 rows");
    // Helpers' inputs.
    assert!(matches!(grid_cluster(&[0.0f32; 5], 2, 1.0), Err(Error::Ranges { .. })));
    assert!(matches!(grid_cluster(&[0.0f32; 4], 2, 0.0), Err(Error::Ranges { .. })));
    assert!(matches!(Ranges::from_mask(&[[0, 1]], &[[0, 1]], &[true, false]), Err(Error::Ranges { .. })));
    assert!(matches!(clusters(&[0.0f64; 4], 2, &[0], None), Err(Error::Ranges { .. })));
}

#[test]
fn centroids_within_a_radius() {
    let ci = [0.0f32, 0.0, 3.0, 0.0];
    let cj = [0.0f32, 1.0, 10.0, 0.0, 3.0, 2.0];
    assert_eq!(within(&ci, &cj, 2, 2.0).unwrap(), [true, false, false, false, false, true]);
}
