//! `keops::candle` (feature `candle`): kernels as ops of candle's graph, forward and backward,
//! against the kernel's own `eval_flat` and `grad_flat`, and against finite differences. Run with
//! `cargo test --features candle --test candle`.

#![cfg(feature = "candle")]

use keops::candle::{Device, Tensor, Var, apply};
use keops::keops;

fn rows(n: usize, d: usize, seed: u64) -> Vec<f64> {
    keops_testkit::Rng::new(seed).vec(n * d, -1.0, 1.0)
}

#[test]
fn forward_and_gradients_are_the_kernels() {
    // Four inputs: x and y go to candle as they are, b and s packed into one tensor.
    let k =
        keops!(|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 2], s: f64| sum_j exp(-s * sqdist(x_i, y_j)) * b_j);
    let (x, y, b, s) = (rows(7, 3, 1), rows(5, 3, 2), rows(5, 2, 3), vec![0.8]);
    let dev = &Device::Cpu;
    let xv = Var::from_vec(x.clone(), (7, 3), dev).unwrap();
    let yv = Var::from_vec(y.clone(), (5, 3), dev).unwrap();
    let bv = Var::from_vec(b.clone(), (5, 2), dev).unwrap();
    let sv = Var::from_vec(s.clone(), 1, dev).unwrap();
    let a = apply(&k, &[xv.as_tensor(), yv.as_tensor(), bv.as_tensor(), sv.as_tensor()]).unwrap();
    assert_eq!(a.dims(), [7, 2]);
    let flat = [&x[..], &y, &b, &s];
    assert_eq!(a.flatten_all().unwrap().to_vec1::<f64>().unwrap(), k.eval_flat(&flat).unwrap());

    // loss = sum <a, e>: its gradients are grad_flat's with seed e.
    let e = rows(7, 2, 4);
    let et = Tensor::from_vec(e.clone(), (7, 2), dev).unwrap();
    let grads = (a * et).unwrap().sum_all().unwrap().backward().unwrap();
    for (pos, var) in [&xv, &yv, &bv, &sv].into_iter().enumerate() {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for input {pos}"));
        assert_eq!(g.dims(), var.dims());
        let want = k.grad_flat(pos, &flat, &e).unwrap();
        let got = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(got, want, "input {pos}");
    }

    // And the parameter's against central differences of the forward pass.
    let loss = |s: f64| {
        let st = Tensor::new(&[s], dev).unwrap();
        let a = apply(&k, &[xv.as_tensor(), yv.as_tensor(), bv.as_tensor(), &st]).unwrap();
        let et = Tensor::from_vec(e.clone(), (7, 2), dev).unwrap();
        (a * et).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()
    };
    let h = 1e-5;
    let fd = (loss(0.8 + h) - loss(0.8 - h)) / (2.0 * h);
    let ds = grads.get(sv.as_tensor()).unwrap().to_vec1::<f64>().unwrap()[0];
    assert!((fd - ds).abs() < 1e-7 * fd.abs().max(1.0), "{fd} against {ds}");
}

#[test]
fn only_tracked_inputs_get_gradients() {
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2]| sum_j sqdist(x_i, y_j));
    let dev = &Device::Cpu;
    let x = Var::new(&[[0.0f32, 1.0], [2.0, 0.5]], dev).unwrap();
    // A transposed view: made contiguous (a differentiable copy) before the kernel reads it.
    let y = Tensor::new(&[[1.0f32, 0.0, 3.0], [0.0, 1.0, 0.0]], dev).unwrap().t().unwrap();
    let a = apply(&k, &[x.as_tensor(), &y]).unwrap();
    // |(0, 1) - y_j|^2 = 2, 0, 10 and |(2, 0.5) - y_j|^2 = 1.25, 4.25, 1.25.
    assert_eq!(a.to_vec2::<f32>().unwrap(), [[12.0], [6.75]]);
    let grads = a.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&y).is_none());
    // d/dx_i of sum_j |x_i - y_j|^2 = 2 (3 x_i - sum_j y_j), with sum_j y_j = (4, 1).
    let gx = grads.get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(gx, [[-8.0, 4.0], [4.0, 1.0]]);
}

#[test]
fn indices_follow_values_and_bad_inputs_are_errors() {
    let k = keops!(|x_i: f32, y_j: f32| min_argmin_j(x_i - y_j) * (x_i - y_j));
    let dev = &Device::Cpu;
    let x = Tensor::new(&[0.0f32, 3.0, 1.25], dev).unwrap();
    let y = Tensor::new(&[1.0f32, 3.5, -1.5], dev).unwrap();
    let a = apply(&k, &[&x, &y]).unwrap();
    assert_eq!(a.to_vec2::<f32>().unwrap(), [[1.0, 0.0], [0.25, 1.0], [0.0625, 0.0]]);

    let wrong = Tensor::new(&[1.0f64, 2.0], dev).unwrap();
    let err = apply(&k, &[&x, &wrong]).unwrap_err().to_string();
    assert!(err.contains("input `y_j` is a F64 tensor, the kernel takes f32"), "{err}");
    let err = apply(&k, &[&x]).unwrap_err().to_string();
    assert!(err.contains("the kernel takes 2 inputs, got 1"), "{err}");
}

/// A kernel declared with dimensions `_` takes them from the tensors.
#[cfg(feature = "dynamic")]
#[test]
fn dimensions_given_at_run_time_come_from_the_tensors() {
    let k = keops!(|x_i: [f32; _], y_j: [f32; _], s: [f32; _]| sum_j exp(-sqdist(x_i * s, y_j * s)));
    let dev = &Device::Cpu;
    let x = Var::new(&[[0.0f32, 1.0, 0.5], [1.0, 0.0, 0.0]], dev).unwrap();
    let y = Tensor::new(&[[0.5f32, 0.5, 0.5]], dev).unwrap();
    let s = Tensor::new(&[1.0f32, 2.0, 0.5], dev).unwrap();
    // What `keops!` makes of such a kernel dereferences to its `DynKernel`.
    let a = apply(&*k, &[x.as_tensor(), &y, &s]).unwrap();
    let flat = [
        x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        y.flatten_all().unwrap().to_vec1().unwrap(),
        s.to_vec1().unwrap(),
    ];
    let sized = k.with_dims(&[3, 3, 3]);
    assert_eq!(a.flatten_all().unwrap().to_vec1::<f32>().unwrap(), sized.eval_flat(&flat).unwrap());
    let g = a.sum_all().unwrap().backward().unwrap();
    let gx = g.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(gx, sized.grad_flat(0, &flat, &[1.0, 1.0]).unwrap());
}

/// f16 and bf16 tensors of an f32 kernel: widened in candle's graph, the output rounded back to
/// their type and their gradients in it; with indices, the output stays f32 (an index above
/// 2048 would not survive f16).
#[test]
fn half_tensors_of_an_f32_kernel() {
    use keops::candle::DType;
    let k = keops!(|x_i: [f32; 2], y_j: [f32; 2], s: f32| sum_j exp(-s * sqdist(x_i, y_j)));
    let dev = &Device::Cpu;
    let (x, y) = (rows(6, 2, 5), rows(9, 2, 6));
    for dtype in [DType::F16, DType::BF16] {
        let half = |v: &[f64], shape: &[usize]| {
            Tensor::from_vec(v.to_vec(), shape, dev).unwrap().to_dtype(dtype).unwrap()
        };
        let xv = Var::from_tensor(&half(&x, &[6, 2])).unwrap();
        let (yt, st) = (half(&y, &[9, 2]), half(&[0.5], &[1]));
        let a = apply(&k, &[xv.as_tensor(), &yt, &st]).unwrap();
        assert_eq!(a.dtype(), dtype);
        // The f32 kernel on the same (rounded) values, rounded once.
        let f32s =
            |t: &Tensor| t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let flat = [f32s(xv.as_tensor()), f32s(&yt), f32s(&st)];
        let want = Tensor::new(k.eval_flat(&flat).unwrap(), dev).unwrap().to_dtype(dtype).unwrap();
        assert_eq!(f32s(&a), f32s(&want));
        let grads = a.sum_all().unwrap().backward().unwrap();
        let g = grads.get(xv.as_tensor()).unwrap();
        assert_eq!(g.dtype(), dtype);
        let want = k.grad_flat(0, &flat, &[1.0; 6]).unwrap();
        let want = Tensor::new(want, dev).unwrap().to_dtype(dtype).unwrap();
        assert_eq!(f32s(g), f32s(&want));
    }
    // Indices: an f32 output, exact beyond f16's integers.
    let nearest = keops!(|x_i: f32, y_j: f32| argmin_j(x_i - y_j) * (x_i - y_j));
    let ys: Vec<f32> = (0..3000).map(|j| if j == 2999 { 0.0 } else { 1.0 }).collect();
    let yt = Tensor::new(ys, dev).unwrap().to_dtype(DType::F16).unwrap();
    let xt = Tensor::new(&[0.0f32], dev).unwrap().to_dtype(DType::F16).unwrap();
    let a = apply(&nearest, &[&xt, &yt]).unwrap();
    assert_eq!(a.dtype(), DType::F32);
    assert_eq!(a.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [2999.0]);
}
