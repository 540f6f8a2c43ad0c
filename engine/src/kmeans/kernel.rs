//! The assignment kernel for one chunk of rows: each row's nearest centroid and squared
//! distance, folded into the chunk's partial sums of the next centroids. Safe code; `avx2`
//! compiles the same functions for AVX2 + FMA.

/// One chunk of rows: a row's k distances (general kernel), and the chunk's partial sums.
pub(super) struct ChunkState {
    pub(super) dist: Vec<f64>,
    pub(super) sums: Vec<f64>,
    pub(super) counts: Vec<u64>,
    /// Per centroid, the sum of the weights of its rows (weighted fits).
    pub(super) weights: Vec<f64>,
    pub(super) inertia: f64,
    pub(super) changed: u64,
}

/// Lanes of one centroid group in the kernel.
pub(super) const LANES: usize = 4;
/// A padding lane's coordinate: its squared distance overflows to infinity, so it never wins.
pub(super) const FAR: f64 = 1e300;

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
