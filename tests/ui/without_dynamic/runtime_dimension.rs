fn main() {
    let _k = keops::keops!(|x_i: [f32; _], y_j: [f32; _]| sum_j exp(-sqdist(x_i, y_j)));
}

keops::keops! {
    struct Gauss = |x_i: [f32; _], y_j: [f32; 3]| sum_j exp(-sqdist(x_i, y_j));
}
