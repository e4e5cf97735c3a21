//! Both crates' views of the same driver: cudarc's, linked, and keops', on the device if any.

fn main() {
    let k = keops::keops!(|x_i: f32, y_j: f32| sum_j x_i * y_j);
    let out = k.on(keops::Backend::Auto).eval(&[1.0, 2.0], &[3.0]).expect("evaluates");
    assert_eq!(out, [[3.0], [6.0]]);
    println!(
        "keops on {:?}, cudarc linked to CUDA {}",
        k.on(keops::Backend::Auto).backend(),
        cudarc::driver::sys::CUDA_VERSION
    );
}
