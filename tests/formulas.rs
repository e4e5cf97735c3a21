//! Generated CPU code against keops-core's reference evaluator: every operation, f32 and f64,
//! reductions over i and j, sizes that are not multiples of the lane or tile sizes, and M or N
//! of 0 and 1.

mod common;

use common::check_reference;
use keops::__private::Real;
use keops::{Kernel, keops};

/// Sizes (M, N): empty sides, single rows, odd sizes, and more than one tile of 1024.
const SIZES: &[(usize, usize)] = &[(0, 7), (7, 0), (1, 1), (1, 33), (33, 1), (97, 131), (61, 1100)];

fn at_all_sizes<K: Kernel>(k: &K, lo: f64, hi: f64) {
    for (seed, &(m, n)) in SIZES.iter().enumerate() {
        check_reference(k, m, n, lo, hi, seed as u64);
    }
}

#[test]
fn gaussian_f32() {
    at_all_sizes(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j),
        -1.0,
        1.0,
    );
}

#[test]
fn gaussian_f64_over_i_with_parameter() {
    at_all_sizes(
        &keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 2], g: f64| sum_i exp(-g * sqdist(x_i, y_j)) * b_j),
        -1.0,
        1.0,
    );
}

#[test]
fn arithmetic() {
    at_all_sizes(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3], c: f32| sum_j(x_i + y_j) * (x_i - y_j) / (2.5 + square(y_j))
            - -x_i * c
            + inv(c + 3.0)),
        -1.0,
        1.0,
    );
}

#[test]
fn integer_and_real_powers() {
    at_all_sizes(
        &keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_i pow(x_i - y_j, 3) + pow(x_i, 0) + pow(y_j + 2.0, -2)
            + powf(abs(x_i) + 1.0, y_j)),
        -1.0,
        1.0,
    );
    at_all_sizes(&keops!(|x_i: [f32; 2], y_j: f32| sum_j pow(x_i * y_j, 5) + powf(1.5, x_i)), -1.0, 1.0);
}

#[test]
fn transcendental_f32() {
    at_all_sizes(
        &keops!(|x_i: [f32; 4], y_j: [f32; 4]| sum_j log(1.5 + sin(x_i * y_j)) * sqrt(2.0 + cos(x_i - y_j))
            + rsqrt(1.0 + square(x_i + y_j)) + exp(-abs(y_j))),
        -2.0,
        2.0,
    );
}

#[test]
fn transcendental_f64() {
    at_all_sizes(
        &keops!(|x_i: [f64; 4], y_j: [f64; 4]| sum_i log(1.5 + sin(x_i * y_j)) * sqrt(2.0 + cos(x_i - y_j))
            + rsqrt(1.0 + square(x_i + y_j)) + exp(-abs(y_j))),
        -2.0,
        2.0,
    );
}

#[test]
fn piecewise() {
    at_all_sizes(
        &keops!(|x_i: [f32; 3], y_j: [f32; 3]| sum_j relu(x_i - y_j) + abs(x_i) * sign(y_j) + step(x_i + y_j)
            + ifelse(x_i - y_j, x_i, y_j) + atan2(x_i, y_j)),
        -1.0,
        1.0,
    );
    at_all_sizes(
        &keops!(|x_i: [f64; 3], y_j: [f64; 3]| sum_i relu(x_i - y_j) + abs(x_i) * sign(y_j) + step(x_i + y_j)
            + ifelse(x_i - y_j, x_i, y_j) + atan2(x_i, y_j)),
        -1.0,
        1.0,
    );
}

#[test]
fn vector_operations() {
    at_all_sizes(
        &keops!(|x_i: [f64; 5], y_j: [f64; 5], w: [f64; 5]| sum_j sum(x_i * w) * dot(normalize(x_i), y_j)
            + norm2(x_i - y_j) + sqnorm2(y_j) * [x_i[0], x_i[1..3], y_j[3..]]),
        -1.0,
        1.0,
    );
    at_all_sizes(
        &keops!(|x_i: [f32; 5], y_j: [f32; 5], w: [f32; 5]| sum_i sum(x_i * w) * dot(normalize(x_i), y_j)
            + norm2(x_i - y_j) + sqnorm2(y_j) * [x_i[0], x_i[1..3], y_j[3..]]),
        -1.0,
        1.0,
    );
}

#[test]
fn indexing_slicing_concatenation() {
    at_all_sizes(
        &keops!(|x_i: [f32; 4], y_j: [f32; 3]| sum_i [x_i[3] * y_j[0..2], x_i[..=1], y_j[2]]),
        -1.0,
        1.0,
    );
}

#[test]
fn bare_types_and_vector_parameters() {
    at_all_sizes(
        &keops!(|x_i: f64, y_j: f64, p: [f64; 2], s: f64| sum_j exp(-s * square(x_i - y_j)) * p),
        0.0,
        1.0,
    );
}

#[test]
fn one_sided_formulas() {
    // Only i-variables: N defaults to 1. Only j-variables: M defaults to 1.
    at_all_sizes(&keops!(|x_i: [f32; 2]| sum_j exp(x_i)), -1.0, 1.0);
    at_all_sizes(&keops!(|y_j: [f64; 2], c: f64| sum_j c * y_j), -1.0, 1.0);
    // A constant formula counts the reduced rows.
    at_all_sizes(&keops!(|x_i: f32, y_j: f32| sum_j 1.0), -1.0, 1.0);
}

#[test]
fn split_reduction_for_few_output_rows() {
    // Few output rows and many reduced rows: the reduced index is split into segments.
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    check_reference(&k, 3, 40_000, -1.0, 1.0, 11);
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_i sqdist(x_i, y_j));
    check_reference(&k, 50_001, 2, -1.0, 1.0, 12);
}

#[test]
fn gradients_inside_formulas() {
    at_all_sizes(
        &keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: f64, e_i: f64| sum_j grad(exp(-sqdist(x_i, y_j)) * b_j, x_i, e_i)),
        -1.0,
        1.0,
    );
    // Second order, with respect to a j-variable, reduced over i.
    at_all_sizes(
        &keops!(|x_i: [f64; 2], y_j: [f64; 2], e_i: f64, f_j: [f64; 2]| sum_i grad(
            grad(exp(-sqdist(x_i, y_j)), x_i, e_i),
            y_j,
            f_j
        )),
        -1.0,
        1.0,
    );
}

#[test]
fn differential_operators() {
    // A large formula: the reference evaluator is slow on it, so the sizes are smaller.
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2], u_i: [f64; 2]| sum_j [
        diff(exp(-sqdist(x_i, y_j)) * x_i, x_i, u_i),
        gradmatrix(sin(x_i * y_j), x_i),
        divergence(x_i * sqdist(x_i, y_j), x_i),
        laplacian(exp(-sqdist(x_i, y_j)), y_j)
    ]);
    for (seed, (m, n)) in [(0, 3), (1, 1), (17, 45)].into_iter().enumerate() {
        check_reference(&k, m, n, -1.0, 1.0, seed as u64);
    }
}

#[test]
fn keops_operations_in_math_syntax() {
    // Comparisons, tuple attributes and a few of KeOps' operations, by their lower-case names.
    at_all_sizes(
        &keops!(|x_i: [f64; 6], y_j: [f64; 6], s: [f64; 1]| sum_j [
            tensordot(x_i, y_j, (2, 3), (3, 2), (1,), (0,)),
            complexmult(x_i[0..2], y_j[2..4])
        ] + (x_i[0] < y_j[1])
            + (x_i[2] >= y_j[3]) * clamp(sum(x_i), -1, 1)
            + weightedsqnorm(s, x_i - y_j)
            + max(y_j) * argmin(x_i)
            + sinxdivx(x_i[4]) * xlogx(abs(y_j[5]) + 0.5)),
        -1.0,
        1.0,
    );
}

/// A formula's `exp` gives the bits of the runtime's scalar `exp`, in blocks of rows whose
/// arguments are all below `exp_normal_bound` in magnitude (computed without the clamp, scaled
/// as a normal number) and in blocks with an argument outside it: near the range's ends, with
/// subnormal, zero, infinite or NaN results; and in blocks with arguments all below the bound
/// but some far below it (the clamp's lower half, subnormal and zero results, -inf).
#[test]
fn exp_in_formulas_matches_the_scalar_exp() {
    use keops::__private::Real;
    fn check<T: Real + Copy + std::fmt::Debug>(got: &[[T; 1]], x: &[T]) {
        for (g, &x) in got.iter().zip(x) {
            let want = T::exp(T::Scalar::default(), x);
            let same = (g[0].to_f64().is_nan() && want.to_f64().is_nan()) || g[0].to_f64() == want.to_f64();
            assert!(same, "exp({x:?}) = {:?}, the scalar exp gives {want:?}", g[0]);
        }
    }
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -87.33,
        -86.6,
        -86.0,
        86.0,
        88.0,
        88.72,
        89.5,
    ];
    let sweep = |lo: f64, hi: f64| -> Vec<f64> {
        let mut x: Vec<f64> =
            (0..20_000).map(|k| lo + (hi - lo) * (k as f64 + 0.37 * (k % 7) as f64) / 20_000.0).collect();
        x.extend(specials);
        x
    };
    // Below the bound, however far: every argument of these sweeps is below 86 (or 700).
    let below = |lo: f64, hi: f64, far: &[f64]| -> Vec<f64> {
        let mut x = sweep(lo, hi);
        x.retain(|v| *v < hi);
        x.extend(far);
        x.extend(far.iter().map(|v| v * (1.0 - 1e-7)));
        x
    };
    let k = keops!(|x_i: f32, y_j: f32| sum_j exp(x_i + y_j));
    let x: Vec<f32> = sweep(-110.0, 90.0).into_iter().map(|v| v as f32).collect();
    check(&k.eval(&x, &[0.0]).unwrap(), &x);
    let far = [-87.33, -87.34, -95.0, -103.27, -103.28, -103.97, -104.0, -200.0, -1e30, f64::NEG_INFINITY];
    let x: Vec<f32> = below(-120.0, 85.9, &far).into_iter().map(|v| v as f32).collect();
    check(&k.eval(&x, &[0.0]).unwrap(), &x);
    let k = keops!(|x_i: f64, y_j: f64| sum_j exp(x_i + y_j));
    let x = sweep(-750.0, 710.0);
    check(&k.eval(&x, &[0.0]).unwrap(), &x);
    let far = [-708.4, -708.5, -720.0, -744.4, -745.1, -745.2, -800.0, -1e300, f64::NEG_INFINITY];
    check(&k.eval(&below(-760.0, 699.0, &far), &[0.0]).unwrap(), &below(-760.0, 699.0, &far));
}

/// A sum of products whose factor `exp(..)` is subnormal (AVX-512 kernels compute such fused
/// multiply-adds apart, through f64, as Intel's multipliers are slow on subnormal operands)
/// gives what two fused multiply-adds give: each row has two nonzero terms, 32 reduced rows
/// apart so that they share a lane at every SIMD width, with factors from the scalar `exp`.
#[test]
fn sums_of_subnormal_products_are_fused_multiply_adds() {
    use keops::__private::Real;
    let k = keops!(|x_i: f32, y_j: f32, b_j: f32| sum_j exp(x_i + y_j) * b_j);
    let x: Vec<f32> = (0..203).map(|r| -87.4 - 0.06 * r as f32).collect();
    for first in [0, 5, 17, 31] {
        let mut y = vec![-1.0e4f32; 64];
        let mut b = vec![1.0f32; 64];
        (y[first], y[first + 32]) = (0.0, -3.5);
        (b[first], b[first + 32]) = (2.5e38, -1.7e38 + first as f32 * 1.0e31);
        let got = k.eval(&x, &y, &b).unwrap();
        for (g, &x) in got.iter().zip(&x) {
            let exp = |v: f32| <f32 as Real>::exp(<f32 as Real>::Scalar::default(), v);
            let (e1, e2) = (exp(x), exp(x - 3.5));
            assert!(e1 < f32::MIN_POSITIVE && e2 < f32::MIN_POSITIVE);
            let want = e2.mul_add(b[first + 32], (f64::from(e1) * f64::from(b[first])) as f32);
            assert_eq!(g[0].to_bits(), want.to_bits(), "row x = {x}, terms at {first} and {}", first + 32);
        }
    }
}

/// A minimum over 990-dimensional rows, as pykeops' chunked `Min_ArgMin` test: too large to
/// compile in reasonable time (about 2,000 instructions per pair), it is interpreted in every
/// build.
#[test]
fn dimension_990_is_interpreted() {
    let k = keops!(|x_i: [f32; 990], y_j: [f32; 990]| min_argmin_i sqdist(x_i, y_j));
    check_reference(&k, 37, 45, -1.0, 1.0, 3);
    check_reference(&k, 3, 1, -1.0, 1.0, 4);
}

/// The interpreter (what debug builds run) computes the compiled kernel's formula values to the
/// bit: minima and maxima select values without rounding them, so any difference in one value
/// would show. The `exp`s are single instructions in the interpreter, the compiled expansion;
/// the dot products and squared distances chains of multiply-adds.
#[test]
fn interpreted_values_are_the_compiled_ones() {
    same_selections(&keops!(|x_i: [f32; 3], y_j: [f32; 3], g: f32| min_argmin_j exp(-g * sqdist(x_i, y_j))
        + sin(x_i[0] * y_j[1]) * log(1.5 + cos(y_j[2]))));
    same_selections(&keops!(|x_i: [f64; 2], y_j: [f64; 2]| max_argmax_j atan2(x_i[0] - y_j[0], x_i[1])
        + sqrt(abs(y_j[1]))
        + powf(1.0 + abs(x_i[1]), y_j[0])
        + exp(x_i[0] * y_j[1] * 30.0)));
    // Products of subnormal `exp`s, which both take through f64 on AVX-512.
    same_selections(&keops!(|x_i: [f32; 3], y_j: [f32; 3]| max_argmax_j exp(-90.0 - sqdist(x_i, y_j))
        * x_i[0]
        * y_j[1]));
    // Dot products and squared distances, which the interpreter sums in registers.
    same_selections(&keops!(|x_i: [f32; 12], y_j: [f32; 12], g: f32| min_argmin_j dot(x_i, y_j) * g
        - sqdist(x_i, y_j)));
}

/// The interpreter's `rsqrt` and `sin` (one instruction each, the runtime's copy of the
/// expansion) give the compiled kernels' values to the bit, over arguments from 0 and the
/// subnormals to infinity: each output row's sum over one reduced row is its pair's value.
#[test]
fn interpreted_rsqrts_and_sines_are_the_compiled_ones() {
    use keops::__private::interp::Op;
    let f32s = |i: usize| 2f64.powi(i as i32 % 300 - 160) * (1.0 + (i % 7) as f64 / 7.0);
    let f64s = |i: usize| 2f64.powi(i as i32 % 2200 - 1100) * (1.0 + (i % 7) as f64 / 7.0);
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2]| sum_j rsqrt(x_i[0] * y_j[0]) * x_i[1]
        + rsqrt(sqdist(x_i, y_j) + x_i[0]));
    same_pair_values(&k, Op::Rsqrt, 2, f32s);
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_j rsqrt(x_i[0] * y_j[0]) * x_i[1]
        + rsqrt(sqdist(x_i, y_j) + x_i[0]));
    same_pair_values(&k, Op::Rsqrt, 2, f64s);
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2]| sum_j sin(x_i[0] * y_j[0]) * x_i[1] + sin(x_i[0] - y_j[1]));
    same_pair_values(&k, Op::Sin, 2, f32s);
    let k = keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_j sin(x_i[0] * y_j[0]) * x_i[1] + sin(x_i[0] - y_j[1]));
    same_pair_values(&k, Op::Sin, 2, f64s);
}

/// Compares each pair's value of kernel `k` (inputs `x_i`, `y_j`, computing `op` as `count`
/// instructions), interpreted and compiled,
/// for rows `x_i = (first(i), (-1)^i)` and the row `y_0 = (1, 0.5)`, and zeros, infinities and
/// NaN among the `first(i)`.
fn same_pair_values<K: keops::__private::KernelDef>(
    _: &K,
    op: keops::__private::interp::Op,
    count: usize,
    first: impl Fn(usize) -> f64,
) {
    use keops::__private::interp::Inst;
    use keops::__private::{Call, run_compiled, run_interpreted};
    let ops = K::PROGRAM.pair.code.iter().filter(|i| matches!(i, Inst::Op { op: o, .. } if *o == op)).count();
    assert_eq!(ops, count, "the interpreter computes each {op:?} as one instruction");
    let m = 4800;
    let special = [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -1.0];
    let x: Vec<K::T> = (0..m)
        .flat_map(|i| {
            let a = if i % 97 < special.len() { special[i % 97] } else { first(i) };
            [a, if i % 2 == 0 { 1.0 } else { -1.0 }]
        })
        .map(K::T::from_f64)
        .collect();
    let y: Vec<K::T> = [1.0, 0.5].map(K::T::from_f64).to_vec();
    let inputs = [&x[..], &y[..]];
    let run = |interpreted: bool| {
        let mut values = vec![K::T::default(); m];
        let run = if interpreted { run_interpreted::<K> } else { run_compiled::<K> };
        run(Call {
            inputs: &inputs,
            outer_rows: m,
            inner_rows: 1,
            ranges: None,
            values: &mut values,
            indices: &mut [],
        });
        values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>()
    };
    let (compiled, interpreted) = (run(false), run(true));
    let differ = (compiled.iter().zip(&interpreted).enumerate()).find(|(_, (a, b))| a != b);
    assert_eq!(differ, None, "{}: (row, (compiled, interpreted))", K::INFO.formula);
}

fn same_selections<K: keops::__private::KernelDef>(k: &K) {
    use keops::__private::{Call, run_compiled, run_interpreted};
    for (seed, (m, n)) in [(37, 45), (5, 1100), (16, 3)].into_iter().enumerate() {
        let inputs = common::random_inputs(k, m, n, -2.0, 2.0, seed as u64);
        let inputs: Vec<&[K::T]> = inputs.iter().map(Vec::as_slice).collect();
        let run = |interpreted: bool| {
            let (mut values, mut indices) = (vec![K::T::default(); m], vec![0; m]);
            let run = if interpreted { run_interpreted::<K> } else { run_compiled::<K> };
            run(Call {
                inputs: &inputs,
                outer_rows: m,
                inner_rows: n,
                ranges: None,
                values: &mut values,
                indices: &mut indices,
            });
            (values, indices)
        };
        let (compiled, interpreted) = (run(false), run(true));
        assert_eq!(compiled.1, interpreted.1, "indices at {m} x {n}");
        let bits = |v: &[K::T]| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>();
        assert_eq!(bits(&compiled.0), bits(&interpreted.0), "values at {m} x {n}");
    }
}
