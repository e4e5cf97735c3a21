fn main() {
    let _k = keops::genred!("SqDist(x, y)", ["x = Vi(3)", "y = Vk(3)"]);
}
