// Every mistake of a formula is reported by one build, each at its own span.
keops::keops! {
    pub struct Broken = |x_i: [f32; 3], y_j: [f32; 2]| sum_j exq(x_i) + sqdist(x_i, y_j) + z_j + x_i[3];
}

fn main() {}
