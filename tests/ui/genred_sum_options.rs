// pykeops' accumulation options: a compensated sum of a reduction that is not a sum, float32
// accumulated in float64 where it cannot be, and a scheme pykeops does not have.
fn main() {
    let _ = keops::genred!("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], reduction_op = "Min", sum_scheme = "kahan_scheme");
    let _ = keops::genred!("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], reduction_op = "LogSumExp", dtype_acc = "float64");
    let _ = keops::genred!("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], use_double_acc = True, sum_scheme = "kahan_scheme");
    let _ = keops::genred!("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], sum_scheme = "pairwise");
    let _ = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3]| min_j::<kahan> sqdist(x_i, y_j));
    let _ = keops::keops!(|x_i: [f32; 3], y_j: [f32; 3]| logsumexp_j::<f64> -sqdist(x_i, y_j));
}
