//! Restarts on small data (one chunk of rows, segstore's streams): each from its own seed, on
//! every thread, each ending with Hartigan's moves; the lowest inertia wins.

use super::init::{self, Rows};
use super::pass::Workspace;
use super::{EngineError, KMeansFit, KMeansParams, hartigan, lloyd};
use rayon::prelude::*;

/// Restarts from their own seeds on every thread: the same fit as running them in order
/// (each restart's draws are its own; the lowest inertia wins, the first of equals).
///
/// Many restarts end Lloyd on the same partition (the same centroids, in another order).
/// Hartigan's moves from one partition end the same way whichever restart reached it, so when
/// the restarts' labels fit in memory ([`DEDUPE_ROWS`]), every restart's k-means++ and Lloyd
/// run first, and the moves run once per distinct partition, for the first restart that
/// reached it; the others take its result.
pub(super) fn restarts_in_parallel(
    rows: Rows<'_>,
    params: &KMeansParams,
    tol: f64,
    seeds: &[u64],
    mut ws: Workspace,
) -> Result<KMeansFit, EngineError> {
    let (k, n, d) = (params.k, rows.n, rows.d);
    if seeds.len().saturating_mul(n) > DEDUPE_ROWS {
        return restarts_each_polished(rows, params, tol, seeds, ws);
    }
    // The first alone: too few distinct rows fail every restart alike, so it tells.
    let first = lloyd_restart(rows, params, tol, seeds[0], &mut ws)?;
    let mut fits = vec![first];
    fits.par_extend(seeds[1..].par_iter().map_init(
        || Workspace::new(n, d, k),
        |ws, &seed| {
            lloyd_restart(rows, params, tol, seed, ws).expect("the first restart succeeded")
        },
    ));
    // The first restart of each distinct partition (centroid rows sorted, compared bit for bit).
    let key = |fit: &KMeansFit| {
        let mut rows: Vec<Vec<u64>> = fit
            .model
            .centroids
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
        rows.sort_unstable();
        rows
    };
    let mut first_of = std::collections::HashMap::new();
    let of: Vec<usize> = fits
        .iter()
        .enumerate()
        .map(|(i, fit)| *first_of.entry(key(fit)).or_insert(i))
        .collect();
    let distinct: Vec<usize> = (0..fits.len()).filter(|&i| of[i] == i).collect();
    let mut polished: Vec<Option<KMeansFit>> = vec![None; fits.len()];
    let done: Vec<(usize, KMeansFit)> = distinct
        .par_iter()
        .map_init(
            || Workspace::new(n, d, k),
            |ws, &i| (i, polish(rows, params, tol, fits[i].clone(), ws)),
        )
        .collect();
    for (i, fit) in done {
        polished[i] = Some(fit);
    }
    let inertias: Vec<f64> = of
        .iter()
        .map(|&r| polished[r].as_ref().expect("polished").inertia)
        .collect();
    let best = distinct
        .iter()
        .copied()
        .min_by(|&a, &b| inertias[a].total_cmp(&inertias[b]).then(a.cmp(&b)))
        .expect("restarts ran");
    let mut fit = polished[best].take().expect("polished");
    fit.restart_inertias = inertias;
    Ok(fit)
}

/// Restarts times rows up to which [`restarts_in_parallel`] keeps every restart's labels to
/// polish each distinct partition once (2^22: 32 MB of labels).
const DEDUPE_ROWS: usize = 1 << 22;
/// [`restarts_in_parallel`] without keeping the restarts: each restart polished as it ends.
fn restarts_each_polished(
    rows: Rows<'_>,
    params: &KMeansParams,
    tol: f64,
    seeds: &[u64],
    mut ws: Workspace,
) -> Result<KMeansFit, EngineError> {
    let (k, n, d) = (params.k, rows.n, rows.d);
    let restart = |seed: u64, ws: &mut Workspace| small_restart(rows, params, tol, seed, ws);
    // The first alone: too few distinct rows fail every restart alike, so it tells.
    let first = restart(seeds[0], &mut ws)?;
    type Kept = Option<(usize, KMeansFit)>;
    // The lower inertia; of equals, the earlier restart.
    let lower = |a: Kept, b: Kept| -> Kept {
        match (a, b) {
            (Some(a), Some(b)) => Some(if (b.1.inertia, b.0) < (a.1.inertia, a.0) {
                b
            } else {
                a
            }),
            (a, b) => a.or(b),
        }
    };
    let (best, mut inertias) = seeds[1..]
        .par_iter()
        .enumerate()
        .map_init(
            || Workspace::new(n, d, k),
            |ws, (i, &seed)| {
                let fit = restart(seed, ws).expect("the first restart succeeded");
                (i + 1, fit)
            },
        )
        .fold(
            || (None, Vec::new()),
            |(best, mut inertias): (Kept, Vec<(usize, f64)>), (i, fit)| {
                inertias.push((i, fit.inertia));
                (lower(best, Some((i, fit))), inertias)
            },
        )
        .reduce(
            || (None, Vec::new()),
            |(a, mut ia), (b, ib)| {
                ia.extend(ib);
                (lower(a, b), ia)
            },
        );
    inertias.push((0, first.inertia));
    inertias.sort_by_key(|&(i, _)| i);
    let (_, mut fit) = lower(Some((0, first)), best).expect("restarts ran");
    fit.restart_inertias = inertias.into_iter().map(|(_, inertia)| inertia).collect();
    Ok(fit)
}

/// One restart on small data: k-means++ from its own seed, Lloyd, then [`polish`].
pub(super) fn small_restart(
    rows: Rows<'_>,
    params: &KMeansParams,
    tol: f64,
    seed: u64,
    ws: &mut Workspace,
) -> Result<KMeansFit, EngineError> {
    let fit = lloyd_restart(rows, params, tol, seed, ws)?;
    Ok(polish(rows, params, tol, fit, ws))
}

/// k-means++ from a restart's own seed, then Lloyd.
fn lloyd_restart(
    rows: Rows<'_>,
    params: &KMeansParams,
    tol: f64,
    seed: u64,
    ws: &mut Workspace,
) -> Result<KMeansFit, EngineError> {
    let Rows {
        data,
        weights,
        n,
        d,
    } = rows;
    let start = init::kmeans_plus_plus_seeded(rows, params.k, seed, ws)?;
    Ok(lloyd(
        data,
        weights,
        n,
        d,
        params.k,
        start,
        params.max_iter,
        tol,
        ws,
    ))
}

/// Hartigan's moves from a restart's Lloyd fit, then Lloyd again from where they end (its
/// labels are then every row's nearest centroid, as a model assigns new rows); kept if lower.
fn polish(
    rows: Rows<'_>,
    params: &KMeansParams,
    tol: f64,
    fit: KMeansFit,
    ws: &mut Workspace,
) -> KMeansFit {
    let Rows {
        data,
        weights,
        n,
        d,
    } = rows;
    let k = params.k;
    let mut centroids = fit
        .model
        .centroids
        .as_slice()
        .expect("standard layout")
        .to_vec();
    let mut labels = fit.labels.clone();
    if hartigan::refine(data, weights, d, k, &mut labels, &mut centroids) {
        let again = lloyd(data, weights, n, d, k, centroids, params.max_iter, tol, ws);
        if again.inertia < fit.inertia {
            return KMeansFit {
                n_iter: fit.n_iter + again.n_iter,
                ..again
            };
        }
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::super::{Streams, mean_variance};
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Polishing each distinct partition once gives what polishing every restart gives.
    #[test]
    fn distinct_partitions_polished_once_are_every_restart_polished() {
        let (n, d, k) = (400, 4, 7);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        // Seven blobs, some of them close: restarts share partitions, and not all.
        let data: Vec<f64> = (0..n * d)
            .map(|i| ((i / d) % k) as f64 * 0.35 + rng.r#gen::<f64>())
            .collect();
        let rows = Rows {
            data: &data,
            weights: None,
            n,
            d,
        };
        let params = KMeansParams::new(k).n_init(60).seed(9);
        let tol = params.tol * mean_variance(&data, n, d);
        let seeds = Streams::new(&params).restart_seeds(60).unwrap();
        let once =
            restarts_in_parallel(rows, &params, tol, &seeds, Workspace::new(n, d, k)).unwrap();
        let each =
            restarts_each_polished(rows, &params, tol, &seeds, Workspace::new(n, d, k)).unwrap();
        assert_eq!(once.restart_inertias, each.restart_inertias);
        assert_eq!(once.labels, each.labels);
        assert_eq!(once.model, each.model);
        // Some restarts did share a partition, and some did not.
        let mut distinct = once.restart_inertias.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert!((2..60).contains(&distinct.len()), "{}", distinct.len());
    }
}
