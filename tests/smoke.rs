#[test]
fn card() {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let x = vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
    let y = vec![[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 2.0, 0.0]];
    let b = vec![[1.0], [2.0], [3.0]];
    let a = k.eval(&x, &y, &b).unwrap();
    let want = 1.0 + 2.0 * (-1.0f32).exp() + 3.0 * (-8.0f32).exp();
    assert!((a[0][0] - want).abs() < 1e-6, "{a:?}");
}
