//! The assignment kernel: every row's nearest centroid and squared distance, and the
//! per-chunk sums of the next centroids, in one pass over fixed-size chunks of rows.

use super::CHUNK;
use rayon::prelude::*;

/// Buffers of one fit, allocated once.
pub(super) struct Workspace {
    pub(super) chunks: Vec<ChunkState>,
    /// The centroids, features × k, in groups of lanes (padded with far lanes).
    pub(super) ct: Vec<[f64; LANES]>,
    /// The centroids, features × k, unpadded (for k > 16).
    pub(super) ct_flat: Vec<f64>,
    pub(super) labels: Vec<usize>,
    pub(super) sq_dist: Vec<f64>,
    pub(super) closest: Vec<f64>,
}

/// One chunk of rows: a row's k distances (general kernel), and the chunk's partial sums.
pub(super) struct ChunkState {
    pub(super) dist: Vec<f64>,
    pub(super) sums: Vec<f64>,
    pub(super) counts: Vec<u64>,
    pub(super) inertia: f64,
    pub(super) changed: u64,
}

impl Workspace {
    pub(super) fn new(n: usize, d: usize, k: usize) -> Self {
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
pub(super) const LANES: usize = 4;
/// A padding lane's coordinate: its squared distance overflows to infinity, so it never wins.
pub(super) const FAR: f64 = 1e300;

/// One pass over the data: each row's nearest centroid (ties: the lowest index), its squared
/// distance, and (when `accumulate`) per-chunk sums and counts per centroid.
///
/// The centroids are laid out features × k, in groups of [`LANES`], so that a row's k
/// distances are computed together: each feature of the row is broadcast against k contiguous
/// centroid values. For k <= 16 the number of groups is a compile-time constant and the
/// per-row work is fully unrolled; the argmin is branch-free. Each kernel is compiled for
/// AVX2 + FMA and for the baseline, and the CPU picks at run time.
pub(super) fn assign(
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
            let chunk = match super::avx2::assign(groups, chunk, ct, ct_flat, st) {
                None => return,
                Some(chunk) => chunk,
            };
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
pub(super) struct Chunk<'a> {
    pub(super) rows: &'a [f64],
    pub(super) d: usize,
    pub(super) k: usize,
    pub(super) labels: &'a mut [usize],
    pub(super) sq: &'a mut [f64],
    pub(super) accumulate: bool,
}

/// k <= 4·G: the distances of a row live in G groups of 4 lanes, all in registers. Rows go
/// two at a time, so that the two rows' accumulation chains overlap (each row's arithmetic is
/// the same as alone).
#[inline(always)]
pub(super) fn unrolled<const G: usize>(chunk: Chunk<'_>, ct: &[[f64; LANES]], st: &mut ChunkState) {
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
pub(super) fn argmin<const G: usize>(acc: &[[f64; LANES]; G]) -> (usize, f64) {
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
pub(super) fn general(chunk: Chunk<'_>, ct: &[f64], st: &mut ChunkState) {
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
pub(super) fn fold(
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
