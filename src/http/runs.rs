//! Runs: retraining jobs and their results (`/v1/segmentations/{id}/runs`, `/v1/runs/...`),
//! a customer's segment, and scoring with the active model.

use crate::domain::run::Phase;
use crate::domain::run::documents::{self, FeatureCounts, Matching, RunEvent};
use crate::domain::run::{self as stored, Segment};
use crate::domain::segmentation::SegmentationConfig;
use crate::domain::{RunId, SegmentationId};
use crate::error::{Error, Result};
use crate::http::extract::{Json, Query};
use crate::http::problem::Problem;
use crate::segmentation::metrics::Metrics;
use crate::segmentation::pca::PcaSummary;
use crate::segmentation::pipeline::MixtureFit;
use crate::segmentation::profile;
use crate::service::lookup::LookupCache;
use crate::service::runs::Waker;
use crate::service::runs::{self as service, MoverFilter, ScoreInput, ScoreValue, Triggered};
use crate::store::Pool;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 10_000;

fn page_limit(limit: Option<u32>) -> Result<i64> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}, got {limit}"),
        ));
    }
    Ok(i64::from(limit))
}

/// Progress of a queued or running run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// `queued`, `snapshot`, `training`, `writing`, `done`.
    #[schema(example = "training")]
    pub phase: String,
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
    #[schema(value_type = Object, example = json!({"annual_income_k": 0, "spending_score": 0}))]
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
    /// Sum of squared distances to the centroids (model space).
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

/// Extra fit facts of a run.
#[derive(Debug, Serialize)]
pub struct RunFit {
    /// K-Means iterations of the kept restart.
    pub n_iter: Option<usize>,
    pub converged: Option<bool>,
    /// Customers DBSCAN left in no segment.
    pub noise: Option<usize>,
    /// Principal components clustered on, and the variance they explain.
    pub pca: Option<PcaSummary>,
    /// The mixture's log-likelihood, BIC and AIC.
    pub mixture: Option<MixtureFit>,
}

/// Why a run failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunError {
    /// `engine`, `invalid_configuration`, `worker_lost`, `database`, `internal`.
    pub kind: String,
    pub message: String,
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
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[schema(example = "succeeded")]
    pub status: String,
    /// `api` or `schedule`.
    pub trigger: String,
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
    pub score: Option<String>,
    /// Wall time of each phase: `rfm` (when the features use RFM), `snapshot`, `train`, and
    /// `write` (assignments, profiles, model and activation, in one transaction).
    pub timings: Vec<PhaseTiming>,
    /// The engine's phases inside `train`: preprocess, choose_k, fit, metrics, profiles,
    /// chart_sample.
    pub engine_timings: Vec<PhaseTiming>,
    /// How the segments were matched to the previous active run's (stable ids).
    #[schema(value_type = Object)]
    pub matching: Option<Matching>,
    /// Extra fit facts: K-Means iterations and convergence, DBSCAN noise, PCA, mixture fit.
    #[schema(value_type = Object)]
    pub fit: Option<RunFit>,
    pub error: Option<RunError>,
    /// Notes such as a lease recovery after a worker died.
    #[schema(value_type = Vec<Object>)]
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
                phase: r.phase.unwrap_or(Phase::Queued).to_string(),
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
            score: summary.score.map(|s| s.to_string()),
            timings: timings(&summary.timings),
            engine_timings: timings(&summary.engine_timings),
            fit: recorded.then(|| RunFit {
                n_iter: summary.n_iter,
                converged: summary.converged,
                noise: summary.noise,
                pca: summary.pca.clone(),
                mixture: summary.mixture,
            }),
            matching: summary.matching,
            error: r.error.map(|e| RunError {
                kind: e.kind.to_string(),
                message: e.message,
            }),
            status: r.status.to_string(),
            trigger: r.trigger.to_string(),
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TriggerParams {
    /// Queue this run even when another of the segmentation is queued or running (it
    /// starts after it). Default false: the call answers 409 naming the pending run.
    pub queue: Option<bool>,
}

/// Retrain a segmentation.
///
/// Answers at once with the queued run; a worker trains it (poll `Location`). With an
/// `Idempotency-Key`, retries of the call return the run the first call created.
#[utoipa::path(
    tag = "runs",
    params(
        ("id" = String, Path, description = "The segmentation's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries return the same run (1 to 255 visible ASCII characters)"),
        TriggerParams
    ),
    responses(
        (status = 202, description = "Queued (or, for a retried `Idempotency-Key`, the run it created; then `Idempotent-Replayed: true`); `Location` names the run", body = Run),
        (status = 404, description = "No such segmentation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A run of this segmentation is queued or running; `run` and `Location` name it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `Idempotency-Key` or `queue`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/segmentations/{id}/runs")]
async fn trigger_run(
    pool: web::Data<Pool>,
    waker: web::Data<Waker>,
    id: SegmentationId,
    req: HttpRequest,
    Query(params): Query<TriggerParams>,
) -> Result<HttpResponse> {
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => Some(service::check_idempotency_key(v.to_str().map_err(
            |_| Error::invalid("Idempotency-Key", "must be visible ASCII characters"),
        )?)?),
    };
    let triggered = service::trigger(&pool, &waker, id, key, params.queue.unwrap_or(false)).await?;
    let (run, replayed) = match triggered {
        Triggered::Queued(run) => (run, false),
        Triggered::Replayed(run) => (run, true),
    };
    let view = Run::from(run);
    let mut response = HttpResponse::Accepted();
    response.insert_header((header::LOCATION, view.links.self_.clone()));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunPageParams {
    /// Runs per page, 1 to 10000 (default 100).
    pub limit: Option<u32>,
    /// The `next_before` of the previous page.
    pub before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<Run>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// List a segmentation's runs, newest first.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id"), RunPageParams),
    responses(
        (status = 200, description = "A page of runs", body = RunList),
        (status = 404, description = "No such segmentation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `limit` or `before`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/segmentations/{id}/runs")]
async fn list_runs(
    pool: web::Data<Pool>,
    id: SegmentationId,
    Query(params): Query<RunPageParams>,
) -> Result<web::Json<RunList>> {
    let limit = page_limit(params.limit)?;
    let rows = service::list(&pool, id, params.before, limit).await?;
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(web::Json(RunList {
        runs: rows.into_iter().map(Run::from).collect(),
        next_before,
    }))
}

/// One run: status, progress, timings, parameters, counts, k and metrics, or its error.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{id}")]
async fn get_run(pool: web::Data<Pool>, id: RunId) -> Result<web::Json<Run>> {
    Ok(web::Json(service::get(&pool, id).await?.into()))
}

/// Cancel a run: a queued one at once, a running one at its next phase boundary.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 202, description = "Cancelled, or asked to stop (`cancel_requested`)", body = Run),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has finished", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/runs/{id}/cancel")]
async fn cancel_run(pool: web::Data<Pool>, id: RunId) -> Result<HttpResponse> {
    let run = Run::from(service::cancel(&pool, id).await?);
    Ok(HttpResponse::Accepted().json(run))
}

/// Make a succeeded run the active one (when auto-activation is off, or to roll back).
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run, now active", body = Run),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has not succeeded, or retention dropped its assignments", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/runs/{id}/activate")]
async fn activate_run(
    pool: web::Data<Pool>,
    cache: web::Data<LookupCache>,
    id: RunId,
) -> Result<web::Json<Run>> {
    Ok(web::Json(
        service::activate(&pool, &cache, id).await?.into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureStats {
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

impl From<&profile::FeatureStats> for FeatureStats {
    fn from(s: &profile::FeatureStats) -> Self {
        Self {
            mean: s.mean,
            std: s.std,
            min: s.min,
            q1: s.q1,
            median: s.median,
            q3: s.q3,
            max: s.max,
        }
    }
}

/// A segment's identity and label.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentRef {
    /// Stable across retrains: a segment matched to the previous active run's keeps its id.
    #[schema(example = 3)]
    pub segment_id: i32,
    #[schema(example = "High annual income · High spending score")]
    pub label: String,
    #[schema(example = "VIP")]
    pub persona: Option<String>,
}

impl From<&Segment> for SegmentRef {
    fn from(s: &Segment) -> Self {
        Self {
            segment_id: s.stable_id,
            label: s.label.clone(),
            persona: s.persona.clone(),
        }
    }
}

/// A segment's profile, in original units.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentProfile {
    #[serde(flatten)]
    pub segment: SegmentRef,
    /// The run's own order of its segments (by centroid).
    pub position: i32,
    pub size: i64,
    /// size / customers segmented.
    pub share: f64,
    /// Mean of the members per feature (original units).
    pub centroid: Vec<f64>,
    pub stats: Vec<FeatureStats>,
    /// (segment mean − population mean) / population std, per feature, in the space the
    /// features are clustered in (after `log1p` where configured).
    pub lift: Vec<f64>,
    /// Most distinguishing features first.
    pub top_features: Vec<String>,
    /// The label computed from this run's lift (`label` is kept across retrains).
    pub computed_label: String,
    /// The segment's colour in this run's charts (`#rrggbb`; colour-blind-safe palette,
    /// keyed by the stable id), for front ends that draw their own.
    #[schema(example = "#332288")]
    pub colour: String,
    /// The previous active run's segment this one continues, and their centroid distance.
    pub matched_run_id: Option<Uuid>,
    pub matched_distance: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentList {
    pub run_id: Uuid,
    /// Feature order of `centroid`, `stats` and `lift`.
    pub features: Vec<String>,
    /// Statistics of every customer segmented, per feature.
    pub population: Vec<FeatureStats>,
    pub segments: Vec<SegmentProfile>,
}

fn profile(s: Segment, colour: usize) -> SegmentProfile {
    let rgb = crate::charts::PALETTE[colour % crate::charts::PALETTE.len()];
    SegmentProfile {
        segment: SegmentRef::from(&s),
        position: s.segment,
        size: s.size,
        share: s.share,
        stats: s.profile.stats.iter().map(FeatureStats::from).collect(),
        centroid: s.profile.centroid,
        lift: s.profile.lift,
        top_features: s.profile.top_features,
        computed_label: s.profile.computed_label,
        colour: format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2),
        matched_run_id: s.matched_run_id,
        matched_distance: s.matched_distance,
    }
}

/// A succeeded run's segment profiles: size, share, centroid, statistics, lift, label.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The profiles, in the run's segment order", body = SegmentList),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has not succeeded", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{id}/segments")]
async fn run_segments(pool: web::Data<Pool>, id: RunId) -> Result<web::Json<SegmentList>> {
    let (run, segments) = service::segments(&pool, id).await?;
    let summary = run.summary.unwrap_or_default();
    Ok(web::Json(SegmentList {
        run_id: run.run_id,
        features: summary.features,
        population: summary.population.iter().map(FeatureStats::from).collect(),
        segments: {
            let ids: Vec<i32> = segments.iter().map(|s| s.stable_id).collect();
            segments
                .into_iter()
                .zip(crate::charts::segment_colours(&ids))
                .map(|(s, c)| profile(s, c))
                .collect()
        },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ElbowPoint {
    pub k: usize,
    #[serde(flatten)]
    pub metrics: RunMetrics,
}

/// The k-selection curves of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Elbow {
    pub run_id: Uuid,
    /// The k the run used.
    pub k: Option<i32>,
    pub k_rule: Option<String>,
    /// k at the knee of the inertia curve (Kneedle), if any.
    pub elbow_k: Option<usize>,
    pub best_silhouette_k: Option<usize>,
    /// k = 1, then k_min..=k_max: inertia, silhouette, Davies–Bouldin, Calinski–Harabasz.
    /// Empty when k was given.
    pub curve: Vec<ElbowPoint>,
}

/// A succeeded run's k-selection curves (the elbow plot).
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The curves", body = Elbow),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has not succeeded", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{id}/elbow")]
async fn run_elbow(pool: web::Data<Pool>, id: RunId) -> Result<web::Json<Elbow>> {
    let (run, _) = service::segments(&pool, id).await?;
    let selection = run.summary.and_then(|s| s.k_selection);
    Ok(web::Json(Elbow {
        run_id: run.run_id,
        k: run.k,
        k_rule: run.k_rule,
        elbow_k: selection.as_ref().and_then(|s| s.elbow_k),
        best_silhouette_k: selection.as_ref().and_then(|s| s.best_silhouette_k),
        curve: selection
            .map(|s| {
                s.curve
                    .iter()
                    .map(|p| ElbowPoint {
                        k: p.k,
                        metrics: RunMetrics::from(&p.metrics),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssignmentParams {
    /// Only this segment: a stable segment id, or `noise`.
    pub segment: Option<String>,
    /// Rows per page, 1 to 10000 (default 100; JSON only).
    pub limit: Option<u32>,
    /// Start after this customer id: the `next_after` of the previous page (JSON only).
    pub after: Option<String>,
    /// `json` or `csv`; overrides `Accept`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    pub customer_id: String,
    /// `null` for DBSCAN noise.
    pub segment_id: Option<i32>,
    pub label: Option<String>,
    /// Distance to the segment's centroid (model space) or membership probability: the
    /// page's `score` says which.
    pub score: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentPage {
    pub run_id: Uuid,
    /// `distance` or `probability`.
    pub score: String,
    /// By customer id (byte order).
    pub assignments: Vec<AssignmentView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

fn wants_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool> {
    match format {
        Some("csv") => return Ok(true),
        Some("json") => return Ok(false),
        Some(other) => {
            return Err(Error::invalid(
                "format",
                format!("must be `json` or `csv`, got `{other}`"),
            ));
        }
        None => {}
    }
    Ok(req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.contains("text/csv") && !accept.trim_start().starts_with("application/json")
        }))
}

/// A run's assignments: keyset-paged JSON, or (`Accept: text/csv` or `?format=csv`) the
/// whole result streamed as CSV with the columns `customer_id,segment_id,segment_label`
/// and `distance` or `probability`.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The run's id"), AssignmentParams),
    responses(
        (status = 200, description = "A page of assignments, or the whole CSV", content(
            (AssignmentPage = "application/json"),
            (String = "text/csv", example = "customer_id,segment_id,segment_label,distance\n0001,2,Low annual income · Low spending score,0.3921\n")
        )),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has not succeeded", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Retention dropped this run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `segment`, `limit` or `format`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{id}/assignments")]
async fn run_assignments(
    pool: web::Data<Pool>,
    id: RunId,
    req: HttpRequest,
    Query(params): Query<AssignmentParams>,
) -> Result<HttpResponse> {
    let segment = params
        .segment
        .as_deref()
        .map(|s| service::parse_segment("segment", s))
        .transpose()?;
    if wants_csv(&req, params.format.as_deref())? {
        let stream = service::assignments_csv(&pool, id, segment).await?;
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"assignments-{id}.csv\""),
            ))
            .streaming(stream));
    }
    let limit = page_limit(params.limit)?;
    let after = params.after.filter(|a| !a.is_empty());
    let (run, segments, rows) =
        service::assignments_page(&pool, id, segment, after.as_deref(), limit).await?;
    let label = |s: Option<i32>| {
        s.and_then(|s| segments.iter().find(|g| g.stable_id == s))
            .map(|g| g.label.clone())
    };
    let next_after = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.external_id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(AssignmentPage {
        run_id: run.run_id,
        score: service::score_kind(&run).to_string(),
        assignments: rows
            .into_iter()
            .map(|r| AssignmentView {
                label: label(r.segment),
                customer_id: r.external_id,
                segment_id: r.segment,
                score: r.score,
            })
            .collect(),
        next_after,
    }))
}

/// The customer's segment in one run.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerRunSegment {
    pub run_id: Uuid,
    pub finished_at: Option<DateTime<Utc>>,
    /// `null`: DBSCAN noise.
    pub segment_id: Option<i32>,
    pub label: Option<String>,
    pub persona: Option<String>,
    /// Distance to the centroid, or membership probability (see `score`).
    pub score: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerSegment {
    pub customer_id: String,
    pub segmentation_id: Uuid,
    pub active_run_id: Option<Uuid>,
    /// The segment in the active run; `null` when the active run did not segment this
    /// customer (added since, or missing a feature).
    pub current: Option<CustomerRunSegment>,
    /// `distance` or `probability`.
    pub score: String,
    /// Every run that kept its assignments, newest first.
    pub history: Vec<CustomerRunSegment>,
}

fn run_segment(h: stored::HistoryEntry) -> CustomerRunSegment {
    CustomerRunSegment {
        run_id: h.run_id,
        finished_at: h.finished_at,
        segment_id: h.segment,
        label: h.label,
        persona: h.persona,
        score: h.score,
    }
}

/// A customer's current segment (the hot path CRMs call per customer), with its history.
#[utoipa::path(
    tag = "runs",
    params(
        ("id" = String, Path, description = "The segmentation's id"),
        ("customer_id" = String, Path, description = "The customer's id (the CRM's)")
    ),
    responses(
        (status = 200, description = "The customer's segment", body = CustomerSegment),
        (status = 404, description = "No such segmentation or customer", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/segmentations/{id}/customers/{customer_id}")]
async fn customer_segment(
    cache: web::Data<LookupCache>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<CustomerSegment>> {
    let (id, customer_id) = path.into_inner();
    let id = SegmentationId::parse(&id)?;
    let found = cache.into_inner().customer(id, &customer_id).await?;
    let current = found
        .history
        .iter()
        .position(|h| h.active)
        .map(|i| run_segment(found.history[i].clone()));
    Ok(web::Json(CustomerSegment {
        segmentation_id: id.uuid(),
        customer_id,
        active_run_id: found.active_run_id,
        current,
        score: found.score.to_string(),
        history: found.history.into_iter().map(run_segment).collect(),
    }))
}

/// Customers to score (not stored, nothing written).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customers": [{"id": "prospect-1", "attributes": {"annual_income_k": 120, "spending_score": 85}}]}))]
pub struct ScoreRequest {
    /// 1 to 10,000 customers.
    pub customers: Vec<ScoreCustomer>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreCustomer {
    /// Echoed back; optional.
    pub id: Option<String>,
    /// Attribute values by name; the model's features must be numbers (attributes it does
    /// not use are ignored).
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoredCustomer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `null`: DBSCAN noise.
    pub segment: Option<SegmentRef>,
    /// Distance to the segment's centroid (model space) or membership probability.
    pub score: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreResponse {
    /// The active run whose model scored.
    pub run_id: Uuid,
    /// `distance` or `probability`.
    pub score: String,
    /// In request order.
    pub customers: Vec<ScoredCustomer>,
}

/// Assign customers with the active model, without storing them.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id")),
    request_body = ScoreRequest,
    responses(
        (status = 200, description = "Each customer's segment", body = ScoreResponse),
        (status = 404, description = "No such segmentation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The segmentation has no active run", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A feature is missing or not a number; `errors` names each", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/segmentations/{id}/score")]
async fn score_customers(
    pool: web::Data<Pool>,
    id: SegmentationId,
    Json(body): Json<ScoreRequest>,
) -> Result<web::Json<ScoreResponse>> {
    let inputs: Vec<ScoreInput> = body
        .customers
        .into_iter()
        .map(|c| ScoreInput {
            id: c.id,
            values: c
                .attributes
                .into_iter()
                .map(|(name, v)| {
                    let value = match &v {
                        Value::Null => ScoreValue::Missing,
                        Value::Number(n) => n.as_f64().map_or_else(
                            || ScoreValue::NotANumber(v.to_string()),
                            ScoreValue::Number,
                        ),
                        _ => ScoreValue::NotANumber(v.to_string()),
                    };
                    (name, value)
                })
                .collect(),
        })
        .collect();
    let (run, scored) = service::score(&pool, id, inputs).await?;
    Ok(web::Json(ScoreResponse {
        run_id: run.run_id,
        score: service::score_kind(&run).to_string(),
        customers: scored
            .into_iter()
            .map(|s| ScoredCustomer {
                id: s.id,
                segment: s.segment.as_ref().map(SegmentRef::from),
                score: s.score,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompareParams {
    /// Movers from this segment of `a` (stable id, or `noise`).
    pub from: Option<String>,
    /// Movers to this segment of `b` (stable id, or `noise`).
    pub to: Option<String>,
    /// Movers per page, 1 to 10000 (default 100).
    pub limit: Option<u32>,
    /// The `next_after` of the previous page of movers.
    pub after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Transition {
    /// Segment in `a` (`null`: noise).
    pub from: Option<i32>,
    /// Segment in `b` (`null`: noise).
    pub to: Option<i32>,
    pub customers: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Mover {
    pub customer_id: String,
    pub from: Option<i32>,
    pub to: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Comparison {
    pub a: Uuid,
    pub b: Uuid,
    /// Customers in both runs, by (segment in a, segment in b), stable ids.
    pub transitions: Vec<Transition>,
    /// Customers in both runs.
    pub customers_in_both: i64,
    /// Customers in both runs whose segment changed.
    pub moved: i64,
    pub only_in_a: i64,
    pub only_in_b: i64,
    /// Agreement of the two partitions on the customers in both (1: identical).
    pub adjusted_rand_index: Option<f64>,
    /// Customers who moved (filtered by `from`/`to`), by customer id.
    pub movers: Vec<Mover>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Compare two runs of a segmentation: transition matrix, Adjusted Rand Index, movers.
#[utoipa::path(
    tag = "runs",
    params(
        ("a" = String, Path, description = "The earlier run's id"),
        ("b" = String, Path, description = "The later run's id"),
        CompareParams
    ),
    responses(
        (status = 200, description = "The comparison", body = Comparison),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A run has not succeeded", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Retention dropped a run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Runs of different segmentations, or an invalid filter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{a}/compare/{b}")]
async fn compare_runs(
    pool: web::Data<Pool>,
    path: web::Path<(String, String)>,
    Query(params): Query<CompareParams>,
) -> Result<web::Json<Comparison>> {
    let (a, b) = path.into_inner();
    let limit = page_limit(params.limit)?;
    let from = params
        .from
        .as_deref()
        .map(|s| service::parse_segment("from", s))
        .transpose()?;
    let to = params
        .to
        .as_deref()
        .map(|s| service::parse_segment("to", s))
        .transpose()?;
    let after = params.after.filter(|a| !a.is_empty());
    let c = service::compare(
        &pool,
        RunId::parse(&a)?,
        RunId::parse(&b)?,
        MoverFilter {
            from,
            to,
            after: after.as_deref(),
            limit,
        },
    )
    .await?;
    let customers_in_both = c.transitions.iter().map(|t| t.customers).sum();
    let moved = c
        .transitions
        .iter()
        .filter(|t| t.from_segment != t.to_segment)
        .map(|t| t.customers)
        .sum();
    let next_after = (c.movers.len() as i64 == limit)
        .then(|| c.movers.last().map(|m| m.external_id.clone()))
        .flatten();
    Ok(web::Json(Comparison {
        a: c.a.run_id,
        b: c.b.run_id,
        transitions: c
            .transitions
            .into_iter()
            .map(|t| Transition {
                from: t.from_segment,
                to: t.to_segment,
                customers: t.customers,
            })
            .collect(),
        customers_in_both,
        moved,
        only_in_a: c.only_in_a,
        only_in_b: c.only_in_b,
        adjusted_rand_index: c.adjusted_rand_index,
        movers: c
            .movers
            .into_iter()
            .map(|m| Mover {
                customer_id: m.external_id,
                from: m.from_segment,
                to: m.to_segment,
            })
            .collect(),
        next_after,
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(trigger_run)
        .service(list_runs)
        .service(get_run)
        .service(cancel_run)
        .service(activate_run)
        .service(run_segments)
        .service(run_elbow)
        .service(run_assignments)
        .service(customer_segment)
        .service(score_customers)
        .service(compare_runs);
}
