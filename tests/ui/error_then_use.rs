// A kernel with an error, used as if it were fine: the error alone is reported, with no
// "unreachable statement" warning and no unknown method.
fn main() {
    let k = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    let x = [[0.0f32; 3]; 2];
    let a = k.eval(&x, &x).unwrap();
    println!("{a:?}");

    let g = keops::genred!("Exp(-SqDis(x, y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"]);
    let b = g.eval_flat(&[x.as_flattened(), x.as_flattened(), &[1.0, 2.0]]).unwrap();
    println!("{b:?}");
}
