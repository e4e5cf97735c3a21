//! Sums of one per-pair value times a vector of the reduced row (`K(x_i, y_j) * b_j`, a kernel
//! applied to several columns at once), which the CPU kernel accumulates a few components at a
//! time: each component takes the same steps in the same order as a sum of that component
//! alone, so the results are those of one kernel per column, to the bit.

mod common;

use common::{Rng, check_inputs};
use keops::__private::KernelDef;
use keops::{Kernel, Real, keops};

/// The features a kernel accumulates as a scaled sum (none if it takes the general path).
fn scaled<K: KernelDef>(_: &K) -> &'static [usize] {
    K::SCALED
}

/// Column `c` of a row-major matrix of `width` columns.
fn column<T: Copy>(b: &[T], width: usize, c: usize) -> Vec<T> {
    b.chunks(width).map(|row| row[c]).collect()
}

/// Checks that `wide` (inputs `[g, x, y, b]`, `b` of `width` columns) gives, in each column, the
/// bits `one` gives for that column alone.
fn same_bits_as_columns<T: Real, W: Kernel<T = T>, O: Kernel<T = T>>(
    wide: &W,
    one: &O,
    width: usize,
    inputs: &[Vec<T>; 4],
    what: &str,
) {
    let [g, x, y, b] = inputs;
    let got = wide.eval_flat(inputs).unwrap();
    for c in 0..width {
        let want = one.eval_flat(&[g.clone(), x.clone(), y.clone(), column(b, width, c)]).unwrap();
        for (row, w) in want.iter().enumerate() {
            let v = got[row * width + c];
            assert!(
                v.to_f64().to_bits() == w.to_f64().to_bits(),
                "{what}: row {row}, column {c}: {v:?} vs {w:?}"
            );
        }
    }
}

fn inputs<T: Real>(m: usize, n: usize, width: usize, seed: u64) -> [Vec<T>; 4] {
    let mut rng = Rng::new(seed);
    let mut draw =
        |count: usize, lo: f64, hi: f64| rng.vec(count, lo, hi).into_iter().map(T::from_f64).collect();
    [vec![T::from_f64(0.7)], draw(3 * m, -1.5, 1.5), draw(3 * n, -1.5, 1.5), draw(width * n, -1.0, 1.0)]
}

#[test]
fn wide_gaussian_sums_give_each_column_the_bits_of_its_own_sum() {
    let one = keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let two =
        keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 2]| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    let seven =
        keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 7]| sum_j exp(-g * sqdist(x_i, y_j)) * b_j);
    // The feature first: the product's factors are swapped.
    let sixteen =
        keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 16]| sum_j b_j * exp(-g * sqdist(x_i, y_j)));
    assert!(scaled(&one).is_empty(), "a single column takes the general path");
    assert_eq!(scaled(&two).len(), 2);
    assert_eq!(scaled(&seven).len(), 7);
    assert_eq!(scaled(&sixteen).len(), 16);
    // Blocks of rows cut short at the end, reduced ranges of several tiles with a partial last
    // chunk, and (few output rows, many reduced ones) ranges split into segments.
    for (m, n) in [(29, 2 * 1024 + 37), (5, 40_000)] {
        let what = format!("M = {m}, N = {n}");
        same_bits_as_columns(&two, &one, 2, &inputs(m, n, 2, 1), &what);
        same_bits_as_columns(&seven, &one, 7, &inputs(m, n, 7, 2), &what);
        same_bits_as_columns(&sixteen, &one, 16, &inputs(m, n, 16, 3), &what);
    }
    let inputs = inputs(29, 2 * 1024 + 37, 7, 4);
    check_inputs(&seven, &inputs, "random inputs");
}

#[test]
fn wide_sums_over_i_in_f64_give_each_column_the_bits_of_its_own_sum() {
    let one =
        keops!(|g: f64, x_i: [f64; 3], y_j: [f64; 3], b_i: f64| sum_i inv(1.0 + g * sqdist(x_i, y_j)) * b_i);
    let five = keops!(|g: f64, x_i: [f64; 3], y_j: [f64; 3], b_i: [f64; 5]| sum_i inv(1.0 + g * sqdist(x_i, y_j)) * b_i);
    assert_eq!(scaled(&five).len(), 5);
    // Over i, x and b are the reduced rows: drawn as `inputs` draws y and b.
    let [g, y, x, b] = inputs::<f64>(1500, 1100, 5, 5);
    let wide = [g, x, y, b];
    let [g, x, y, b] = &wide;
    let got = five.eval_flat(&wide).unwrap();
    for c in 0..5 {
        let want = one.eval_flat(&[g.clone(), x.clone(), y.clone(), column(b, 5, c)]).unwrap();
        for (row, w) in want.iter().enumerate() {
            assert_eq!(got[row * 5 + c].to_bits(), w.to_bits(), "row {row}, column {c}");
        }
    }
    check_inputs(&five, &wide, "random inputs");
}
