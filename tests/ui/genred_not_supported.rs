fn main() {
    let _k = keops::genred!("SoftDTW_SqDist(x, y, g)", ["x = Vi(3)", "y = Vj(3)", "g = Pm(1)"]);
}
