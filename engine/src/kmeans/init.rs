//! The first centroids: greedy k-means++ (scikit-learn's), with segstore's or numpy's random
//! draws for successive restarts.

use super::params::{KMeansParams, RandomStream};
use super::pass::Workspace;
use super::{CHUNK, EngineError, distinct_rows, ordered_sum, sq_dist};
use crate::numpy_rng::Mt19937;
use rand::{Rng, RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// The random draws of successive restarts.
pub(crate) enum Streams {
    /// Each restart gets its own xoshiro stream, seeded from this one.
    Segstore(Xoshiro256PlusPlus),
    /// One numpy stream across restarts, as scikit-learn draws.
    ScikitLearn(Box<Mt19937>),
}

impl Streams {
    pub(crate) fn new(params: &KMeansParams) -> Self {
        match params.stream {
            RandomStream::Segstore => {
                Self::Segstore(Xoshiro256PlusPlus::seed_from_u64(params.seed))
            }
            RandomStream::ScikitLearn => {
                Self::ScikitLearn(Box::new(Mt19937::new(params.seed as u32)))
            }
        }
    }

    /// The seeds of the next `count` restarts' own streams (segstore's stream; scikit-learn's
    /// draws every restart from one stream, so its restarts run one after another).
    pub(super) fn restart_seeds(&mut self, count: usize) -> Option<Vec<u64>> {
        match self {
            Self::Segstore(seeds) => Some((0..count).map(|_| seeds.next_u64()).collect()),
            Self::ScikitLearn(_) => None,
        }
    }

    /// The next restart's k-means++ centroids.
    pub(super) fn kmeans_plus_plus(
        &mut self,
        data: &[f64],
        weights: Option<&[f64]>,
        n: usize,
        d: usize,
        k: usize,
        ws: &mut Workspace,
    ) -> Result<Vec<f64>, EngineError> {
        let rows = Rows {
            data,
            weights,
            n,
            d,
        };
        match self {
            Self::Segstore(seeds) => kmeans_plus_plus(
                rows,
                k,
                &mut Xoshiro256PlusPlus::seed_from_u64(seeds.next_u64()),
                ws,
            ),
            Self::ScikitLearn(numpy) => kmeans_plus_plus(rows, k, numpy.as_mut(), ws),
        }
    }
}

impl Streams {
    /// The start of a split in two (bisecting K-Means): with scikit-learn's stream, two
    /// distinct rows drawn as its `BisectingKMeans(init="random")` draws them; else
    /// k-means++.
    pub(super) fn split_start(
        &mut self,
        data: &[f64],
        n: usize,
        d: usize,
        ws: &mut Workspace,
    ) -> Result<Vec<f64>, EngineError> {
        match self {
            Self::ScikitLearn(numpy) => Ok(numpy
                .choice_distinct(n, 2)
                .into_iter()
                .flat_map(|r| data[r * d..(r + 1) * d].iter().copied())
                .collect()),
            Self::Segstore(_) => self.kmeans_plus_plus(data, None, n, d, 2, ws),
        }
    }
}

/// Rows `n` × `d` (row-major) and their sample weights (`None`: all 1).
#[derive(Clone, Copy)]
pub(super) struct Rows<'a> {
    pub(super) data: &'a [f64],
    pub(super) weights: Option<&'a [f64]>,
    pub(super) n: usize,
    pub(super) d: usize,
}

/// k-means++ centroids from a restart's own stream (see [`Streams::restart_seeds`]).
pub(super) fn kmeans_plus_plus_seeded(
    rows: Rows<'_>,
    k: usize,
    seed: u64,
    ws: &mut Workspace,
) -> Result<Vec<f64>, EngineError> {
    kmeans_plus_plus(rows, k, &mut Xoshiro256PlusPlus::seed_from_u64(seed), ws)
}

/// Greedy k-means++: the first centroid at random (in proportion to the weights), then each
/// next one the best of `2 + ln k` candidates drawn with probability proportional to the
/// (weighted) squared distance to the nearest centroid so far: scikit-learn's, with
/// `sample_weight`.
fn kmeans_plus_plus(
    rows: Rows<'_>,
    k: usize,
    rng: &mut impl Draws,
    ws: &mut Workspace,
) -> Result<Vec<f64>, EngineError> {
    let Rows {
        data,
        weights,
        n,
        d,
    } = rows;
    // A row's weight (1 without weights: the products are then exact, the same bits).
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let trials = 2 + (k as f64).ln() as usize;
    let mut centroids = Vec::with_capacity(k * d);
    let first = match weights {
        None => rng.first(n),
        Some(w) => rng.first_weighted(w),
    };
    centroids.extend_from_slice(&data[first * d..(first + 1) * d]);
    let closest = &mut ws.closest;
    closest
        .par_chunks_mut(CHUNK)
        .zip(data.par_chunks(CHUNK * d))
        .for_each(|(out, rows)| {
            for (o, x) in out.iter_mut().zip(rows.chunks_exact(d)) {
                *o = sq_dist(x, &data[first * d..(first + 1) * d]);
            }
        });
    // `w·closest`, what the candidates are drawn by (`closest` itself without weights).
    let mut weighted = weights.map(|_| vec![0.0; n]);
    let reweigh = |weighted: &mut Option<Vec<f64>>, closest: &[f64]| {
        if let (Some(out), Some(w)) = (weighted.as_mut(), weights) {
            out.iter_mut()
                .zip(closest.iter().zip(w))
                .for_each(|(o, (c, w))| *o = c * w);
        }
    };
    reweigh(&mut weighted, closest);
    let mut potential = ordered_sum(weighted.as_deref().unwrap_or(closest));
    let mut candidates = vec![0usize; trials];
    let mut draws = vec![0.0; trials];
    for _ in 1..k {
        if potential <= 0.0 {
            return Err(EngineError::TooFewDistinctPoints {
                k,
                distinct: distinct_rows(data, n, d),
            });
        }
        for v in draws.iter_mut() {
            *v = rng.unit() * potential;
        }
        pick_by_cumulative(
            weighted.as_deref().unwrap_or(closest),
            &draws,
            &mut candidates,
        );
        // The potential each candidate would leave, in one pass over the data.
        let cand: Vec<&[f64]> = candidates
            .iter()
            .map(|&c| &data[c * d..(c + 1) * d])
            .collect();
        let pots: Vec<Vec<f64>> = closest
            .par_chunks(CHUNK)
            .zip(data.par_chunks(CHUNK * d))
            .enumerate()
            .map(|(chunk, (cl, rows))| {
                let w = |i: usize| weight(chunk * CHUNK + i);
                match cand.len() {
                    0..=4 => potentials::<4>(cl, rows, &cand, w),
                    5..=8 => potentials::<8>(cl, rows, &cand, w),
                    _ => {
                        let mut p = vec![0.0; cand.len()];
                        for (i, (c, x)) in cl.iter().zip(rows.chunks_exact(d)).enumerate() {
                            for (t, cv) in cand.iter().enumerate() {
                                p[t] += w(i) * sq_dist(x, cv).min(*c);
                            }
                        }
                        p
                    }
                }
            })
            .collect();
        let totals: Vec<f64> = (0..cand.len())
            .map(|t| pots.iter().map(|p| p[t]).sum())
            .collect();
        let best = (0..cand.len())
            .min_by(|&a, &b| totals[a].total_cmp(&totals[b]).then(a.cmp(&b)))
            .expect("trials >= 2");
        let chosen = candidates[best];
        let c = &data[chosen * d..(chosen + 1) * d];
        closest
            .par_chunks_mut(CHUNK)
            .zip(data.par_chunks(CHUNK * d))
            .for_each(|(out, rows)| {
                for (o, x) in out.iter_mut().zip(rows.chunks_exact(d)) {
                    *o = o.min(sq_dist(x, c));
                }
            });
        reweigh(&mut weighted, closest);
        potential = totals[best];
        centroids.extend_from_slice(c);
    }
    Ok(centroids)
}

/// The potential each of up to `L` candidates would leave over some rows: per row, its
/// squared distances to the candidates computed together (the candidates laid out features ×
/// `L`, so the inner loop runs over `L` contiguous lanes and vectorises), each summed feature
/// by feature as [`sq_dist`] sums it, then `Σ w · min(distance, closest)` in row order: the
/// same bits as one candidate at a time.
fn potentials<const L: usize>(
    closest: &[f64],
    rows: &[f64],
    candidates: &[&[f64]],
    weight: impl Fn(usize) -> f64,
) -> Vec<f64> {
    let d = candidates[0].len();
    let mut ct = vec![[0.0f64; L]; d];
    for (t, c) in candidates.iter().enumerate() {
        for (f, &v) in c.iter().enumerate() {
            ct[f][t] = v;
        }
    }
    let mut p = vec![0.0; candidates.len()];
    for (i, (c, x)) in closest.iter().zip(rows.chunks_exact(d)).enumerate() {
        let mut acc = [0.0f64; L];
        for (&v, lanes) in x.iter().zip(&ct) {
            for l in 0..L {
                let t = v - lanes[l];
                acc[l] += t * t;
            }
        }
        let w = weight(i);
        for (pt, a) in p.iter_mut().zip(acc) {
            *pt += w * a.min(*c);
        }
    }
    p
}

/// The two kinds of draw k-means++ makes.
trait Draws {
    /// The first centroid's row, uniformly.
    fn first(&mut self, n: usize) -> usize;
    /// The first centroid's row, in proportion to the weights.
    fn first_weighted(&mut self, weights: &[f64]) -> usize;
    /// A double in [0, 1).
    fn unit(&mut self) -> f64;
}

impl Draws for Xoshiro256PlusPlus {
    fn first(&mut self, n: usize) -> usize {
        self.gen_range(0..n)
    }

    fn first_weighted(&mut self, weights: &[f64]) -> usize {
        let draw = [self.unit() * weights.iter().sum::<f64>()];
        let mut row = [0];
        pick_by_cumulative(weights, &draw, &mut row);
        row[0]
    }

    fn unit(&mut self) -> f64 {
        self.r#gen::<f64>()
    }
}

impl Draws for Mt19937 {
    fn first(&mut self, n: usize) -> usize {
        self.uniform_choice(n)
    }

    fn first_weighted(&mut self, weights: &[f64]) -> usize {
        self.weighted_choice(weights)
    }

    fn unit(&mut self) -> f64 {
        self.next_f64()
    }
}

/// For each draw, the first row whose cumulative weight exceeds it (`searchsorted`), clipped
/// to the last row.
pub(super) fn pick_by_cumulative(weights: &[f64], draws: &[f64], out: &mut [usize]) {
    let mut order: Vec<usize> = (0..draws.len()).collect();
    order.sort_unstable_by(|&a, &b| draws[a].total_cmp(&draws[b]));
    let mut cum = 0.0;
    let mut row = 0;
    for &t in &order {
        while row < weights.len() && cum + weights[row] < draws[t] {
            cum += weights[row];
            row += 1;
        }
        out[t] = row.min(weights.len() - 1);
    }
}
