//! One pass over all rows: the centroids laid out for the kernel, every chunk of rows run
//! in parallel through the kernel (its AVX2 + FMA build where the CPU has it), with the
//! buffers of a fit allocated once.

use super::CHUNK;
#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::kernel::{Chunk, ChunkState, FAR, LANES, general, unrolled};
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
                    weights: vec![0.0; k],
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
            let chunk = match avx2::assign(groups, chunk, ct, ct_flat, st) {
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

/// After an [`assign`] pass without accumulation: per chunk, the weighted sums of each
/// centroid's rows (`Σ w·x`), their weights (`Σ w`) and the weighted inertia (`Σ w·d²`).
pub(super) fn accumulate_weighted(data: &[f64], d: usize, weights: &[f64], ws: &mut Workspace) {
    let Workspace {
        chunks,
        labels,
        sq_dist,
        ..
    } = ws;
    chunks
        .par_iter_mut()
        .zip(data.par_chunks(CHUNK * d))
        .zip(labels.par_chunks(CHUNK))
        .zip(sq_dist.par_chunks(CHUNK))
        .zip(weights.par_chunks(CHUNK))
        .for_each(|((((st, rows), labels), sq), w)| {
            st.sums.iter_mut().for_each(|s| *s = 0.0);
            st.weights.iter_mut().for_each(|s| *s = 0.0);
            st.inertia = 0.0;
            for (((row, &l), &sq), &w) in rows.chunks_exact(d).zip(labels).zip(sq).zip(w) {
                st.weights[l] += w;
                st.inertia += w * sq;
                for (s, &x) in st.sums[l * d..(l + 1) * d].iter_mut().zip(row) {
                    *s += w * x;
                }
            }
        });
}
