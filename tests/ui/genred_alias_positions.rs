fn main() {
    let _k = keops::genred!("SqDist(x, y) + Var(0, 2, 1)", ["x = Vi(0, 3)", "y = Vj(2, 3)"]);
}
