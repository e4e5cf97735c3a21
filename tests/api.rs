//! The public API: typed and flat evaluation, parameters, errors, the item form, backends.

use keops::{Backend, Error, Index, Kernel, keops};

keops! {
    /// A Gaussian kernel with a bandwidth parameter.
    pub struct Gauss = |x_i: [f64; 2], y_j: [f64; 2], b_j: f64, g: f64| sum_j exp(-g * sqdist(x_i, y_j)) * b_j;

    struct Weighted = |x_i: f32, y_j: f32, p: [f32; 2]| sum_i (x_i - y_j) * p;
}

static GAUSS: Gauss = Gauss::new();

#[test]
fn typed_eval_with_parameters() {
    let x = [[0.0, 0.0], [1.0, 1.0]];
    let y = [[0.0, 0.0], [1.0, 0.0]];
    let b = [1.0, 2.0];
    let a = GAUSS.eval(&x, &y, &b, 0.5).unwrap();
    let want = [1.0 + 2.0 * (-0.5f64).exp(), (-1.0f64).exp() + 2.0 * (-0.5f64).exp()];
    assert_eq!(a.len(), 2);
    for (got, want) in a.iter().zip(want) {
        assert!((got[0] - want).abs() < 1e-15);
    }
    // The flat form agrees, with inputs in declaration order.
    let flat = GAUSS.eval_flat(&[x.as_flattened(), y.as_flattened(), &b[..], &[0.5]]).unwrap();
    assert_eq!(flat, a.as_flattened());
}

#[test]
fn reduction_over_i_with_bare_and_vector_types() {
    let k = Weighted::new();
    let out = k.eval(&[1.0, 2.0, 4.0], &[0.5, 1.0], [1.0, -1.0]).unwrap();
    // For each j: sum_i (x_i - y_j) * p.
    assert_eq!(out, vec![[5.5, -5.5], [4.0, -4.0]]);
}

#[test]
fn info_describes_the_kernel() {
    let info = GAUSS.info();
    assert_eq!(info.reduction, "Sum");
    assert_eq!(info.reduced, Index::J);
    assert_eq!(info.output_index(), Index::I);
    assert_eq!(info.dtype, "f64");
    assert_eq!((info.value_width, info.index_width), (1, 0));
    let names: Vec<_> = info.vars.iter().map(|v| (v.name, v.index, v.dim)).collect();
    assert_eq!(
        names,
        [("x_i", Index::I, 2), ("y_j", Index::J, 2), ("b_j", Index::J, 1), ("g", Index::Param, 1)]
    );
    assert!(info.formula.contains("sqdist"));
}

#[test]
fn empty_inputs_give_the_identity() {
    let k = keops!(|x_i: [f32; 3], y_j: [f32; 3]| sum_j sqdist(x_i, y_j));
    let none: [[f32; 3]; 0] = [];
    assert_eq!(k.eval(&[[1.0; 3]; 2], &none).unwrap(), vec![[0.0], [0.0]]);
    assert_eq!(k.eval(&none, &[[1.0; 3]; 2]).unwrap(), Vec::<[f32; 1]>::new());
}

#[test]
fn shape_errors_name_the_variable() {
    let x = [0.0f64; 4];
    let y = [0.0f64; 6];
    let b = [0.0f64; 3];
    let err = GAUSS.eval_flat(&[&x[..3], &y[..], &b[..], &[1.0]]).unwrap_err();
    assert_eq!(err, Error::Length { var: "x_i", len: 3, dim: 2 });
    assert!(err.to_string().contains("`x_i` has 3 values"), "{err}");

    let err = GAUSS.eval_flat(&[&x[..], &y[..], &b[..2], &[1.0]]).unwrap_err();
    assert_eq!(err, Error::RowMismatch { index: 'j', var: "b_j", rows: 2, first: "y_j", first_rows: 3 });
    assert!(err.to_string().contains("`b_j` has 2 rows but `y_j` has 3"), "{err}");

    let err = GAUSS.eval_flat(&[&x[..], &y[..], &b[..], &[1.0, 2.0]]).unwrap_err();
    assert_eq!(err, Error::ParamLength { var: "g", len: 2, dim: 1 });

    let err = GAUSS.eval_flat(&[&x[..], &y[..]]).unwrap_err();
    assert_eq!(err, Error::InputCount { expected: 4, got: 2 });

    // The typed API checks row counts the same way.
    let err = GAUSS.eval(&[[0.0; 2]], &[[0.0; 2]; 3], &[1.0; 2], 1.0).unwrap_err();
    assert!(matches!(err, Error::RowMismatch { var: "b_j", .. }), "{err}");
}

#[test]
fn backends() {
    assert_eq!(GAUSS.backend(), Backend::Auto);
    let cpu = GAUSS.on(Backend::Cpu);
    assert_eq!(cpu.backend(), Backend::Cpu);
    assert_eq!(cpu.eval(&[[0.0; 2]], &[[0.0; 2]], &[3.0], 1.0).unwrap(), vec![[3.0]]);
    // Without a usable GPU, asking for CUDA is an error, not a panic (tests/gpu.rs covers the
    // machines with one).
    if Backend::Auto.active() == Ok(Backend::Cpu) {
        let err = GAUSS.on(Backend::Cuda(0)).eval(&[[0.0; 2]], &[[0.0; 2]], &[3.0], 1.0).unwrap_err();
        assert!(matches!(err, Error::BackendUnavailable { .. }), "{err}");
    }
}

/// Kernels can be used through the `Kernel` trait by generic code.
fn total<K: Kernel<T = f64>>(k: &K, inputs: &[&[f64]]) -> f64 {
    k.eval_flat(inputs).unwrap().iter().sum()
}

#[test]
fn generic_code_over_kernels() {
    let s = total(&GAUSS, &[&[0.0, 0.0], &[0.0, 0.0, 0.0, 0.0], &[1.0, 2.0], &[1.0]]);
    assert_eq!(s, 3.0);
}

/// Kernels declared by `macro_rules!`: dimensions, types, K and formulas passed as fragments
/// (which arrive wrapped in invisible groups), in both syntaxes.
#[test]
fn kernels_made_by_macros() {
    macro_rules! nearest {
        ($t:ty, $d:literal, $k:literal, $f:expr) => {
            keops::keops!(|x_i: [$t; $d], y_j: [$t; $d]| argkmin_j::<$k> 2.0 * $f)
        };
    }
    macro_rules! typed {
        ($name:ident, $row:ty, $s:ty) => {
            keops::keops! {
                struct $name = |x_i: $row, y_j: $row, s: $s| sum_j exp(-s * sqdist(x_i, y_j));
            }
        };
    }
    macro_rules! with_genred {
        ($formula:literal, $x:literal, $dtype:ty) => {
            keops::genred!($formula, [$x, "y = Vj(2)"], reduction = "Sum", axis = 1, dtype = $dtype)
        };
    }
    // `2.0 * $f` is twice the whole fragment: its precedence is kept (`2 x - y` would select
    // other rows).
    let k = nearest!(f32, 2, 1, sqnorm2(x_i) - dot(x_i, y_j));
    assert!(k.info().formula.contains("2.0 * (sqnorm2(x_i) - dot(x_i, y_j))"), "{}", k.info().formula);
    let (x, y) = ([[1.0, 0.0]], [[0.9, 0.0], [5.0, 0.0]]);
    assert_eq!(k.eval(&x, &y).unwrap(), [[1]]);
    typed!(Gauss, [f64; 2], f64);
    let a = Gauss::new().eval(&[[0.0, 0.0]], &[[0.0, 0.0], [1.0, 0.0]], 1.0).unwrap();
    assert!((a[0][0] - (1.0 + (-1.0f64).exp())).abs() < 1e-15);
    let g = with_genred!("SqDist(x, y)", "x = Vi(2)", f64);
    assert_eq!(g.eval_flat(&[&[0.0, 0.0][..], &[1.0, 2.0]]).unwrap(), [5.0]);
}
