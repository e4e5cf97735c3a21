// A parameter passed rows (`bj: f32` meant as `b_j`): the error says what a parameter is.
fn main() {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3], bj: f32| sum_j exp(-sqdist(x_i, y_j)) * bj);
    let x = [[0.0f32; 3]; 2];
    let b = [1.0f32, 2.0];
    let a = k.eval(&x, &x, &b).unwrap();
    println!("{a:?}");
}
