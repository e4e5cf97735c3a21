fn main() {
    let _k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 2], b_j: [f32; 1]| sum_j exp(x_i - y_j) * b_j);
}
