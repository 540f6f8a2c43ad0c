//! A run as clients see it: status, progress, counts, metrics, timings, fit, matching, error.

use crate::domain::run::documents::{self, FeatureCounts, Matching, RunEvent, WarmStartOutcome};
use crate::domain::run::{self as stored};
use crate::domain::run::{FailureKind, Phase, RunStatus, ScoreKind, Trigger};
use crate::domain::segmentation::SegmentationConfig;
use crate::segmentation::metrics::Metrics;
use crate::segmentation::pca::PcaSummary;
use crate::segmentation::pipeline::MixtureFit;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Progress of a queued or running run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub phase: Phase,
    /// 0 to 100.
    #[schema(example = 42.5)]
    pub percent: f32,
}

/// Customers a run read, used and left out.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunCustomers {
    /// Customers in the snapshot the run trained on.
    pub snapshot: i64,
    /// Customers segmented (DBSCAN noise included); `null` until the run succeeds.
    pub used: Option<i64>,
    /// Left out because a feature was missing (with `missing: drop`); `null` until the run
    /// succeeds (`missing_values` tells why a run found nothing to cluster).
    pub dropped: Option<i64>,
    /// Missing values per feature in the snapshot.
    #[schema(value_type = std::collections::HashMap<String, u64>, example = json!({"annual_income_k": 0, "spending_score": 0}))]
    pub missing_values: FeatureCounts,
    /// Values filled with the median (with `missing: impute_median`).
    pub values_imputed: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseTiming {
    #[schema(example = "snapshot")]
    pub phase: String,
    pub ms: f64,
}

impl From<&documents::PhaseTiming> for PhaseTiming {
    fn from(t: &documents::PhaseTiming) -> Self {
        Self {
            phase: t.phase.clone(),
            ms: t.ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunMetrics {
    /// Sum of squared distances to the centroids (model space); in a weighted segmentation,
    /// each customer's weighted by its weight (the other metrics measure the customers as
    /// they are).
    pub inertia: f64,
    /// Mean silhouette in [-1, 1] (higher is better); sampled above 10,000 customers.
    pub silhouette: Option<f64>,
    pub silhouette_rows: usize,
    pub silhouette_sampled: bool,
    /// Lower is better.
    pub davies_bouldin: Option<f64>,
    /// Higher is better.
    pub calinski_harabasz: Option<f64>,
}

impl From<&Metrics> for RunMetrics {
    fn from(m: &Metrics) -> Self {
        Self {
            inertia: m.inertia,
            silhouette: m.silhouette,
            silhouette_rows: m.silhouette_rows,
            silhouette_sampled: m.silhouette_sampled,
            davies_bouldin: m.davies_bouldin,
            calinski_harabasz: m.calinski_harabasz,
        }
    }
}

/// Principal components clustered on.
#[derive(Debug, Serialize, ToSchema)]
pub struct PcaView {
    /// Components asked for.
    pub requested: usize,
    /// Components kept.
    pub components: usize,
    /// Share of the variance each component explains.
    pub explained_variance_ratio: Vec<f64>,
}

impl From<&PcaSummary> for PcaView {
    fn from(p: &PcaSummary) -> Self {
        Self {
            requested: p.requested,
            components: p.components,
            explained_variance_ratio: p.explained_variance_ratio.clone(),
        }
    }
}

/// How well the Gaussian mixture fits.
#[derive(Debug, Serialize, ToSchema)]
pub struct MixtureView {
    pub log_likelihood: f64,
    pub mean_log_likelihood: f64,
    pub bic: f64,
    pub aic: f64,
}

impl From<MixtureFit> for MixtureView {
    fn from(m: MixtureFit) -> Self {
        Self {
            log_likelihood: m.log_likelihood,
            mean_log_likelihood: m.mean_log_likelihood,
            bic: m.bic,
            aic: m.aic,
        }
    }
}

/// Extra fit facts of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunFit {
    /// K-Means iterations of the kept restart.
    pub n_iter: Option<usize>,
    pub converged: Option<bool>,
    /// K-Means restarts of the final fit (the lowest inertia kept; 1 when it started from
    /// the centroids a sampled k sweep found).
    pub restarts: Option<usize>,
    /// With `init: "previous"`: the active run the fit started from, or why it fell back to
    /// k-means++ restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<WarmStartView>,
    /// Customers DBSCAN left in no segment.
    pub noise: Option<usize>,
    /// Principal components clustered on, and the variance they explain.
    pub pca: Option<PcaView>,
    /// The mixture's log-likelihood, BIC and AIC.
    pub mixture: Option<MixtureView>,
}

/// A warm start's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarmStartView {
    /// The active run whose centroids were offered (`null`: there was none).
    pub from_run_id: Option<Uuid>,
    /// Whether the fit started there (`n_iter` then counts its iterations from there).
    pub used: bool,
    #[schema(example = "k changed from 4 to 5: k-means++ restarts instead")]
    pub reason: Option<String>,
    /// That run's number of segments.
    pub previous_k: Option<usize>,
}

impl From<WarmStartOutcome> for WarmStartView {
    fn from(w: WarmStartOutcome) -> Self {
        Self {
            from_run_id: w.from_run_id,
            used: w.used,
            reason: w.reason,
            previous_k: w.previous_k,
        }
    }
}

/// Why a run failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunError {
    pub kind: FailureKind,
    pub message: String,
    /// The customer whose value made the run fail (also named in `message`); absent once
    /// that customer is erased, and the message then says "an erased customer".
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "0042")]
    pub customer: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub segmentation: String,
    pub segments: String,
    pub elbow: String,
    pub assignments: String,
}

/// A retraining run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Run {
    pub id: Uuid,
    pub segmentation_id: Uuid,
    /// The segmentation's version this run trains.
    pub segmentation_version: i32,
    pub status: RunStatus,
    pub trigger: Trigger,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Whether this run's segments are the ones CRMs read now.
    pub active: bool,
    pub progress: Progress,
    /// Times a worker claimed it (more than 1 after a worker died).
    pub attempts: i32,
    /// A cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// The exact configuration trained (a copy taken at trigger time).
    pub params: SegmentationConfig,
    pub customers: Option<RunCustomers>,
    /// Segments found.
    pub k: Option<i32>,
    /// How k was chosen: `given`, `best silhouette`, `elbow of the inertia curve (Kneedle)`…
    pub k_rule: Option<String>,
    pub metrics: Option<RunMetrics>,
    /// `distance` (to the segment's centroid) or `probability` (mixture membership): what
    /// each assignment's score is.
    pub score: Option<ScoreKind>,
    /// Wall time of each phase: `rfm` (when the features use RFM), `snapshot`, `train`, and
    /// `write` (assignments, profiles, model and activation, in one transaction).
    pub timings: Vec<PhaseTiming>,
    /// The engine's phases inside `train`: preprocess, choose_k, fit, metrics, profiles,
    /// chart_sample.
    pub engine_timings: Vec<PhaseTiming>,
    /// How far this run is from the active run it would replace: customers who moved, the
    /// adjusted Rand index, each segment's centroid shift and size change, each feature's
    /// population stability index, and the segmentation's thresholds it crossed (`held`:
    /// not activated for it). `null` when there was no active run.
    pub drift: Option<crate::domain::drift::Drift>,
    /// How the segments were matched to the previous active run's (stable ids); `null` until
    /// the run succeeded.
    pub matching: Option<Matching>,
    /// Extra fit facts: K-Means iterations and convergence, DBSCAN noise, PCA, mixture fit;
    /// `null` until the run succeeded.
    pub fit: Option<RunFit>,
    pub error: Option<RunError>,
    /// Notes such as a lease recovery after a worker died.
    pub events: Vec<RunEvent>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub links: RunLinks,
}

impl From<stored::Run> for Run {
    fn from(r: stored::Run) -> Self {
        let recorded = r.summary.is_some();
        let summary = r.summary.unwrap_or_default();
        let id = r.run_id;
        let timings = |t: &[documents::PhaseTiming]| t.iter().map(PhaseTiming::from).collect();
        Self {
            id,
            segmentation_id: r.segmentation_id,
            segmentation_version: r.segmentation_version,
            progress: Progress {
                phase: r.phase.unwrap_or(Phase::Queued),
                percent: (r.progress * 1000.0).round() / 10.0,
            },
            customers: r.customers_snapshot.map(|snapshot| RunCustomers {
                snapshot,
                used: r.customers_used,
                dropped: r.customers_dropped,
                missing_values: summary.missing_values.clone(),
                values_imputed: r.values_imputed,
            }),
            metrics: summary.metrics.as_ref().map(RunMetrics::from),
            score: summary.score,
            timings: timings(&summary.timings),
            engine_timings: timings(&summary.engine_timings),
            fit: recorded.then(|| RunFit {
                n_iter: summary.n_iter,
                converged: summary.converged,
                restarts: summary.restarts,
                warm_start: summary.warm_start.map(WarmStartView::from),
                noise: summary.noise,
                pca: summary.pca.as_ref().map(PcaView::from),
                mixture: summary.mixture.map(MixtureView::from),
            }),
            matching: summary.matching,
            drift: summary.drift,
            error: r.error.map(|e| RunError {
                kind: e.kind,
                message: e.message,
                customer: e.customer,
            }),
            status: r.status,
            trigger: r.trigger,
            idempotency_key: r.idempotency_key,
            active: r.active,
            attempts: r.attempts,
            cancel_requested: r.cancel_requested,
            params: r.config,
            k: r.k,
            k_rule: r.k_rule,
            events: r.events,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            links: RunLinks {
                self_: format!("/v1/runs/{id}"),
                segmentation: format!("/v1/segmentations/{}", r.segmentation_id),
                segments: format!("/v1/runs/{id}/segments"),
                elbow: format!("/v1/runs/{id}/elbow"),
                assignments: format!("/v1/runs/{id}/assignments"),
            },
        }
    }
}
