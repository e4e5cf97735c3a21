//! Half-precision inputs (`keops::half`, feature `half`): pykeops' `test_float16.py` case, a
//! Gaussian sum and its gradient in f16 and bf16 against the reference evaluator on the same
//! (rounded) inputs, and indices beyond what an f16 holds.

#![cfg(feature = "half")]

mod common;

use common::Rng;
use keops::half::{self, Half, bf16, f16};
use keops::keops;

fn rounded<H: Half>(v: &[f64], to: fn(f32) -> H) -> Vec<H> {
    v.iter().map(|&x| to(x as f32)).collect()
}

fn as_f64<H: Half>(v: &[H]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x.into())).collect()
}

/// pykeops' `test_float16.py`: out_j = sum_i (x_i - y_j) for M = N = 5, D = 1, in f16, within
/// 1e-3 of the exact sums, and the gradient of out_0 with respect to x: all ones.
#[test]
fn pykeops_float16_case() {
    let mut rng = Rng::new(0);
    let x = rounded(&rng.vec(5, -2.0, 2.0), f16::from_f32);
    let y = rounded(&rng.vec(5, -2.0, 2.0), f16::from_f32);
    let k = keops!(|x_i: f32, y_j: f32| sum_i x_i - y_j);
    let out = half::eval_flat(&k, &[&x, &y]).unwrap();
    let (xs, ys) = (as_f64(&x), as_f64(&y));
    for (j, got) in as_f64(&out.values).iter().enumerate() {
        let want: f64 = xs.iter().map(|xi| xi - ys[j]).sum();
        assert!((got - want).abs() <= 1e-3 * (1.0 + want.abs()), "out[{j}] = {got}, want {want}");
    }
    let e = rounded(&[1.0, 0.0, 0.0, 0.0, 0.0], f16::from_f32);
    assert_eq!(half::grad_flat(&k, 0, &[&x, &y], &e).unwrap(), vec![f16::ONE; 5]);
}

/// A Gaussian sum and its gradient with respect to x: the f32 kernel's results on the widened
/// inputs, rounded once, within half an ulp of the type (plus the f32 kernel's own error) of
/// the exact values on the rounded inputs.
fn gaussian<H: Half>(to: fn(f32) -> H, ulp: f64) {
    let (m, n) = (37, 301);
    let mut rng = Rng::new(3);
    let x = rounded(&rng.vec(3 * m, 0.0, 1.0), to);
    let y = rounded(&rng.vec(3 * n, 0.0, 1.0), to);
    let b = rounded(&rng.vec(n, -1.0, 1.0), to);
    let k = keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-4.0 * sqdist(x_i, y_j)) * b_j);
    let (xs, ys, bs) = (as_f64(&x), as_f64(&y), as_f64(&b));
    let kernel = |i: usize, j: usize| {
        let d: f64 = (0..3).map(|c| (xs[3 * i + c] - ys[3 * j + c]).powi(2)).sum();
        (-4.0 * d).exp()
    };
    // Half an ulp of the result's rounding (and of a subnormal f16's spacing), plus the f32
    // kernel's own rounding, relative to the terms' magnitudes.
    let close = |got: f64, terms: &mut dyn Iterator<Item = f64>| {
        let (want, mag) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
        ((got - want).abs() <= ulp * want.abs() + 6e-8 + 1e-6 * mag, want)
    };
    let out = half::eval_flat(&k, &[&x, &y, &b]).unwrap();
    assert!(out.indices.is_empty());
    for (i, &got) in as_f64(&out.values).iter().enumerate() {
        let (ok, want) = close(got, &mut (0..n).map(|j| kernel(i, j) * bs[j]));
        assert!(ok, "out[{i}] = {got}, want {want}");
    }
    // d/dx_i of sum_i e_i out_i: -8 e_i sum_j K_ij b_j (x_i - y_j).
    let e = rounded(&rng.vec(m, -1.0, 1.0), to);
    let es = as_f64(&e);
    let g = as_f64(&half::grad_flat(&k, 0, &[&x, &y, &b], &e).unwrap());
    for i in 0..m {
        for c in 0..3 {
            let got = g[3 * i + c];
            let mut terms =
                (0..n).map(|j| -8.0 * es[i] * kernel(i, j) * bs[j] * (xs[3 * i + c] - ys[3 * j + c]));
            let (ok, want) = close(got, &mut terms);
            assert!(ok, "grad[{i}][{c}] = {got}, want {want}");
        }
    }
    // The same as the f32 kernel on the widened inputs, rounded.
    let wide = [as_f64(&x), as_f64(&y), as_f64(&b)].map(|v| v.iter().map(|&x| x as f32).collect::<Vec<_>>());
    let f32_out = k.eval_flat(&wide).unwrap();
    assert_eq!(out.values, f32_out.iter().map(|&v| to(v)).collect::<Vec<_>>());
}

#[test]
fn gaussian_in_f16() {
    // f16 has 11 significant bits: half an ulp is 2^-11 of the value.
    gaussian(f16::from_f32, 2f64.powi(-11) * 1.01);
}

#[test]
fn gaussian_in_bf16() {
    gaussian(bf16::from_f32, 2f64.powi(-8) * 1.01);
}

/// Indices come back as integers, exact where an f16 could not hold them (above 2048).
#[test]
fn indices_beyond_f16_integers() {
    let n = 5000;
    let y: Vec<f16> =
        (0..n).map(|j| f16::from_f32(if j == 4321 { 0.0 } else { 1.0 + (j % 7) as f32 })).collect();
    let x = [f16::from_f32(0.0), f16::from_f32(8.0)];
    let k = keops!(|x_i: f32, y_j: f32| min_argmin_j(x_i - y_j) * (x_i - y_j));
    let out = half::eval_flat(&k, &[&x[..], &y]).unwrap();
    assert_eq!(out.indices, [4321, 6]);
    assert_eq!(out.values, [f16::from_f32(0.0), f16::from_f32(1.0)]);
}

#[test]
fn errors_pass_through() {
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2]| sum_j sqdist(x_i, y_j));
    let x = [f16::ZERO; 3];
    let err = half::eval_flat(&k, &[&x[..], &x[..]]).unwrap_err();
    assert!(matches!(err, keops::Error::Length { .. }), "{err:?}");
}
