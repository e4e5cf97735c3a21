//! Sums of one per-pair value times a vector of the reduced row (`K(x_i, y_j) * b_j`, a kernel
//! applied to several columns at once), and soft-maxes and weighted log-sum-exps whose weights
//! are such a vector, which the CPU kernel accumulates a few components at a time: each
//! component takes the same steps in the same order as a reduction of that component alone, so
//! the results are those of one kernel per column, to the bit.

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

/// Checks that each column of `got` (rows of `width`) has the bits of `column_alone(c)`.
fn same_bits_per_column<T: Real>(
    got: &[T],
    width: usize,
    column_alone: impl Fn(usize) -> Vec<T>,
    what: &str,
) {
    for c in 0..width {
        for (row, w) in column_alone(c).iter().enumerate() {
            let v = got[row * width + c];
            assert!(
                v.to_f64().to_bits() == w.to_f64().to_bits(),
                "{what}: row {row}, column {c}: {v:?} vs {w:?}"
            );
        }
    }
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
    let alone = |c| one.eval_flat(&[g.clone(), x.clone(), y.clone(), column(b, width, c)]).unwrap();
    same_bits_per_column(&got, width, alone, what);
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

/// Exponents `x_i * f_j` for the soft-max tests, and weights `w_j` of `width` columns in
/// `[0.1, 1)`: `f` is drawn by `exponent(j)`.
fn weighted_inputs(
    m: usize,
    n: usize,
    width: usize,
    seed: u64,
    exponent: impl Fn(&mut Rng, usize) -> f64,
) -> [Vec<f32>; 3] {
    let mut rng = Rng::new(seed);
    let f32s = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    let x = f32s(rng.vec(m, 0.5, 2.0));
    let f = f32s((0..n).map(|j| exponent(&mut rng, j)).collect());
    [x, f, f32s(rng.vec(width * n, 0.1, 1.0))]
}

/// Draws reduced row `j`'s exponent factor.
type Exponent = dyn Fn(&mut Rng, usize) -> f64;

/// Exponents whose maxima settle early (with a fifth far below them, where `exp` takes its
/// full path), rise with every reduced row (each run raises the maxima), jump late in the
/// range, or include infinities (their runs are stepped pair by pair).
fn exponent_patterns(n: usize) -> [(&'static str, Box<Exponent>); 4] {
    [
        (
            "random exponents",
            Box::new(|rng: &mut Rng, _| {
                if rng.uniform(0.0, 1.0) < 0.2 { rng.uniform(-150.0, -60.0) } else { rng.uniform(-3.0, 3.0) }
            }),
        ),
        ("rising exponents", Box::new(|_: &mut Rng, j| j as f64 * 1e-3)),
        (
            "a late jump",
            Box::new(move |rng: &mut Rng, j| if j + 70 == n { 30.0 } else { rng.uniform(-3.0, 3.0) }),
        ),
        (
            "infinite exponents",
            Box::new(move |rng: &mut Rng, j| match j {
                _ if j == n / 2 => f64::INFINITY,
                _ if j % 97 == 0 => f64::NEG_INFINITY,
                _ => rng.uniform(-3.0, 3.0),
            }),
        ),
    ]
}

#[test]
fn wide_soft_maxes_give_each_column_the_bits_of_its_own_soft_max() {
    let one = keops!(|x_i: f32, f_j: f32, w_j: f32| sumsoftmaxweight_j(x_i * f_j, w_j));
    let seven = keops!(|x_i: f32, f_j: f32, w_j: [f32; 7]| sumsoftmaxweight_j(x_i * f_j, w_j));
    let sixteen = keops!(|x_i: f32, f_j: f32, w_j: [f32; 16]| sumsoftmaxweight_j(x_i * f_j, w_j));
    // Weights computed per pair take the general path.
    let per_pair = keops!(|x_i: f32, f_j: f32, w_j: [f32; 7]| sumsoftmaxweight_j(x_i * f_j, x_i * w_j));
    assert!(scaled(&per_pair).is_empty());
    assert_eq!(scaled(&one).len(), 1);
    assert_eq!(scaled(&seven).len(), 7);
    assert_eq!(scaled(&sixteen).len(), 16);
    for (m, n) in [(29, 2 * 1024 + 37), (5, 40_000)] {
        for (pattern, exponent) in exponent_patterns(n) {
            let what = format!("{pattern}, M = {m}, N = {n}");
            let [x, f, w] = weighted_inputs(m, n, 7, 6, &exponent);
            let got = seven.eval_flat(&[x.clone(), f.clone(), w.clone()]).unwrap();
            let alone = |c| one.eval_flat(&[x.clone(), f.clone(), column(&w, 7, c)]).unwrap();
            same_bits_per_column(&got, 7, alone, &what);
            let [x, f, w] = weighted_inputs(m, n, 16, 7, &exponent);
            let got = sixteen.eval_flat(&[x.clone(), f.clone(), w.clone()]).unwrap();
            let alone = |c| one.eval_flat(&[x.clone(), f.clone(), column(&w, 16, c)]).unwrap();
            same_bits_per_column(&got, 16, alone, &what);
            if m == 29 {
                check_inputs(&seven, &weighted_inputs(m, n, 7, 8, &exponent), &what);
            }
        }
    }
}

#[test]
fn wide_weighted_log_sum_exps_give_each_column_the_bits_of_its_own() {
    let one = keops!(|x_i: f32, f_j: f32, w_j: f32| logsumexp_j(x_i * f_j, w_j));
    let five = keops!(|x_i: f32, f_j: f32, w_j: [f32; 5]| logsumexp_j(x_i * f_j, w_j));
    assert_eq!(scaled(&one).len(), 1);
    assert_eq!(scaled(&five).len(), 5);
    for (m, n) in [(29, 2 * 1024 + 37), (5, 40_000)] {
        for (pattern, exponent) in exponent_patterns(n) {
            let what = format!("{pattern}, M = {m}, N = {n}");
            let [x, f, w] = weighted_inputs(m, n, 5, 9, &exponent);
            let got = five.eval_flat(&[x.clone(), f.clone(), w.clone()]).unwrap();
            let alone = |c| one.eval_flat(&[x.clone(), f.clone(), column(&w, 5, c)]).unwrap();
            same_bits_per_column(&got, 5, alone, &what);
            if m == 29 {
                check_inputs(&five, &weighted_inputs(m, n, 5, 10, &exponent), &what);
            }
        }
    }
}

#[test]
fn log_sum_exps_by_runs_of_chunks_match_the_reference() {
    // Each run of chunks raises the maxima once; infinite exponents are stepped pair by pair.
    let lse = keops!(|x_i: f32, f_j: f32| logsumexp_j(x_i * f_j));
    for (m, n) in [(29, 2 * 1024 + 37), (3, 9)] {
        for (pattern, exponent) in exponent_patterns(n) {
            let [x, f, _] = weighted_inputs(m, n, 0, 11, &exponent);
            check_inputs(&lse, &[x, f], &format!("{pattern}, M = {m}, N = {n}"));
        }
    }
}
