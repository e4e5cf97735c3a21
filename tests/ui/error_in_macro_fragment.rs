// Errors inside fragments that a `macro_rules!` wrapper passes on: each points at the
// caller's tokens.
macro_rules! nearest {
    ($t:ty, $d:literal, $f:expr) => {
        keops::keops!(|x_i: [$t; $d], y_j: [$t; $d]| argmin_j $f)
    };
}

macro_rules! with_genred {
    ($formula:literal, $x:literal) => {
        keops::genred!($formula, [$x, "y = Vj(2)"], reduction = "Sum", axis = 1)
    };
}

fn main() {
    let _unknown = nearest!(f32, 2, sqdist(x_i, z_j));
    let _dimension = nearest!(f32, 3, sqnorm2(x_i) - elem(y_j, 4));
    let _formula = with_genred!("SqDist(x, y", "x = Vi(2)");
    let _alias = with_genred!("SqDist(x, y)", "x = Vk(2)");
}
