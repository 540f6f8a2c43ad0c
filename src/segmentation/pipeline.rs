//! A whole segmentation run on feature columns: preprocess → choose k (or take it) → fit →
//! metrics → profiles, with the time of each phase.

use super::EngineError;
use super::kmeans::{self, KMeansParams};
use super::metrics::{self, Metrics};
use super::model::{Assign, Model, Projection};
use super::pca::{self, PcaSummary};
use super::preprocess::{self, Columns, PreprocessParams, Preprocessor};
use super::profile::{self, Profiles};
use super::sample::{self, ChartSample};
use super::selection::{self, KRule, SweepParams, SweepPoint};
use super::{dbscan, gmm, ward};
use ndarray::Axis;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub enum KChoice {
    Fixed(usize),
    Auto { min: usize, max: usize, rule: KRule },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Algorithm {
    KMeans,
    /// Gaussian mixture, full covariances: soft memberships.
    Gmm,
    /// Density-based: finds its own number of clusters; rows in no dense region are noise.
    Dbscan {
        eps: f64,
        min_points: usize,
    },
    /// Agglomerative, Ward linkage (at most `ward::WARD_MAX_ROWS` rows).
    Ward,
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Self::KMeans => "kmeans",
            Self::Gmm => "gmm",
            Self::Dbscan { .. } => "dbscan",
            Self::Ward => "ward",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunParams {
    pub preprocess: PreprocessParams,
    /// For K-Means, the mixture and Ward; `Auto` chooses with the K-Means sweep. DBSCAN
    /// ignores it.
    pub k: KChoice,
    /// n_init, seed, max_iter, tol (its `k` is ignored).
    pub kmeans: KMeansParams,
    pub algorithm: Algorithm,
    /// Cluster on this many principal components of the scaled features instead of the
    /// features themselves.
    pub reduce: Option<usize>,
    /// Keep a sample of at most this many rows for the scatter chart.
    pub chart_sample: Option<usize>,
}

/// Fit statistics of a Gaussian mixture.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MixtureFit {
    pub log_likelihood: f64,
    pub mean_log_likelihood: f64,
    pub bic: f64,
    pub aic: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub phase: &'static str,
    pub ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KSelection {
    /// k = 1 then the range: inertia (the elbow curve) and the other metrics.
    pub curve: Vec<SweepPoint>,
    pub elbow_k: Option<usize>,
    pub best_silhouette_k: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub algorithm: &'static str,
    pub rows_in: usize,
    pub rows_used: usize,
    pub rows_dropped: usize,
    pub values_imputed: usize,
    /// Segments found (DBSCAN noise not counted).
    pub k: usize,
    /// How k was chosen: "given", "best silhouette", "elbow of the inertia curve (Kneedle)",
    /// "density (DBSCAN)".
    pub k_rule: String,
    pub k_selection: Option<KSelection>,
    /// When clustering on principal components: how many, and the variance they explain.
    pub pca: Option<PcaSummary>,
    /// Rows DBSCAN left in no segment.
    pub noise: usize,
    pub mixture: Option<MixtureFit>,
    pub preprocessor: Preprocessor,
    /// What scores new rows: preprocessing, projection, centroids in model space in segment
    /// order (K-Means: the fitted ones; the others: the mean of each segment's members).
    #[serde(skip)]
    pub model: Model,
    /// K-Means iterations of the kept restart.
    pub n_iter: Option<usize>,
    pub converged: Option<bool>,
    /// Metrics of the segmented rows (noise left out).
    pub metrics: Metrics,
    pub profiles: Profiles,
    /// What the third assignment column holds: "distance" (to the segment's centroid, model
    /// space) or "probability" (of the row's segment, for the mixture).
    pub score: &'static str,
    /// Per row used: the input row index, its segment (`None`: noise) and its score.
    #[serde(skip)]
    pub assignments: Vec<(usize, Option<usize>, f64)>,
    /// What the scatter chart draws (indices into `assignments`), when asked for.
    #[serde(skip)]
    pub chart: Option<ChartSample>,
    pub timings: Vec<Phase>,
}

pub fn run(columns: &Columns, params: &RunParams) -> Result<RunResult, EngineError> {
    run_observed(columns, params, &|_, _| {})
}

/// Share of a run's work done when each phase ends (the k sweep fills 0.05 to 0.8).
fn done_after(phase: &str) -> f64 {
    match phase {
        "preprocess" | "pca" => 0.05,
        "choose_k" => 0.8,
        "fit" => 0.85,
        "metrics" => 0.95,
        _ => 1.0,
    }
}

/// [`run`], telling `progress(phase, fraction of the run done)` as it goes (from any thread).
pub fn run_observed(
    columns: &Columns,
    params: &RunParams,
    progress: &(dyn Fn(&'static str, f64) + Sync),
) -> Result<RunResult, EngineError> {
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |phase: &'static str, timings: &mut Vec<Phase>| {
        timings.push(Phase {
            phase,
            ms: clock.elapsed().as_secs_f64() * 1e3,
        });
        progress(phase, done_after(phase));
        clock = Instant::now();
    };
    let prepared = preprocess::prepare(columns, &params.preprocess)?;
    lap("preprocess", &mut timings);
    let reduced = params
        .reduce
        .map(|c| pca::pca(prepared.matrix.view(), c))
        .transpose()?;
    if reduced.is_some() {
        lap("pca", &mut timings);
    }
    // The space the algorithms work in: scaled features, or their principal components.
    let space = reduced.as_ref().map_or(&prepared.matrix, |p| &p.projection);
    let x = space.view();
    let n = x.nrows();

    // k: given, or chosen by the K-Means sweep (whose chosen fit K-Means then reuses).
    let mut k_selection = None;
    let mut chosen_fit = None;
    let (k, k_rule) = match (&params.algorithm, &params.k) {
        (Algorithm::Dbscan { .. }, _) => (0, "density (DBSCAN)".to_owned()),
        (_, KChoice::Fixed(k)) => (*k, "given".to_owned()),
        (_, KChoice::Auto { min, max, rule }) => {
            let sweep = selection::sweep_observed(
                x,
                &SweepParams {
                    k_min: *min,
                    k_max: *max,
                    rule: *rule,
                    kmeans: params.kmeans.clone(),
                },
                &|done, total| {
                    progress("choose_k", 0.05 + 0.75 * done as f64 / total as f64);
                },
            )?;
            let wanted = match rule {
                KRule::Silhouette => sweep.best_silhouette_k,
                KRule::Elbow => sweep.elbow_k,
            };
            let rule_text = if Some(sweep.chosen_k) == wanted {
                rule.describe().to_owned()
            } else {
                format!(
                    "{} (the {} gave none)",
                    KRule::Silhouette.describe(),
                    rule.describe()
                )
            };
            k_selection = Some(KSelection {
                curve: sweep.points,
                elbow_k: sweep.elbow_k,
                best_silhouette_k: sweep.best_silhouette_k,
            });
            chosen_fit = Some(sweep.chosen);
            (sweep.chosen_k, rule_text)
        }
    };
    if k_selection.is_some() {
        lap("choose_k", &mut timings);
    }

    let mut n_iter = None;
    let mut converged = None;
    let mut mixture = None;
    let mut score = "distance";
    let mut assign = Assign::Nearest;
    // Raw labels (None: noise), a per-row probability (mixture), the number of clusters.
    let (raw, probability, clusters): (Vec<Option<usize>>, Option<Vec<f64>>, usize) =
        match &params.algorithm {
            Algorithm::KMeans => {
                let fit = match chosen_fit {
                    Some(fit) => fit,
                    None => {
                        let mut p = params.kmeans.clone();
                        p.k = k;
                        kmeans::fit(x, &p)?
                    }
                };
                n_iter = Some(fit.n_iter);
                converged = Some(fit.converged);
                (fit.labels.into_iter().map(Some).collect(), None, k)
            }
            Algorithm::Ward => {
                let fit = ward::ward(x, k)?;
                (fit.labels.into_iter().map(Some).collect(), None, k)
            }
            Algorithm::Gmm => {
                let mut p = gmm::GmmParams::new(k);
                p.seed = params.kmeans.seed;
                let fit = gmm::gmm(x, &p)?;
                mixture = Some(MixtureFit {
                    log_likelihood: fit.log_likelihood,
                    mean_log_likelihood: fit.mean_log_likelihood,
                    bic: fit.bic,
                    aic: fit.aic,
                });
                score = "probability";
                assign = Assign::Mixture(fit.model.clone());
                let probability = fit
                    .labels
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| fit.probabilities[[i, l]])
                    .collect();
                (
                    fit.labels.into_iter().map(Some).collect(),
                    Some(probability),
                    k,
                )
            }
            Algorithm::Dbscan { eps, min_points } => {
                let fit = dbscan::dbscan(
                    x,
                    &dbscan::DbscanParams {
                        eps: *eps,
                        min_points: *min_points,
                    },
                )?;
                if fit.n_clusters == 0 {
                    return Err(EngineError::InvalidParameter {
                        name: "eps",
                        rule: "large enough for DBSCAN to find a cluster",
                        value: format!("{eps} (every row is noise)"),
                    });
                }
                assign = Assign::Density(fit.model.clone());
                (fit.labels, None, fit.n_clusters)
            }
        };
    lap("fit", &mut timings);

    // Segment ids in a canonical order (member means in original units, lexicographically),
    // so they do not depend on which restart or which merge came first.
    let d = prepared.original.ncols();
    let segmented: Vec<usize> = (0..n).filter(|&i| raw[i].is_some()).collect();
    let seg_labels: Vec<usize> = segmented
        .iter()
        .map(|&i| raw[i].expect("segmented"))
        .collect();
    let original = prepared.original.select(Axis(0), &segmented);
    let model_rows = space.select(Axis(0), &segmented);
    let means = metrics::cluster_means(original.view(), &seg_labels, clusters);
    let mut order: Vec<usize> = (0..clusters).collect();
    order.sort_by(|&a, &b| {
        (0..d)
            .map(|f| means[[a, f]].total_cmp(&means[[b, f]]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut rank = vec![0; clusters];
    for (new, &old) in order.iter().enumerate() {
        rank[old] = new;
    }
    let labels: Vec<usize> = seg_labels.iter().map(|&l| rank[l]).collect();
    // The member means in model space (for K-Means, its centroids at convergence).
    let centroids = metrics::cluster_means(model_rows.view(), &labels, clusters);

    // Models that assign by component or core point speak the canonical segment order too.
    match &mut assign {
        Assign::Nearest => {}
        Assign::Mixture(gmm) => {
            gmm.weights = order.iter().map(|&o| gmm.weights[o]).collect();
            gmm.means = gmm.means.select(Axis(0), &order);
            gmm.covariances = order.iter().map(|&o| gmm.covariances[o].clone()).collect();
        }
        Assign::Density(dbscan) => {
            for l in &mut dbscan.core_labels {
                *l = rank[*l];
            }
        }
    }
    let metrics = metrics::evaluate(model_rows.view(), &labels, clusters, params.kmeans.seed);
    lap("metrics", &mut timings);
    let names = params.preprocess.names();
    let transforms: Vec<_> = params
        .preprocess
        .features
        .iter()
        .map(|f| f.transform)
        .collect();
    let profiles = profile::profile(original.view(), &names, &transforms, &labels, clusters);
    lap("profiles", &mut timings);

    let mut segment_of = vec![None; n];
    for (&i, &l) in segmented.iter().zip(&labels) {
        segment_of[i] = Some(l);
    }
    let assignments = (0..n)
        .map(|i| {
            let s = segment_of[i];
            let value = match (&probability, s) {
                (Some(p), _) => p[i],
                (None, Some(l)) => x
                    .row(i)
                    .iter()
                    .zip(centroids.row(l).iter())
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt(),
                (None, None) => f64::NAN,
            };
            (prepared.kept[i], s, value)
        })
        .collect();
    let chart = params.chart_sample.map(|budget| {
        sample::chart_sample(
            prepared.matrix.view(),
            prepared.original.view(),
            &segment_of,
            clusters,
            params.kmeans.seed,
            budget,
        )
    });
    if chart.is_some() {
        lap("chart_sample", &mut timings);
    }
    Ok(RunResult {
        algorithm: params.algorithm.name(),
        rows_in: columns.rows(),
        rows_used: n,
        rows_dropped: prepared.dropped,
        values_imputed: prepared.imputed,
        k: clusters,
        k_rule,
        k_selection,
        pca: reduced.as_ref().map(|p| p.summary()),
        noise: n - segmented.len(),
        mixture,
        model: Model {
            preprocessor: prepared.preprocessor.clone(),
            projection: reduced.as_ref().map(|p| Projection {
                mean: p.mean.clone(),
                components: p.components.clone(),
            }),
            centroids,
            assign,
        },
        preprocessor: prepared.preprocessor,
        n_iter,
        converged,
        metrics,
        profiles,
        score,
        assignments,
        chart,
        timings,
    })
}
