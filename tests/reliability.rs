//! Reliability: misuse at run time gives typed errors that name the variable and the expected
//! shape; NaN and infinities give the documented results (see "Numerics" in the crate docs);
//! kernels are `Send + Sync` and give the same results from many threads at once; CPU results do
//! not depend on the number of threads nor on where a row falls in a block or segment.

use keops::{Backend, Error, Kernel, genred, keops};

keops! {
    /// Every kind of input: two i-variables, two j-variables, a vector parameter.
    struct Misuse = |x_i: [f32; 3], w_i: f32, y_j: [f32; 2], b_j: f32, p: [f32; 2]|
        sum_j exp(-p[0] * sqdist(x_i[0..2], y_j)) * b_j * w_i + p[1];
}

// ---------------------------------------------------------------------------------------------
// Runtime misuse.

/// Valid flat inputs for `Misuse`: 2 i-rows, 3 j-rows.
fn misuse_inputs() -> Vec<Vec<f32>> {
    vec![vec![0.5; 6], vec![1.0; 2], vec![0.25; 6], vec![2.0; 3], vec![1.0, 0.5]]
}

/// Evaluates `Misuse` with input `pos` replaced by `value`.
fn with_input(pos: usize, value: Vec<f32>) -> Result<Vec<f32>, Error> {
    let mut inputs = misuse_inputs();
    inputs[pos] = value;
    Misuse::new().eval_flat(&inputs)
}

#[test]
fn valid_inputs_evaluate() {
    let out = Misuse::new().eval_flat(&misuse_inputs()).unwrap();
    // Each of the three pairs: exp(-1 * 2 * 0.25^2) * 2 * 1 + 0.5.
    let want = 3.0 * (2.0 * (-0.125f32).exp() + 0.5);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|&a| (a - want).abs() < 1e-5), "{out:?}");
}

#[test]
fn lengths_that_are_not_whole_rows() {
    let err = with_input(0, vec![0.0; 7]).unwrap_err();
    assert_eq!(err, Error::Length { var: "x_i", len: 7, dim: 3 });
    assert_eq!(
        err.to_string(),
        "input `x_i` has 7 values, which is not a whole number of rows of dimension 3 (expected a multiple of 3)"
    );
    let err = with_input(2, vec![0.0; 5]).unwrap_err();
    assert_eq!(err, Error::Length { var: "y_j", len: 5, dim: 2 });
    assert_eq!(
        err.to_string(),
        "input `y_j` has 5 values, which is not a whole number of rows of dimension 2 (expected a multiple of 2)"
    );
}

#[test]
fn mismatched_row_counts() {
    let err = with_input(1, vec![1.0; 3]).unwrap_err();
    assert_eq!(err, Error::RowMismatch { index: 'i', var: "w_i", rows: 3, first: "x_i", first_rows: 2 });
    assert_eq!(
        err.to_string(),
        "`w_i` has 3 rows but `x_i` has 2: all variables indexed by i must have the same number of rows"
    );
    let err = with_input(3, vec![1.0; 4]).unwrap_err();
    assert_eq!(err, Error::RowMismatch { index: 'j', var: "b_j", rows: 4, first: "y_j", first_rows: 3 });
    assert_eq!(
        err.to_string(),
        "`b_j` has 4 rows but `y_j` has 3: all variables indexed by j must have the same number of rows"
    );
    // Zero rows is a row count like any other.
    let err = with_input(1, vec![]).unwrap_err();
    assert_eq!(err, Error::RowMismatch { index: 'i', var: "w_i", rows: 0, first: "x_i", first_rows: 2 });
    // The typed API checks the same way.
    let err = Misuse::new().eval(&[[0.0; 3]; 2], &[1.0], &[[0.0; 2]; 3], &[1.0; 3], [1.0, 0.0]).unwrap_err();
    assert_eq!(err, Error::RowMismatch { index: 'i', var: "w_i", rows: 1, first: "x_i", first_rows: 2 });
}

#[test]
fn parameters_of_the_wrong_size() {
    for len in [0, 1, 3] {
        let err = with_input(4, vec![1.0; len]).unwrap_err();
        assert_eq!(err, Error::ParamLength { var: "p", len, dim: 2 });
        assert_eq!(err.to_string(), format!("parameter `p` has {len} values, expected exactly 2"));
    }
}

#[test]
fn wrong_input_count() {
    let mut inputs = misuse_inputs();
    inputs.pop();
    let err = Misuse::new().eval_flat(&inputs).unwrap_err();
    assert_eq!(err, Error::InputCount { expected: 5, got: 4 });
    assert_eq!(err.to_string(), "the kernel takes 5 inputs, got 4");
    inputs.extend([vec![1.0, 0.5], vec![]]);
    let err = Misuse::new().eval_flat(&inputs).unwrap_err();
    assert_eq!(err, Error::InputCount { expected: 5, got: 6 });
    let none: [&[f32]; 0] = [];
    assert_eq!(Misuse::new().eval_flat(&none).unwrap_err(), Error::InputCount { expected: 5, got: 0 });
    // Gradients check their inputs first.
    let err = Misuse::new().grad_flat(0, &inputs, &[1.0; 2]).unwrap_err();
    assert_eq!(err, Error::InputCount { expected: 5, got: 6 });
}

#[test]
fn gradient_of_the_wrong_shape() {
    let inputs = misuse_inputs();
    let k = Misuse::new();
    for len in [0, 1, 3, 6] {
        let err = k.grad_flat(2, &inputs, &vec![1.0; len]).unwrap_err();
        assert_eq!(err, Error::GradientShape { len, expected: 2 });
        assert_eq!(
            err.to_string(),
            format!("the incoming gradient has {len} values, expected 2 (the shape of the output)")
        );
    }
    let err = k.grad_flat(5, &inputs, &[1.0; 2]).unwrap_err();
    assert_eq!(err, Error::NoSuchVariable { pos: 5, count: 5 });
    assert_eq!(err.to_string(), "no variable at position 5: the kernel has 5");
    // Shape errors in the inputs come before the gradient's.
    let mut bad = misuse_inputs();
    bad[4] = vec![1.0];
    assert_eq!(k.grad_flat(0, &bad, &[1.0; 7]).unwrap_err(), Error::ParamLength { var: "p", len: 1, dim: 2 });
    // And a valid call works.
    assert_eq!(k.grad_flat(3, &inputs, &[1.0; 2]).unwrap().len(), 3);
}

#[test]
fn missing_gpu_is_an_error_not_a_panic() {
    let inputs = misuse_inputs();
    // Without a usable GPU (no `cuda` feature, or no device), `Auto` runs on the CPU and an
    // explicit CUDA device is `BackendUnavailable`, for every entry point.
    if Backend::Auto.active() != Ok(Backend::Cpu) {
        return;
    }
    for n in [0, 1, 7] {
        let k = Misuse::new().on(Backend::Cuda(n));
        assert_eq!(k.backend(), Backend::Cuda(n));
        let check = |err: Error| {
            let Error::BackendUnavailable { backend, reason } = &err else { panic!("{err:?}") };
            assert_eq!(backend, &format!("Cuda({n})"));
            assert!(!reason.is_empty());
            assert_eq!(err.to_string(), format!("backend Cuda({n}) is unavailable: {reason}"));
        };
        check(k.eval_flat(&inputs).unwrap_err());
        check(k.eval(&[[0.0; 3]], &[1.0], &[[0.0; 2]], &[1.0], [1.0, 0.0]).unwrap_err());
        check(k.grad_flat(0, &inputs, &[1.0; 2]).unwrap_err());
        check(Backend::Cuda(n).active().unwrap_err());
    }
    // Shape errors are still reported as such (inputs are checked before the backend).
    let k = Misuse::new().on(Backend::Cuda(0));
    let err = k.eval_flat(&inputs[..2]).unwrap_err();
    assert!(matches!(err, Error::InputCount { .. } | Error::BackendUnavailable { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Numerics: NaN and infinities (the behaviour documented in the crate docs, "Numerics").

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;

/// 37 finite values in [-1, 1] (more than two SIMD registers and a partial one).
fn finite() -> Vec<f32> {
    (0..37).map(|j| (j as f32 * 0.37).sin()).collect()
}

/// Positions to place special values at: first lane, a middle lane, the partial last chunk.
const AT: [usize; 3] = [0, 9, 36];

/// `values` with `x` at `positions`.
fn with(positions: &[usize], x: f32) -> Vec<f32> {
    let mut v = finite();
    for &p in positions {
        v[p] = x;
    }
    v
}

/// Index and value of the minimum of the non-NaN, non-+inf values, first on ties.
fn argmin_of(v: &[f32]) -> (f32, usize) {
    let mut best = (INF, 0);
    for (j, &x) in v.iter().enumerate() {
        if x < best.0 {
            best = (x, j);
        }
    }
    best
}

fn argmax_of(v: &[f32]) -> (f32, usize) {
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    let (x, j) = argmin_of(&neg);
    (-x, j)
}

/// One output row: `f` as the reduced values.
fn row<K: Kernel<T = f32>>(k: &K, f: &[f32]) -> Vec<f32> {
    k.eval_flat(&[f]).unwrap()
}

#[test]
fn sum_propagates_nan_and_infinities() {
    let k = keops!(|f_j: f32| sum_j f_j);
    for &p in &AT {
        assert!(row(&k, &with(&[p], NAN))[0].is_nan());
        assert_eq!(row(&k, &with(&[p], INF)), [INF]);
        assert_eq!(row(&k, &with(&[p], -INF)), [-INF]);
    }
    let mut both = with(&[0], INF);
    both[36] = -INF;
    assert!(row(&k, &both)[0].is_nan());
}

#[test]
fn min_and_max_never_select_nan_and_take_infinities_strictly() {
    let min = keops!(|f_j: f32| min_j f_j);
    let argmin = keops!(|f_j: f32| argmin_j f_j);
    let min_argmin = keops!(|f_j: f32| min_argmin_j f_j);
    let max = keops!(|f_j: f32| max_j f_j);
    let argmax = keops!(|f_j: f32| argmax_j f_j);
    // Every kernel agrees with the expected (value, index) of the minimum and the maximum.
    let check = |v: &[f32], (lo, i_lo): (f32, usize), (hi, i_hi): (f32, usize)| {
        assert_eq!(row(&min, v), [lo], "{v:?}");
        assert_eq!(row(&argmin, v), [i_lo as f32], "{v:?}");
        assert_eq!(row(&min_argmin, v), [lo, i_lo as f32], "{v:?}");
        assert_eq!(row(&max, v), [hi], "{v:?}");
        assert_eq!(row(&argmax, v), [i_hi as f32], "{v:?}");
    };
    for &p in &AT {
        // NaN is never selected: the extremum of the other values (the helpers skip NaN).
        let v = with(&[p], NAN);
        let (lo, hi) = (argmin_of(&v), argmax_of(&v));
        assert!(!lo.0.is_nan() && lo.1 != p && hi.1 != p);
        check(&v, lo, hi);
        // An infinity is selected at its index by the extremum it belongs to.
        let v = with(&[p], -INF);
        check(&v, (-INF, p), argmax_of(&v));
        let v = with(&[p], INF);
        check(&v, argmin_of(&v), (INF, p));
        // Repeated infinities: the first one.
        let v = with(&[p, 20, 30], -INF);
        check(&v, (-INF, p.min(20)), argmax_of(&v));
    }
    // Only NaN, or only the reduction's identity: nothing is selected, so the identity and
    // index 0 (as an empty reduction).
    check(&[NAN; 20], (INF, 0), (-INF, 0));
    check(&[INF, INF, NAN, INF], (INF, 0), (INF, 0));
    check(&[-INF, NAN, -INF], (-INF, 0), (-INF, 0));
    check(&[NAN, NAN, -INF, 5.0, NAN, INF], (-INF, 2), (INF, 5));
}

#[test]
fn k_min_never_selects_nan_nor_plus_infinity() {
    let k = keops!(|f_j: f32| kmin_argkmin_j::<3> f_j);
    let kmin = keops!(|f_j: f32| kmin_j::<3> f_j);
    let argkmin = keops!(|f_j: f32| argkmin_j::<3> f_j);
    let check = |v: &[f32], want: [(f32, usize); 3]| {
        let values: Vec<f32> = want.iter().map(|w| w.0).collect();
        let indices: Vec<f32> = want.iter().map(|w| w.1 as f32).collect();
        assert_eq!(row(&kmin, v), values, "{v:?}");
        assert_eq!(row(&argkmin, v), indices, "{v:?}");
        assert_eq!(row(&k, v), [values, indices].concat(), "{v:?}");
    };
    // The three smallest of `finite()`, in order.
    let mut sorted: Vec<(f32, usize)> = finite().into_iter().zip(0..).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for &p in &AT {
        let skip_p: Vec<(f32, usize)> = sorted.iter().copied().filter(|s| s.1 != p).collect();
        check(&with(&[p], NAN), [skip_p[0], skip_p[1], skip_p[2]]);
        check(&with(&[p], INF), [skip_p[0], skip_p[1], skip_p[2]]);
        check(&with(&[p], -INF), [(-INF, p), skip_p[0], skip_p[1]]);
    }
    // Slots that only NaN or +inf could fill stay as if empty: +inf, index 0.
    check(&[NAN, 2.0, INF, NAN, 1.0], [(1.0, 4), (2.0, 1), (INF, 0)]);
    check(&[INF; 5], [(INF, 0); 3]);
    check(&[-INF, NAN, -INF], [(-INF, 0), (-INF, 2), (INF, 0)]);
}

#[test]
fn log_sum_exp_takes_the_limits_at_infinities() {
    let k = keops!(|f_j: f32| logsumexp_j f_j);
    let reference = |v: &[f32]| -> f32 {
        let m = v.iter().copied().fold(-INF, f32::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f32>().ln()
    };
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
    // All -inf is -inf, not NaN (KeOps gives NaN: exp(-inf - -inf)), whatever the lanes.
    for n in [1, 2, 5, 16, 17, 37, 100] {
        assert_eq!(row(&k, &vec![-INF; n]), [-INF], "{n}");
    }
    assert_eq!(row(&k, &[]), [-INF]);
    for &p in &AT {
        assert!(row(&k, &with(&[p], NAN))[0].is_nan());
        assert_eq!(row(&k, &with(&[p], INF)), [INF]);
        assert_eq!(row(&k, &with(&[p, 20], INF)), [INF]);
        // -inf adds exp(-inf) = 0.
        let v = with(&[p], -INF);
        let others: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
        let (got, want) = (row(&k, &v)[0], reference(&others));
        assert!(close(got, want), "{got} {want}");
    }
    assert_eq!(row(&k, &[-INF, INF, -INF]), [INF]);
    assert!(row(&k, &[INF, NAN, 1.0])[0].is_nan());
    assert!(row(&k, &[-INF, NAN, -INF])[0].is_nan());
}

#[test]
fn soft_max_takes_the_limits_at_infinities() {
    let k = keops!(|f_j: f32, v_j: f32| sumsoftmaxweight_j(f_j, v_j));
    let eval = |f: &[f32], v: &[f32]| k.eval_flat(&[f, v]).unwrap()[0];
    let v: Vec<f32> = (0..37).map(|j| j as f32).collect();
    for &p in &AT {
        assert!(eval(&with(&[p], NAN), &v).is_nan());
        // One +inf weighs everything: exactly its value.
        assert_eq!(eval(&with(&[p], INF), &v), v[p]);
        // Several: their mean.
        assert_eq!(eval(&with(&[p, 20], INF), &v), (v[p] + v[20]) / 2.0);
        // -inf weighs nothing.
        let mut f = with(&[p], -INF);
        let mut w = v.clone();
        w[p] = 1e30;
        let with_big = eval(&f, &w);
        f.remove(p);
        w.remove(p);
        assert!((with_big - eval(&f, &w)).abs() < 1e-4, "{with_big}");
    }
    // Only -inf: all weigh the same, as equal finite values do (KeOps: NaN).
    assert_eq!(eval(&[-INF; 4], &[1.0, 2.0, 3.0, 6.0]), 3.0);
    assert_eq!(eval(&[-INF; 37], &v), 18.0);
    // Nothing: 0 / 0.
    assert!(eval(&[], &[]).is_nan());
    // NaN weights propagate.
    assert!(eval(&[0.0, 1.0], &[NAN, 1.0]).is_nan());
}

// ---------------------------------------------------------------------------------------------
// Concurrency and determinism.

keops! {
    struct GaussSumJ = |x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j;
    struct GaussSumI = |x_i: [f32; 3], y_j: [f32; 3], b_i: [f32; 2]| sum_i exp(-sqdist(x_i, y_j)) * b_i;
    struct Lse = |x_i: [f32; 3], y_j: [f32; 3]| logsumexp_j -sqdist(x_i, y_j) * 3.0;
    struct KNearest = |x_i: [f32; 3], y_j: [f32; 3]| kmin_argkmin_j::<4> sqdist(x_i, y_j);
}

/// Kernel values, of every form, can be shared between threads.
#[test]
fn kernels_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    send_sync(&keops!(|x_i: f32, y_j: f32| sum_j x_i * y_j));
    send_sync(&genred!("x * y", ["x = Vi(1)", "y = Vj(1)"], reduction = "Sum"));
    send_sync(&Misuse::new());
    send_sync(&GaussSumJ::new().on(Backend::Cpu));
    // And so can their results and errors.
    send_sync(&Error::InputCount { expected: 1, got: 2 });
}

/// Deterministic inputs in [-1, 1).
fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1 << 23) as f32 - 1.0
        })
        .collect()
}

/// The inputs of the four kernels above, for `m` i-rows and `n` j-rows.
struct Inputs {
    x: Vec<f32>,
    y: Vec<f32>,
    bj: Vec<f32>,
    bi: Vec<f32>,
}

impl Inputs {
    fn new(m: usize, n: usize, seed: u32) -> Inputs {
        // Points in a small cube, so that the exponentials do not all vanish.
        let x = data(3 * m, seed).iter().map(|v| v * 0.7).collect();
        let y = data(3 * n, seed + 1).iter().map(|v| v * 0.7).collect();
        Inputs { x, y, bj: data(n, seed + 2), bi: data(2 * m, seed + 3) }
    }

    /// All four kernels' flat outputs.
    fn run(&self) -> [Vec<f32>; 4] {
        let (x, y) = (&self.x[..], &self.y[..]);
        [
            GaussSumJ::new().eval_flat(&[x, y, &self.bj]).unwrap(),
            GaussSumI::new().eval_flat(&[x, y, &self.bi]).unwrap(),
            Lse::new().eval_flat(&[x, y]).unwrap(),
            KNearest::new().eval_flat(&[x, y]).unwrap(),
        ]
    }

    /// Kernel `k`'s output for output rows `rows` only: those i-rows for the reductions over
    /// j, those j-rows for the one over i, and every row of the reduced index.
    fn run_rows(&self, k: usize, rows: std::ops::Range<usize>) -> Vec<f32> {
        let (x, y) = (&self.x[(3 * rows.start).min(self.x.len())..], &self.y[..]);
        let x = &x[..(3 * rows.len()).min(x.len())];
        match k {
            0 => GaussSumJ::new().eval_flat(&[x, y, &self.bj]),
            1 => GaussSumI::new().eval_flat(&[&self.x[..], &self.y[3 * rows.start..3 * rows.end], &self.bi]),
            2 => Lse::new().eval_flat(&[x, y]),
            _ => KNearest::new().eval_flat(&[x, y]),
        }
        .unwrap()
    }
}

/// Bitwise equality, so that NaN == NaN and -0 != +0.
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Sizes around the CPU's blocking constants: many rows (one task per block of rows) over
/// several tiles of 1024; few rows (< 256: the reduced index is split into segments of 16384)
/// over three segments; and a single row.
const SHAPES: &[(usize, usize)] = &[(300, 2500), (5, 3 * 16384 + 77), (1, 40000)];

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    for (seed, &(m, n)) in SHAPES.iter().enumerate() {
        let inputs = Inputs::new(m, n, 10 + seed as u32);
        let mut first: Option<Vec<Vec<u32>>> = None;
        for threads in [1, 2, 7] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let out: Vec<Vec<u32>> = pool.install(|| inputs.run()).iter().map(|v| bits(v)).collect();
            match &first {
                None => first = Some(out),
                Some(want) => assert!(out == *want, "{m}x{n}: {threads} threads differ from 1"),
            }
        }
    }
}

/// Row `r` of a result, whose rows have `width` values: for two-part results the values
/// then the indices, each `w` wide.
fn output_row(out: &[f32], rows: usize, w: usize, parts: usize, r: usize) -> Vec<u32> {
    (0..parts).flat_map(|p| bits(&out[p * rows * w + r * w..p * rows * w + (r + 1) * w])).collect()
}

#[test]
fn a_row_does_not_depend_on_the_rows_around_it() {
    // (width, parts) of each kernel's output rows.
    const LAYOUT: [(usize, usize); 4] = [(1, 1), (2, 1), (1, 1), (4, 2)];
    // The shapes of the thread test, and many rows over more than two segments: a row alone is
    // then reduced in segments, in parallel, while among 256 rows it is not.
    let shapes = [SHAPES[0], SHAPES[1], (256, 2 * 16384 + 5)];
    for (seed, &(m, n)) in shapes.iter().enumerate() {
        let inputs = Inputs::new(m, n, 20 + seed as u32);
        for (k, &(w, parts)) in LAYOUT.iter().enumerate() {
            // The large shape for the sum, which follows the segments among many rows too,
            // and the K-selection, which among many rows reduces its whole range at once.
            if seed == 2 && k != 0 && k != 3 {
                continue;
            }
            let rows = if k == 1 { n } else { m };
            let all = inputs.run_rows(k, 0..rows);
            // Rows at the start and end of blocks and tasks, evaluated alone and in a pair.
            for r in [0, 1, 7, 8, 15, 16, 254, 255, 299] {
                if r >= rows || (seed == 2 && ![0, 254].contains(&r)) {
                    continue;
                }
                let alone = inputs.run_rows(k, r..r + 1);
                assert!(
                    output_row(&all, rows, w, parts, r) == output_row(&alone, 1, w, parts, 0),
                    "kernel {k}, {m}x{n}, row {r} alone"
                );
                if r + 2 <= rows && seed < 2 {
                    let pair = inputs.run_rows(k, r..r + 2);
                    assert!(
                        output_row(&all, rows, w, parts, r + 1) == output_row(&pair, 2, w, parts, 1),
                        "kernel {k}, {m}x{n}, row {} as the second of two",
                        r + 1
                    );
                }
            }
        }
    }
}

#[test]
fn many_threads_calling_kernels_at_once() {
    let shapes = [(40, 300), (3, 1000), (257, 60)];
    let inputs: Vec<Inputs> =
        shapes.iter().enumerate().map(|(s, &(m, n))| Inputs::new(m, n, 30 + s as u32)).collect();
    let want: Vec<Vec<Vec<u32>>> = inputs.iter().map(|i| i.run().iter().map(|v| bits(v)).collect()).collect();
    let misuse = misuse_inputs();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (inputs, want, misuse) = (&inputs, &want, &misuse);
            scope.spawn(move || {
                for round in 0..12 {
                    let s = (t + round) % inputs.len();
                    let got: Vec<Vec<u32>> = inputs[s].run().iter().map(|v| bits(v)).collect();
                    assert!(got == want[s], "thread {t}, round {round}, shape {s}");
                    // Errors from many threads too.
                    let err = Misuse::new().eval_flat(&misuse[..3]).unwrap_err();
                    assert_eq!(err, Error::InputCount { expected: 5, got: 3 });
                }
            });
        }
    });
}
