fn main() {
    let k = keops::keops!(|x_i: [f32; _], y_j: [f32; _]| sum_j exp(-sqdist(x_i, y_j)));
    let x = [[0.0f32; 3]; 2];
    let a = k.eval(&x, &x).unwrap();
    println!("{a:?}");
}

keops::keops! {
    struct Gauss = |x_i: [f32; _], y_j: [f32; 3]| sum_j exp(-sqdist(x_i, y_j));
}
