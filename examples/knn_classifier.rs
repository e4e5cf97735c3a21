//! K-nearest-neighbour classification with `argkmin_j::<10>`: three noisy spirals in the plane,
//! each test point gets the majority label of its 10 nearest training points.
//!
//! `cargo run --release --example knn_classifier [-- N]` (N training points, N / 5 test points).

mod common;

use std::time::Instant;

use common::Rng;

const K: usize = 10;
const CLASSES: usize = 3;

/// Points on three interleaved noisy spirals, with their labels.
fn spirals(n: usize, rng: &mut Rng) -> (Vec<[f32; 2]>, Vec<usize>) {
    (0..n)
        .map(|_| {
            let class = rng.below(CLASSES);
            let t = rng.unit_f32();
            let angle = 3.0 * t + class as f32 * std::f32::consts::TAU / CLASSES as f32;
            let r = 0.1 + t;
            let noise = 0.05;
            ([r * angle.cos() + noise * rng.normal_f32(), r * angle.sin() + noise * rng.normal_f32()], class)
        })
        .unzip()
}

/// Trains on `n` points, classifies `n / 5`; returns the test accuracy.
pub fn run(n: usize) -> Result<f64, keops::Error> {
    let mut rng = Rng::new(7);
    let (train, labels) = spirals(n, &mut rng);
    let (test, truth) = spirals((n / 5).max(1), &mut rng);
    let knn = keops::keops!(|x_i: [f32; 2], y_j: [f32; 2]| argkmin_j::<10> sqdist(x_i, y_j));

    let start = Instant::now();
    let neighbours = knn.eval(&test, &train)?;
    let seconds = start.elapsed().as_secs_f64();
    let predicted: Vec<usize> = neighbours
        .iter()
        .map(|nn| {
            let mut votes = [0usize; CLASSES];
            for &j in nn {
                votes[labels[j]] += 1;
            }
            (0..CLASSES).max_by_key(|&c| (votes[c], std::cmp::Reverse(c))).unwrap()
        })
        .collect();
    let correct = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
    let accuracy = correct as f64 / test.len() as f64;
    println!(
        "{K}-NN of {} test points among {n} training points on {}: {seconds:.3} s ({:.2} Gpairs/s), accuracy {:.1}%",
        test.len(),
        common::backend(),
        (test.len() * n) as f64 / seconds / 1e9,
        100.0 * accuracy
    );

    // Check: the neighbours of some test points against a sort of all distances.
    let d2 = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
    for i in (0..test.len()).step_by((test.len() / 50).max(1)) {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| d2(test[i], train[a]).total_cmp(&d2(test[i], train[b])).then(a.cmp(&b)));
        for (k, (&got, &want)) in neighbours[i].iter().zip(&order).enumerate().take(K.min(n)) {
            // Equal distances may be ordered either way.
            assert!(
                got == want || d2(test[i], train[got]) == d2(test[i], train[want]),
                "test point {i}, neighbour {k}: {got} instead of {want}"
            );
        }
    }
    println!("checked the neighbours of 50 test points against a full sort: ok");
    Ok(accuracy)
}

fn main() -> Result<(), keops::Error> {
    let accuracy = run(common::size(200_000, 1_000_000))?;
    assert!(accuracy > 0.9, "accuracy {accuracy} is too low for well-separated spirals");
    Ok(())
}

#[test]
fn small() {
    assert!(run(2000).unwrap() > 0.8);
}
