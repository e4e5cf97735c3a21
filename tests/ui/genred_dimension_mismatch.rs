fn main() {
    let _k = keops::genred!("Exp(-SqDist(x, y)) * b", ["x = Vi(3)", "y = Vj(2)", "b = Vj(1)"], dtype = f64);
}
