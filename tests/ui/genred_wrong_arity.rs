fn main() {
    let _k = keops::genred!("Exp(-SqDist(x)) * Pow(b)", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"]);
}
