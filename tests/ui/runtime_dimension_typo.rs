fn main() {
    // Dimensions given at run time: names and operations are still checked at compile time.
    let _k = keops::keops!(|x_i: [f32; _], y_j: [f32; _]| sum_j exq(-sqdist(x_i, y_k)));
}
