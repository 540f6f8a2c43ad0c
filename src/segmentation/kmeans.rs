//! K-Means: greedy k-means++ initialisation, Lloyd iterations with scikit-learn's stopping
//! rule, empty-cluster relocation and `n_init` restarts, on a tuned kernel.
//!
//! The kernel computes one row's distances to all k centroids together (centroids laid out
//! features × k, so the inner loop runs over k contiguous values and vectorises), takes the
//! argmin without branches, and folds the row into per-chunk partial sums (the next
//! centroids) in the same pass; an AVX2 + FMA build of it is picked at run time. Rows are split into fixed-size
//! chunks, independent of the number of threads, each with preallocated buffers; chunk
//! results are merged in chunk order, so a fit is reproducible to the last bit on any machine.
//! Nothing is allocated inside the iteration loop.

use super::EngineError;
use super::numpy_rng::Mt19937;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, Array2, ArrayView2};
use rand::{Rng, RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows per parallel chunk.
const CHUNK: usize = 16 * 1024;

/// How the first centroids are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// Greedy k-means++ (scikit-learn's: `2 + ln k` candidates per step, the best kept).
    KMeansPlusPlus,
    /// These centroids (k × features), for every restart.
    Centroids(Array2<f64>),
}

/// Where the random draws of k-means++ come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomStream {
    /// xoshiro256++, one stream per restart derived from the seed.
    #[default]
    Segstore,
    /// numpy's `RandomState(seed)` (MT19937), one stream across restarts, drawn as
    /// scikit-learn's `KMeans(random_state=seed)` draws it: same seed, same restarts, same
    /// result as the notebook (the seed must fit in 32 bits).
    ScikitLearn,
}

/// Parameters, with scikit-learn's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    /// Restarts; the one with the lowest inertia is kept.
    pub n_init: usize,
    pub max_iter: usize,
    /// Relative tolerance: stop when the squared centroid shift is at most
    /// `tol × mean feature variance`.
    pub tol: f64,
    pub seed: u64,
    pub init: Init,
    pub stream: RandomStream,
}

impl KMeansParams {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
            init: Init::KMeansPlusPlus,
            stream: RandomStream::Segstore,
        }
    }

    pub fn stream(mut self, stream: RandomStream) -> Self {
        self.stream = stream;
        self
    }

    pub fn n_init(mut self, n: usize) -> Self {
        self.n_init = n;
        self
    }

    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = n;
        self
    }

    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Checks the parameters against data of `rows` × `cols`.
    pub fn check(&self, rows: usize, cols: usize) -> Result<(), EngineError> {
        super::error::check_k(self.k, rows)?;
        let invalid =
            |name, rule, value: String| Err(EngineError::InvalidParameter { name, rule, value });
        if self.n_init == 0 {
            return invalid("n_init", "at least 1", "0".into());
        }
        if self.max_iter == 0 {
            return invalid("max_iter", "at least 1", "0".into());
        }
        if self.stream == RandomStream::ScikitLearn && self.seed > u64::from(u32::MAX) {
            return invalid(
                "seed",
                "at most 4294967295 with the scikit-learn stream",
                self.seed.to_string(),
            );
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return invalid("tol", "a finite number >= 0", self.tol.to_string());
        }
        if let Init::Centroids(c) = &self.init
            && c.dim() != (self.k, cols)
        {
            return invalid(
                "init centroids",
                "k × features",
                format!("{} × {}", c.nrows(), c.ncols()),
            );
        }
        Ok(())
    }
}

/// A fitted model: the centroids, in model space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    pub centroids: Array2<f64>,
}

/// Everything a fit found.
#[derive(Debug, Clone)]
pub struct KMeansFit {
    pub model: KMeans,
    pub labels: Vec<usize>,
    /// Squared distance of each row to its centroid.
    pub sq_distances: Vec<f64>,
    pub inertia: f64,
    /// Lloyd iterations of the kept restart.
    pub n_iter: usize,
    /// Whether it stopped by the rule (labels unchanged or shift within tolerance), not
    /// by `max_iter`.
    pub converged: bool,
    /// For the kept restart: the sum of squared distances of each assignment step. Never
    /// increases.
    pub inertia_trace: Vec<f64>,
    /// Inertia of every restart, in order.
    pub restart_inertias: Vec<f64>,
    /// Wall time of the kept restart's Lloyd iterations (not the initialisation).
    pub iterations_seconds: f64,
}

/// Fits K-Means on the rows of `x` (one row per customer, model space).
pub fn fit(x: ArrayView2<f64>, params: &KMeansParams) -> Result<KMeansFit, EngineError> {
    let (n, d) = x.dim();
    params.check(n, d)?;
    let owned;
    let data: &[f64] = match x.as_slice() {
        Some(s) => s,
        None => {
            owned = x.as_standard_layout().into_owned();
            owned.as_slice().expect("standard layout")
        }
    };
    let tol = params.tol * mean_variance(data, n, d);
    let mut streams = Streams::new(params);
    let mut ws = Workspace::new(n, d, params.k);
    let mut best: Option<KMeansFit> = None;
    let mut restart_inertias = Vec::with_capacity(params.n_init);
    for restart in 0..params.n_init {
        let init_started = std::time::Instant::now();
        let centroids = match &params.init {
            Init::KMeansPlusPlus => streams.kmeans_plus_plus(data, n, d, params.k, &mut ws)?,
            Init::Centroids(c) => c.as_standard_layout().iter().copied().collect(),
        };
        let run = lloyd(
            data,
            n,
            d,
            params.k,
            centroids,
            params.max_iter,
            tol,
            &mut ws,
        );
        tracing::debug!(
            restart,
            init_ms = (init_started.elapsed().as_secs_f64() - run.iterations_seconds) * 1e3,
            iterations = run.n_iter,
            iterations_ms = run.iterations_seconds * 1e3,
            inertia = run.inertia,
            "k-means restart"
        );
        restart_inertias.push(run.inertia);
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    let mut best = best.expect("n_init >= 1");
    best.restart_inertias = restart_inertias;
    Ok(best)
}

/// The centroids the first restart's k-means++ would start from (to seed another
/// implementation with exactly the same start, as the benchmark does).
pub fn initial_centroids(
    x: ArrayView2<f64>,
    params: &KMeansParams,
) -> Result<Array2<f64>, EngineError> {
    let (n, d) = x.dim();
    params.check(n, d)?;
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("standard layout");
    let mut ws = Workspace::new(n, d, params.k);
    let centroids = Streams::new(params).kmeans_plus_plus(data, n, d, params.k, &mut ws)?;
    Ok(Array2::from_shape_vec((params.k, d), centroids).expect("k × d"))
}

/// The random draws of successive restarts.
enum Streams {
    /// Each restart gets its own xoshiro stream, seeded from this one.
    Segstore(Xoshiro256PlusPlus),
    /// One numpy stream across restarts, as scikit-learn draws.
    ScikitLearn(Box<Mt19937>),
}

impl Streams {
    fn new(params: &KMeansParams) -> Self {
        match params.stream {
            RandomStream::Segstore => {
                Self::Segstore(Xoshiro256PlusPlus::seed_from_u64(params.seed))
            }
            RandomStream::ScikitLearn => {
                Self::ScikitLearn(Box::new(Mt19937::new(params.seed as u32)))
            }
        }
    }

    /// The next restart's k-means++ centroids.
    fn kmeans_plus_plus(
        &mut self,
        data: &[f64],
        n: usize,
        d: usize,
        k: usize,
        ws: &mut Workspace,
    ) -> Result<Vec<f64>, EngineError> {
        match self {
            Self::Segstore(seeds) => {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seeds.next_u64());
                kmeans_plus_plus(data, n, d, k, &mut rng, ws)
            }
            Self::ScikitLearn(numpy) => kmeans_plus_plus(data, n, d, k, numpy.as_mut(), ws),
        }
    }
}

/// The mean over features of each feature's (population) variance: two row-wise passes,
/// in fixed chunks merged in order.
fn mean_variance(data: &[f64], n: usize, d: usize) -> f64 {
    let column_sums = |f: &(dyn Fn(&[f64], &mut [f64]) + Sync)| -> Vec<f64> {
        data.par_chunks(CHUNK * d)
            .map(|rows| {
                let mut acc = vec![0.0; d];
                for row in rows.chunks_exact(d) {
                    f(row, &mut acc);
                }
                acc
            })
            .collect::<Vec<_>>()
            .into_iter()
            .fold(vec![0.0; d], |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            })
    };
    let means: Vec<f64> = column_sums(&|row, acc| {
        acc.iter_mut().zip(row).for_each(|(a, x)| *a += x);
    })
    .into_iter()
    .map(|s| s / n as f64)
    .collect();
    let squares = column_sums(&|row, acc| {
        for ((a, x), m) in acc.iter_mut().zip(row).zip(&means) {
            *a += (x - m) * (x - m);
        }
    });
    squares.iter().sum::<f64>() / n as f64 / d as f64
}

/// Buffers of one fit, allocated once.
struct Workspace {
    chunks: Vec<ChunkState>,
    /// The centroids, features × k, in groups of lanes (padded with far lanes).
    ct: Vec<[f64; LANES]>,
    /// The centroids, features × k, unpadded (for k > 16).
    ct_flat: Vec<f64>,
    labels: Vec<usize>,
    sq_dist: Vec<f64>,
    closest: Vec<f64>,
}

/// One chunk of rows: a row's k distances (general kernel), and the chunk's partial sums.
struct ChunkState {
    dist: Vec<f64>,
    sums: Vec<f64>,
    counts: Vec<u64>,
    inertia: f64,
    changed: u64,
}

impl Workspace {
    fn new(n: usize, d: usize, k: usize) -> Self {
        let chunks = n.div_ceil(CHUNK).max(1);
        Self {
            ct: Vec::with_capacity(d * k.div_ceil(LANES)),
            ct_flat: Vec::with_capacity(d * k),
            chunks: (0..chunks)
                .map(|_| ChunkState {
                    dist: vec![0.0; k],
                    sums: vec![0.0; k * d],
                    counts: vec![0; k],
                    inertia: 0.0,
                    changed: 0,
                })
                .collect(),
            labels: vec![usize::MAX; n],
            sq_dist: vec![0.0; n],
            closest: vec![0.0; n],
        }
    }
}

/// Lanes of one centroid group in the kernel.
const LANES: usize = 4;
/// A padding lane's coordinate: its squared distance overflows to infinity, so it never wins.
const FAR: f64 = 1e300;

/// One pass over the data: each row's nearest centroid (ties: the lowest index), its squared
/// distance, and (when `accumulate`) per-chunk sums and counts per centroid.
///
/// The centroids are laid out features × k, in groups of [`LANES`], so that a row's k
/// distances are computed together: each feature of the row is broadcast against k contiguous
/// centroid values. For k <= 16 the number of groups is a compile-time constant and the
/// per-row work is fully unrolled; the argmin is branch-free. Each kernel is compiled for
/// AVX2 + FMA and for the baseline, and the CPU picks at run time.
fn assign(
    data: &[f64],
    d: usize,
    k: usize,
    centroids: &[f64],
    ws: &mut Workspace,
    accumulate: bool,
) {
    let groups = k.div_ceil(LANES);
    ws.ct.clear();
    ws.ct.resize(d * groups, [FAR; LANES]);
    for j in 0..k {
        for f in 0..d {
            ws.ct[f * groups + j / LANES][j % LANES] = centroids[j * d + f];
        }
    }
    ws.ct_flat.clear();
    for f in 0..d {
        ws.ct_flat.extend((0..k).map(|j| centroids[j * d + f]));
    }
    let Workspace {
        chunks,
        labels,
        sq_dist,
        ct,
        ct_flat,
        ..
    } = ws;
    let (ct, ct_flat) = (&ct[..], &ct_flat[..]);
    chunks
        .par_iter_mut()
        .zip(data.par_chunks(CHUNK * d))
        .zip(labels.par_chunks_mut(CHUNK))
        .zip(sq_dist.par_chunks_mut(CHUNK))
        .for_each(|(((st, rows), labels), sq)| {
            st.inertia = 0.0;
            st.changed = 0;
            if accumulate {
                st.sums.iter_mut().for_each(|s| *s = 0.0);
                st.counts.iter_mut().for_each(|c| *c = 0);
            }
            let chunk = Chunk {
                rows,
                d,
                k,
                labels,
                sq,
                accumulate,
            };
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports the features these functions are compiled for.
                unsafe {
                    match groups {
                        1 => unrolled_avx2::<1>(chunk, ct, st),
                        2 => unrolled_avx2::<2>(chunk, ct, st),
                        3 => unrolled_avx2::<3>(chunk, ct, st),
                        4 => unrolled_avx2::<4>(chunk, ct, st),
                        _ => general_avx2(chunk, ct_flat, st),
                    }
                }
                return;
            }
            match groups {
                1 => unrolled::<1>(chunk, ct, st),
                2 => unrolled::<2>(chunk, ct, st),
                3 => unrolled::<3>(chunk, ct, st),
                4 => unrolled::<4>(chunk, ct, st),
                _ => general(chunk, ct_flat, st),
            }
        });
}

/// The rows of one chunk and where their results go.
struct Chunk<'a> {
    rows: &'a [f64],
    d: usize,
    k: usize,
    labels: &'a mut [usize],
    sq: &'a mut [f64],
    accumulate: bool,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn unrolled_avx2<const G: usize>(
    chunk: Chunk<'_>,
    ct: &[[f64; LANES]],
    st: &mut ChunkState,
) {
    unrolled::<G>(chunk, ct, st)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn general_avx2(chunk: Chunk<'_>, ct: &[f64], st: &mut ChunkState) {
    general(chunk, ct, st)
}

/// k <= 4·G: the distances of a row live in G groups of 4 lanes, all in registers. Rows go
/// two at a time, so that the two rows' accumulation chains overlap (each row's arithmetic is
/// the same as alone).
#[inline(always)]
fn unrolled<const G: usize>(chunk: Chunk<'_>, ct: &[[f64; LANES]], st: &mut ChunkState) {
    let Chunk {
        rows,
        d,
        labels,
        sq,
        accumulate,
        ..
    } = chunk;
    let pairs = labels.len() / 2;
    let (pair_rows, last_row) = rows.split_at(pairs * 2 * d);
    let (pair_labels, last_label) = labels.split_at_mut(pairs * 2);
    let (pair_sq, last_sq) = sq.split_at_mut(pairs * 2);
    for ((two, label), sq) in pair_rows
        .chunks_exact(2 * d)
        .zip(pair_labels.chunks_exact_mut(2))
        .zip(pair_sq.chunks_exact_mut(2))
    {
        let (a, b) = two.split_at(d);
        let mut acc_a = [[0.0f64; LANES]; G];
        let mut acc_b = [[0.0f64; LANES]; G];
        for ((&xa, &xb), c) in a.iter().zip(b).zip(ct.chunks_exact(G)) {
            for g in 0..G {
                for l in 0..LANES {
                    let ta = xa - c[g][l];
                    let tb = xb - c[g][l];
                    acc_a[g][l] += ta * ta;
                    acc_b[g][l] += tb * tb;
                }
            }
        }
        let (arg_a, best_a) = argmin::<G>(&acc_a);
        let (arg_b, best_b) = argmin::<G>(&acc_b);
        let (label_a, label_b) = label.split_at_mut(1);
        let (sq_a, sq_b) = sq.split_at_mut(1);
        fold(
            st,
            a,
            &mut label_a[0],
            &mut sq_a[0],
            arg_a,
            best_a,
            accumulate,
        );
        fold(
            st,
            b,
            &mut label_b[0],
            &mut sq_b[0],
            arg_b,
            best_b,
            accumulate,
        );
    }
    if let (Some(label), Some(sq)) = (last_label.first_mut(), last_sq.first_mut()) {
        let mut acc = [[0.0f64; LANES]; G];
        for (&x, c) in last_row.iter().zip(ct.chunks_exact(G)) {
            for g in 0..G {
                for l in 0..LANES {
                    let t = x - c[g][l];
                    acc[g][l] += t * t;
                }
            }
        }
        let (arg, best) = argmin::<G>(&acc);
        fold(st, last_row, label, sq, arg, best, accumulate);
    }
}

/// The lowest lane (ties: the first) and its value, without branches.
#[inline(always)]
fn argmin<const G: usize>(acc: &[[f64; LANES]; G]) -> (usize, f64) {
    let mut best = acc[0][0];
    let mut arg = 0;
    for (g, group) in acc.iter().enumerate() {
        for (l, &v) in group.iter().enumerate() {
            let better = v < best;
            best = if better { v } else { best };
            arg = if better { g * LANES + l } else { arg };
        }
    }
    (arg, best)
}

/// Any k: the same computation with k decided at run time.
#[inline(always)]
fn general(chunk: Chunk<'_>, ct: &[f64], st: &mut ChunkState) {
    let Chunk {
        rows,
        d,
        k,
        labels,
        sq,
        accumulate,
    } = chunk;
    let mut dist = std::mem::take(&mut st.dist);
    for ((row, label), sq) in rows
        .chunks_exact(d)
        .zip(labels.iter_mut())
        .zip(sq.iter_mut())
    {
        dist.iter_mut().for_each(|v| *v = 0.0);
        for (&x, c) in row.iter().zip(ct.chunks_exact(k)) {
            for (acc, &cj) in dist.iter_mut().zip(c) {
                let t = x - cj;
                *acc += t * t;
            }
        }
        let mut best = dist[0];
        let mut arg = 0;
        for (j, &v) in dist.iter().enumerate().skip(1) {
            let better = v < best;
            best = if better { v } else { best };
            arg = if better { j } else { arg };
        }
        fold(st, row, label, sq, arg, best, accumulate);
    }
    st.dist = dist;
}

/// Records a row's nearest centroid and adds the row to that centroid's partial sum.
#[inline(always)]
fn fold(
    st: &mut ChunkState,
    row: &[f64],
    label: &mut usize,
    sq: &mut f64,
    arg: usize,
    best: f64,
    accumulate: bool,
) {
    st.changed += u64::from(*label != arg);
    *label = arg;
    *sq = best;
    st.inertia += best;
    if accumulate {
        st.counts[arg] += 1;
        let d = row.len();
        for (s, &x) in st.sums[arg * d..(arg + 1) * d].iter_mut().zip(row) {
            *s += x;
        }
    }
}

/// Lloyd iterations from `centroids`, with scikit-learn's stopping rule.
#[allow(clippy::too_many_arguments)]
fn lloyd(
    data: &[f64],
    n: usize,
    d: usize,
    k: usize,
    mut centroids: Vec<f64>,
    max_iter: usize,
    tol: f64,
    ws: &mut Workspace,
) -> KMeansFit {
    ws.labels.iter_mut().for_each(|l| *l = usize::MAX);
    let mut next = vec![0.0; k * d];
    let mut counts = vec![0u64; k];
    let mut trace = Vec::new();
    let mut strict = false;
    let mut converged = false;
    let mut n_iter = 0;
    let started = std::time::Instant::now();
    for _ in 0..max_iter {
        n_iter += 1;
        assign(data, d, k, &centroids, ws, true);
        // Merge the chunks in order (reproducible sums).
        next.iter_mut().for_each(|v| *v = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        let mut inertia = 0.0;
        let mut changed = 0;
        for st in &ws.chunks {
            for (a, b) in next.iter_mut().zip(&st.sums) {
                *a += b;
            }
            for (a, b) in counts.iter_mut().zip(&st.counts) {
                *a += b;
            }
            inertia += st.inertia;
            changed += st.changed;
        }
        trace.push(inertia);
        relocate_empty(data, d, &ws.labels, &ws.sq_dist, &mut next, &mut counts);
        let mut shift = 0.0;
        for j in 0..k {
            let c = counts[j] as f64;
            for f in 0..d {
                let v = next[j * d + f] / c;
                shift += (v - centroids[j * d + f]).powi(2);
                next[j * d + f] = v;
            }
        }
        std::mem::swap(&mut centroids, &mut next);
        if changed == 0 {
            strict = true;
            converged = true;
            break;
        }
        if shift <= tol {
            converged = true;
            break;
        }
    }
    let iterations_seconds = started.elapsed().as_secs_f64();
    // Labels that match the final centroids (scikit-learn does the same).
    if !strict {
        assign(data, d, k, &centroids, ws, false);
    }
    let inertia = if strict {
        // The centroids are the means of the unchanged clusters: measure against them.
        (0..n)
            .map(|i| {
                let j = ws.labels[i];
                (0..d)
                    .map(|f| (data[i * d + f] - centroids[j * d + f]).powi(2))
                    .sum::<f64>()
            })
            .sum()
    } else {
        ws.chunks.iter().map(|c| c.inertia).sum()
    };
    if strict {
        for i in 0..n {
            let j = ws.labels[i];
            ws.sq_dist[i] = (0..d)
                .map(|f| (data[i * d + f] - centroids[j * d + f]).powi(2))
                .sum();
        }
    }
    KMeansFit {
        model: KMeans {
            centroids: Array2::from_shape_vec((k, d), centroids).expect("k × d"),
        },
        labels: ws.labels.clone(),
        sq_distances: ws.sq_dist.clone(),
        inertia,
        n_iter,
        converged,
        inertia_trace: trace,
        restart_inertias: Vec::new(),
        iterations_seconds,
    }
}

/// An empty cluster takes the row farthest from its centroid (scikit-learn's rule), which
/// leaves its old cluster's sums.
fn relocate_empty(
    data: &[f64],
    d: usize,
    labels: &[usize],
    sq_dist: &[f64],
    sums: &mut [f64],
    counts: &mut [u64],
) {
    let empty: Vec<usize> = (0..counts.len()).filter(|&j| counts[j] == 0).collect();
    if empty.is_empty() {
        return;
    }
    let mut far: Vec<usize> = (0..labels.len()).collect();
    far.sort_unstable_by(|&a, &b| sq_dist[b].total_cmp(&sq_dist[a]).then(a.cmp(&b)));
    for (&row, &j) in far.iter().zip(&empty) {
        let old = labels[row];
        let x = &data[row * d..(row + 1) * d];
        for f in 0..d {
            sums[old * d + f] -= x[f];
            sums[j * d + f] = x[f];
        }
        counts[old] -= 1;
        counts[j] = 1;
    }
}

/// Greedy k-means++: the first centroid uniformly at random, then each next one the best of
/// `2 + ln k` candidates drawn with probability proportional to the squared distance to the
/// nearest centroid so far.
fn kmeans_plus_plus(
    data: &[f64],
    n: usize,
    d: usize,
    k: usize,
    rng: &mut impl Draws,
    ws: &mut Workspace,
) -> Result<Vec<f64>, EngineError> {
    let trials = 2 + (k as f64).ln() as usize;
    let mut centroids = Vec::with_capacity(k * d);
    let first = rng.first(n);
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
    let mut potential = ordered_sum(closest);
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
        pick_by_cumulative(closest, &draws, &mut candidates);
        // The potential each candidate would leave, in one pass over the data.
        let cand: Vec<&[f64]> = candidates
            .iter()
            .map(|&c| &data[c * d..(c + 1) * d])
            .collect();
        let pots: Vec<Vec<f64>> = closest
            .par_chunks(CHUNK)
            .zip(data.par_chunks(CHUNK * d))
            .map(|(cl, rows)| {
                let mut p = vec![0.0; cand.len()];
                for (c, x) in cl.iter().zip(rows.chunks_exact(d)) {
                    for (t, cv) in cand.iter().enumerate() {
                        p[t] += sq_dist(x, cv).min(*c);
                    }
                }
                p
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
        potential = totals[best];
        centroids.extend_from_slice(c);
    }
    Ok(centroids)
}

/// The two kinds of draw k-means++ makes.
trait Draws {
    /// The first centroid's row, uniformly.
    fn first(&mut self, n: usize) -> usize;
    /// A double in [0, 1).
    fn unit(&mut self) -> f64;
}

impl Draws for Xoshiro256PlusPlus {
    fn first(&mut self, n: usize) -> usize {
        self.gen_range(0..n)
    }

    fn unit(&mut self) -> f64 {
        self.r#gen::<f64>()
    }
}

impl Draws for Mt19937 {
    fn first(&mut self, n: usize) -> usize {
        self.uniform_choice(n)
    }

    fn unit(&mut self) -> f64 {
        self.next_f64()
    }
}

/// For each draw, the first row whose cumulative weight exceeds it (`searchsorted`), clipped
/// to the last row.
fn pick_by_cumulative(weights: &[f64], draws: &[f64], out: &mut [usize]) {
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

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Sum in fixed chunks merged in order: the same bits with any number of threads.
fn ordered_sum(v: &[f64]) -> f64 {
    v.par_chunks(CHUNK)
        .map(|c| c.iter().sum::<f64>())
        .collect::<Vec<_>>()
        .iter()
        .sum()
}

fn distinct_rows(data: &[f64], n: usize, d: usize) -> usize {
    let mut rows: Vec<&[f64]> = (0..n).map(|i| &data[i * d..(i + 1) * d]).collect();
    rows.sort_unstable_by(|a, b| {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rows.dedup();
    rows.len()
}

impl KMeans {
    /// Nearest centroid of each row (ties: the lowest index) and its squared distance.
    pub fn predict_rows(&self, x: ArrayView2<f64>) -> (Vec<usize>, Vec<f64>) {
        let (n, d) = x.dim();
        let k = self.centroids.nrows();
        let mut ws = Workspace::new(n, d, k);
        let owned = x.as_standard_layout();
        let centroids = self.centroids.as_standard_layout();
        assign(
            owned.as_slice().expect("standard layout"),
            d,
            k,
            centroids.as_slice().expect("standard layout"),
            &mut ws,
            false,
        );
        (ws.labels, ws.sq_dist)
    }
}

impl<T> Fit<Array2<f64>, T, EngineError> for KMeansParams {
    type Object = KMeans;

    fn fit(&self, dataset: &DatasetBase<Array2<f64>, T>) -> Result<KMeans, EngineError> {
        fit(dataset.records().view(), self).map(|f| f.model)
    }
}

impl PredictInplace<Array2<f64>, Array1<usize>> for KMeans {
    fn predict_inplace(&self, x: &Array2<f64>, y: &mut Array1<usize>) {
        let (labels, _) = self.predict_rows(x.view());
        for (slot, label) in y.iter_mut().zip(labels) {
            *slot = label;
        }
    }

    fn default_target(&self, x: &Array2<f64>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Predict;
    use ndarray::array;
    use proptest::prelude::*;

    fn blobs() -> Array2<f64> {
        array![
            [0.0, 0.0],
            [0.1, 0.0],
            [0.0, 0.1],
            [5.0, 5.0],
            [5.1, 5.0],
            [5.0, 5.1],
            [9.0, 0.0],
            [9.1, 0.1]
        ]
    }

    #[test]
    fn finds_separated_blobs_and_predicts_through_linfa() {
        let x = blobs();
        let ds = DatasetBase::from(x.clone());
        let model = KMeansParams::new(3).fit(&ds).unwrap();
        let labels: Array1<usize> = model.predict(&x);
        assert_eq!(labels[0], labels[1]);
        assert_eq!(labels[3], labels[5]);
        assert_ne!(labels[0], labels[3]);
        assert_ne!(labels[6], labels[3]);
    }

    #[test]
    fn parameter_rules_are_errors() {
        let x = blobs();
        assert_eq!(
            fit(x.view(), &KMeansParams::new(0)).unwrap_err(),
            EngineError::KTooSmall { k: 0 }
        );
        assert_eq!(
            fit(x.view(), &KMeansParams::new(9)).unwrap_err(),
            EngineError::KTooLarge { k: 9, rows: 8 }
        );
        assert!(matches!(
            fit(x.view(), &KMeansParams::new(2).n_init(0)),
            Err(EngineError::InvalidParameter { name: "n_init", .. })
        ));
        assert!(matches!(
            fit(x.view(), &KMeansParams::new(2).tol(f64::NAN)),
            Err(EngineError::InvalidParameter { name: "tol", .. })
        ));
        let empty = Array2::<f64>::zeros((0, 2));
        assert!(matches!(
            fit(empty.view(), &KMeansParams::new(1)),
            Err(EngineError::Empty { .. })
        ));
        let same = Array2::<f64>::ones((5, 2));
        assert_eq!(
            fit(same.view(), &KMeansParams::new(2)).unwrap_err(),
            EngineError::TooFewDistinctPoints { k: 2, distinct: 1 }
        );
        assert_eq!(
            fit(same.view(), &KMeansParams::new(1)).unwrap().inertia,
            0.0
        );
        let wrong = Init::Centroids(Array2::zeros((2, 3)));
        assert!(matches!(
            fit(x.view(), &KMeansParams::new(2).init(wrong)),
            Err(EngineError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn an_empty_cluster_takes_the_farthest_row() {
        let x = array![[0.0], [1.0], [2.0], [10.0]];
        // The third centroid is far from everything: it starts empty.
        let init = Init::Centroids(array![[0.0], [1.0], [100.0]]);
        let f = fit(x.view(), &KMeansParams::new(3).init(init).n_init(1)).unwrap();
        let mut sizes = [0; 3];
        f.labels.iter().for_each(|&l| sizes[l] += 1);
        assert!(sizes.iter().all(|&s| s > 0), "{sizes:?}");
        assert!((f.inertia - 0.5).abs() < 1e-12, "{}", f.inertia);
    }

    fn data_strategy() -> impl Strategy<Value = (Array2<f64>, usize, u64)> {
        (10usize..200, 1usize..5, 1usize..6, any::<u64>()).prop_flat_map(|(n, d, k, seed)| {
            proptest::collection::vec(-100.0f64..100.0, n * d)
                .prop_map(move |v| (Array2::from_shape_vec((n, d), v).unwrap(), k, seed))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn inertia_never_increases_and_seeds_reproduce((x, k, seed) in data_strategy()) {
            let params = KMeansParams::new(k).n_init(2).seed(seed);
            let a = fit(x.view(), &params).unwrap();
            for w in a.inertia_trace.windows(2) {
                prop_assert!(w[1] <= w[0] * (1.0 + 1e-12) + 1e-9, "{:?}", a.inertia_trace);
            }
            prop_assert!(a.inertia <= a.inertia_trace[0] * (1.0 + 1e-12) + 1e-9);
            let b = fit(x.view(), &params).unwrap();
            prop_assert_eq!(&a.labels, &b.labels);
            prop_assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
            let direct: f64 = (0..x.nrows()).map(|i| {
                let c = a.model.centroids.row(a.labels[i]);
                x.row(i).iter().zip(c.iter()).map(|(p, q)| (p - q).powi(2)).sum::<f64>()
            }).sum();
            prop_assert!((direct - a.inertia).abs() <= 1e-9 * direct.max(1.0));
        }
    }
}
