fn main() {
    let _k = keops::keops!(|x_i: Vec<f32>, y_j: [i32; 3]| sum_j sqdist(x_i, y_j));
}
