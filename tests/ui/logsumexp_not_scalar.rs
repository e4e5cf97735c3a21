fn main() {
    let _k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3]| logsumexp_j x_i - y_j);
}
