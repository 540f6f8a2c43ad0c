//! What the benchmarks share: seeded data, raw f64 files for the Python references, timing
//! and memory readings.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr_free::normal;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::Instant;

/// Box–Muller, to avoid another dependency.
mod rand_distr_free {
    use rand::Rng;
    pub fn normal(rng: &mut impl Rng) -> f64 {
        let u1: f64 = rng.r#gen::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.r#gen();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// `n` rows around `k` centres (uniform in [-6, 6]^d), spread 2.0: overlapping enough that
/// Lloyd needs tens of iterations.
#[allow(dead_code)]
pub fn blobs(n: usize, d: usize, k: usize, seed: u64) -> Array2<f64> {
    blobs_spread(n, d, k, seed, 2.0)
}

/// `n` rows around `k` centres (uniform in [-6, 6]^d), normal with standard deviation `spread`.
pub fn blobs_spread(n: usize, d: usize, k: usize, seed: u64, spread: f64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let centres: Vec<f64> = (0..k * d).map(|_| rng.gen_range(-6.0..6.0)).collect();
    let mut x = Array2::zeros((n, d));
    for i in 0..n {
        let c = rng.gen_range(0..k);
        for j in 0..d {
            x[[i, j]] = centres[c * d + j] + spread * normal(&mut rng);
        }
    }
    x
}

pub fn write(path: &std::path::Path, x: &Array2<f64>) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for v in x.iter() {
        out.write_all(&v.to_le_bytes()).unwrap();
    }
}

pub fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.unwrap())
}

pub fn status_kb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Each column to mean 0 and (population) standard deviation 1, as `scaling: standard` does.
#[allow(dead_code)]
pub fn standardize(mut x: Array2<f64>) -> Array2<f64> {
    let n = x.nrows() as f64;
    for mut column in x.columns_mut() {
        let mean = column.sum() / n;
        let std = (column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        column.mapv_inplace(|v| (v - mean) / std);
    }
    x
}
