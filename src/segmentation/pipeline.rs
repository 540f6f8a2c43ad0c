//! A whole segmentation run on feature columns: preprocess → choose k (or take it) → fit →
//! metrics → profiles, with the time of each phase.

use super::EngineError;
use super::kmeans::{self, KMeans, KMeansParams};
use super::metrics::{self, Metrics};
use super::preprocess::{self, Columns, PreprocessParams, Preprocessor};
use super::profile::{self, Profiles};
use super::selection::{self, KRule, SweepParams, SweepPoint};
use ndarray::Array2;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub enum KChoice {
    Fixed(usize),
    Auto { min: usize, max: usize, rule: KRule },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunParams {
    pub preprocess: PreprocessParams,
    pub k: KChoice,
    /// n_init, seed, max_iter, tol (its `k` is ignored).
    pub kmeans: KMeansParams,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub phase: &'static str,
    pub ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct KSelection {
    /// k = 1 then the range: inertia (the elbow curve) and the other metrics.
    pub curve: Vec<SweepPoint>,
    pub elbow_k: Option<usize>,
    pub best_silhouette_k: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub rows_in: usize,
    pub rows_used: usize,
    pub rows_dropped: usize,
    pub values_imputed: usize,
    pub k: usize,
    /// How k was chosen: "given", "best silhouette", "elbow of the inertia curve (Kneedle)".
    pub k_rule: String,
    pub k_selection: Option<KSelection>,
    pub preprocessor: Preprocessor,
    /// Centroids in model space, in segment order.
    #[serde(skip)]
    pub model: KMeans,
    pub n_iter: usize,
    pub converged: bool,
    pub metrics: Metrics,
    pub profiles: Profiles,
    /// Per row used: the input row index, its segment and its distance to the centroid
    /// (model space, Euclidean).
    #[serde(skip)]
    pub assignments: Vec<(usize, usize, f64)>,
    pub timings: Vec<Phase>,
}

pub fn run(columns: &Columns, params: &RunParams) -> Result<RunResult, EngineError> {
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |phase: &'static str, timings: &mut Vec<Phase>| {
        timings.push(Phase {
            phase,
            ms: clock.elapsed().as_secs_f64() * 1e3,
        });
        clock = Instant::now();
    };
    let prepared = preprocess::prepare(columns, &params.preprocess)?;
    lap("preprocess", &mut timings);
    let x = prepared.matrix.view();
    let (fit, k, k_rule, k_selection) = match params.k {
        KChoice::Fixed(k) => {
            let mut p = params.kmeans.clone();
            p.k = k;
            (kmeans::fit(x, &p)?, k, "given".to_owned(), None)
        }
        KChoice::Auto { min, max, rule } => {
            let sweep = selection::sweep(
                x,
                &SweepParams {
                    k_min: min,
                    k_max: max,
                    rule,
                    kmeans: params.kmeans.clone(),
                },
            )?;
            let rule = if Some(sweep.chosen_k)
                == match rule {
                    KRule::Silhouette => sweep.best_silhouette_k,
                    KRule::Elbow => sweep.elbow_k,
                } {
                rule.describe().to_owned()
            } else {
                format!(
                    "{} (the {} gave none)",
                    KRule::Silhouette.describe(),
                    rule.describe()
                )
            };
            let selection = KSelection {
                curve: sweep.points,
                elbow_k: sweep.elbow_k,
                best_silhouette_k: sweep.best_silhouette_k,
            };
            (sweep.chosen, sweep.chosen_k, rule, Some(selection))
        }
    };
    lap(
        if k_selection.is_some() {
            "choose_k_and_fit"
        } else {
            "fit"
        },
        &mut timings,
    );

    // Segment ids in a canonical order (centroids in original units, lexicographically), so
    // they do not depend on which restart won.
    let d = prepared.original.ncols();
    let means = metrics::cluster_means(prepared.original.view(), &fit.labels, k);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| {
        (0..d)
            .map(|f| means[[a, f]].total_cmp(&means[[b, f]]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut rank = vec![0; k];
    for (new, &old) in order.iter().enumerate() {
        rank[old] = new;
    }
    let labels: Vec<usize> = fit.labels.iter().map(|&l| rank[l]).collect();
    let centroids = Array2::from_shape_fn((k, d), |(j, f)| fit.model.centroids[[order[j], f]]);

    let metrics = metrics::evaluate(x, &labels, k, params.kmeans.seed);
    lap("metrics", &mut timings);
    let names: Vec<String> = params
        .preprocess
        .features
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let profiles = profile::profile(prepared.original.view(), &names, &labels, k);
    lap("profiles", &mut timings);
    let assignments = prepared
        .kept
        .iter()
        .zip(&labels)
        .zip(&fit.sq_distances)
        .map(|((&row, &segment), &d2)| (row, segment, d2.sqrt()))
        .collect();
    Ok(RunResult {
        rows_in: columns.rows(),
        rows_used: prepared.kept.len(),
        rows_dropped: prepared.dropped,
        values_imputed: prepared.imputed,
        k,
        k_rule,
        k_selection,
        preprocessor: prepared.preprocessor,
        model: KMeans { centroids },
        n_iter: fit.n_iter,
        converged: fit.converged,
        metrics,
        profiles,
        assignments,
        timings,
    })
}
