// How the GPU computes `exp`: a mode that does not exist, in both syntaxes, and an attribute
// that a kernel expression does not take.
fn main() {
    let _ = keops::keops!(#[gpu_math = "exact"] |x_i: [f32; 1], y_j: [f32; 1]| sum_j exp(x_i - y_j));
    let _ = keops::keops!(#[inline] |x_i: [f32; 1], y_j: [f32; 1]| sum_j exp(x_i - y_j));
    let _ = keops::genred!("Exp(x - y)", ["x = Vi(1)", "y = Vj(1)"], axis = 1, gpu_math = "quick");
}
