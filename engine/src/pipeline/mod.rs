//! A whole segmentation run on feature columns: preprocess → choose k (or take it) → fit →
//! metrics → profiles, with the time of each phase.
//!
//! The algorithm is fitted through its plug-in ([`crate::algorithm::Clusterer`]). Files:
//! `choose_k` (given, swept, or swept on a sample), `clock` (the steps, their times and the progress told), `segments` (canonical segment
//! order), `warm` (a previous run's centroids in this run's space).

use super::EngineError;
use super::algorithm::{FitJob, KMeansFromSweep};
use super::kmeans::{self, KMeansParams};
use super::metrics::{self, Metrics};
use super::model::{Model, Projection};
use super::pca::{self, PcaSummary};
use super::preprocess::{self, Columns, PreprocessParams, Preprocessor};
use super::profile::{self, Profiles};
use super::sample::{self, ChartSample};
use super::selection::SweepPoint;
use super::space::{ModelRows, Space};
use choose_k::choose_k;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

mod choose_k;
mod clock;
mod segments;
mod warm;

pub use super::algorithm::{Algorithm, KChoice, MixtureFit};
use clock::Clock;
pub use clock::{Phase, Step};
use segments::Segments;
pub use warm::{CategoryStart, WarmStart, WarmStartReport};

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
    /// `k: auto` sweeps a seeded sample of this many rows when there are more
    /// ([`SWEEP_SAMPLE_ROWS`] in the service and the CLI).
    pub sweep_sample: usize,
    /// K-Means: start the fit from these centroids (another run's) instead of k-means++
    /// restarts, when their features and k are this run's.
    pub warm_start: Option<WarmStart>,
}

/// What the third assignment column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// To the segment's centroid, in model space.
    Distance,
    /// Of the row's segment (the mixture).
    Probability,
}

impl std::fmt::Display for ScoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Distance => "distance",
            Self::Probability => "probability",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KSelection {
    /// k = 1 then the range: inertia (the elbow curve) and the other metrics, of the rows the
    /// sweep fitted.
    pub curve: Vec<SweepPoint>,
    pub elbow_k: Option<usize>,
    pub best_silhouette_k: Option<usize>,
    /// Rows the sweep fitted (`None` in runs stored before sweeps were sampled: all of them).
    #[serde(default)]
    pub rows: Option<usize>,
    /// Whether they were a seeded sample of the rows used (more than [`SWEEP_SAMPLE_ROWS`]).
    #[serde(default)]
    pub sampled: bool,
}

/// Rows above which `k: auto` sweeps a seeded uniform sample of this many rows, then fits the
/// chosen k on every row, starting from the sample's centroids for that k (Lloyd from there
/// needs a few passes over all rows, not ten restarts of k-means++). With structure in the
/// data, 50,000 rows give the k all the rows give (BENCHMARKS.md); the silhouette that picks
/// it is computed on 10,000 of them either way.
pub const SWEEP_SAMPLE_ROWS: usize = 50_000;

/// Each row used, in order: its index in the input rows, its segment (`None`: noise) and its
/// score. Held column by column, 24 bytes a row (10M customers: 229 MiB).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignments {
    rows: Vec<usize>,
    segments: Vec<Option<u32>>,
    scores: Vec<f64>,
}

impl Assignments {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `i`'s input row, segment and score.
    pub fn get(&self, i: usize) -> (usize, Option<usize>, f64) {
        (
            self.rows[i],
            self.segments[i].map(|s| s as usize),
            self.scores[i],
        )
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (usize, Option<usize>, f64)> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
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
    /// K-Means restarts of the final fit (1 when it started from a sampled sweep's centroids
    /// or from a previous run's).
    pub restarts: Option<usize>,
    /// Asked to start from a previous run's centroids: whether it did.
    pub warm_start: Option<WarmStartReport>,
    /// Metrics of the segmented rows (noise left out).
    pub metrics: Metrics,
    pub profiles: Profiles,
    /// What the third assignment column holds.
    pub score: ScoreKind,
    /// Per row used: the input row index, its segment (`None`: noise) and its score.
    #[serde(skip)]
    pub assignments: Assignments,
    /// What the scatter chart draws (indices into `assignments`), when asked for.
    #[serde(skip)]
    pub chart: Option<ChartSample>,
    pub timings: Vec<Phase>,
}

pub fn run(columns: &Columns, params: &RunParams) -> Result<RunResult, EngineError> {
    run_observed(columns, params, &|_, _| {})
}

/// [`run`], telling `progress(phase, fraction of the run done)` as it goes (from any thread).
/// The steps: preprocess → (PCA) → choose k → fit → canonical segment order → metrics →
/// profiles → each row's score → [chart sample].
pub fn run_observed(
    columns: &Columns,
    params: &RunParams,
    progress: &(dyn Fn(Step, f64) + Sync),
) -> Result<RunResult, EngineError> {
    kmeans::on_the_pool(|| run_on_the_pool(columns, params, progress))
}

fn run_on_the_pool(
    columns: &Columns,
    params: &RunParams,
    progress: &(dyn Fn(Step, f64) + Sync),
) -> Result<RunResult, EngineError> {
    let mut clock = Clock::new(progress);
    let prepared = preprocess::prepare_with(columns, &params.preprocess, params.algorithm.holds())?;
    let scaled = Space::of(&prepared);
    clock.lap(Step::Preprocess);
    let reduced = params.reduce.map(|c| pca::pca(&scaled, c)).transpose()?;
    if reduced.is_some() {
        clock.lap(Step::Pca);
    }
    // The space the algorithms work in: scaled features, or their principal components.
    let x: &dyn ModelRows = match &reduced {
        Some(p) => &p.projection,
        None => &scaled,
    };
    let weights = prepared.weights.as_deref();
    if weights.is_some() && !params.algorithm.takes_weights() {
        return Err(EngineError::invalid(
            "weight",
            "used with an algorithm that weighs rows (kmeans)",
            params.algorithm.name(),
        ));
    }
    let chosen = choose_k(x, weights, params, progress)?;
    if chosen.selection.is_some() {
        clock.lap(Step::ChooseK);
    }
    let warm = match &params.warm_start {
        Some(w) if params.algorithm.starts_from_centroids() => Some((
            w.centroids.nrows(),
            w.start(
                chosen.k,
                &params.preprocess.names(),
                &prepared.preprocessor,
                reduced.as_ref().map(|p| &p.pca),
            ),
        )),
        _ => None,
    };
    let start = match &warm {
        Some((_, Ok(start))) => Some(KMeansFromSweep::Start(start.clone())),
        _ => chosen.fit,
    };
    let mut fitted = params.algorithm.fit(
        x,
        FitJob {
            k: chosen.k,
            weights,
            kmeans: &params.kmeans,
            swept: start,
        },
    )?;
    clock.lap(Step::Fit);
    let segments = Segments::canonical(
        prepared.original.view(),
        x,
        weights,
        &prepared.categories,
        &fitted.raw,
        fitted.clusters,
    );
    fitted.assign.reorder(&segments.order, &segments.rank);
    fitted.clusters = segments.order.len();
    // Each customer's cluster is in `segments` now (at 10M customers, 160 MB freed).
    drop(std::mem::take(&mut fitted.raw));
    let mut metrics = metrics::evaluate(
        &*segments.model_rows,
        &segments.labels,
        fitted.clusters,
        params.kmeans.seed,
    );
    if let Some(w) = &segments.weights {
        metrics.inertia =
            metrics::weighted_inertia(&*segments.model_rows, &segments.labels, fitted.clusters, w);
    }
    clock.lap(Step::Metrics);
    let transforms: Vec<_> = params
        .preprocess
        .features
        .iter()
        .map(|f| f.transform)
        .collect();
    let profiles = profile::profile(
        segments.original.view(),
        &params.preprocess.names(),
        &transforms,
        &segments.labels,
        fitted.clusters,
        segments.weights.as_deref(),
        &segments.categories,
    );
    clock.lap(Step::Profiles);
    let segment_of = segments.of_rows(x.nrows());
    // The segmented rows' labels (and any copies of them) are not needed past this point:
    // they go before the per-customer results are built.
    let noise = x.nrows() - segments.segmented.len();
    let centroids = segments.into_centroids();
    let score = match fitted.probability {
        Some(_) => ScoreKind::Probability,
        None => ScoreKind::Distance,
    };
    let scores = scores(x, &segment_of, fitted.probability.as_deref(), &centroids);
    let rows_used = x.nrows();
    let chart = params.chart_sample.map(|budget| {
        sample::chart_sample(
            &scaled,
            prepared.original.view(),
            &segment_of,
            fitted.clusters,
            params.kmeans.seed,
            budget,
        )
    });
    if chart.is_some() {
        clock.lap(Step::ChartSample);
    }
    let assignments = Assignments {
        rows: prepared.kept,
        segments: segment_of,
        scores,
    };
    Ok(RunResult {
        algorithm: params.algorithm.name(),
        rows_in: columns.rows(),
        rows_used,
        rows_dropped: prepared.dropped,
        values_imputed: prepared.imputed,
        k: fitted.clusters,
        k_rule: chosen.rule,
        k_selection: chosen.selection,
        pca: reduced.as_ref().map(|p| p.pca.summary()),
        noise,
        mixture: fitted.mixture,
        model: Model {
            preprocessor: prepared.preprocessor.clone(),
            projection: reduced.as_ref().map(|p| Projection {
                mean: p.pca.mean.clone(),
                components: p.pca.components.clone(),
            }),
            centroids,
            assign: fitted.assign,
        },
        preprocessor: prepared.preprocessor,
        n_iter: fitted.n_iter,
        converged: fitted.converged,
        restarts: fitted.restarts,
        warm_start: warm.map(|(previous_k, start)| WarmStartReport {
            used: start.is_ok(),
            reason: start.err(),
            previous_k,
        }),
        metrics,
        profiles,
        score,
        assignments,
        chart,
        timings: clock.timings,
    })
}

/// Each row's score: its membership probability (the mixture), else the distance to its
/// segment's centroid in model space (NaN for noise).
fn scores(
    x: &dyn ModelRows,
    segment_of: &[Option<u32>],
    probability: Option<&[f64]>,
    centroids: &Array2<f64>,
) -> Vec<f64> {
    if let Some(p) = probability {
        return p.to_vec();
    }
    let mut scores = Vec::with_capacity(x.nrows());
    x.for_blocks(&mut |start, block| {
        for (i, row) in block.rows().into_iter().enumerate() {
            scores.push(match segment_of[start + i] {
                Some(l) => row
                    .iter()
                    .zip(centroids.row(l as usize).iter())
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt(),
                None => f64::NAN,
            });
        }
    });
    scores
}
