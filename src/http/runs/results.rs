//! A succeeded run's results: segment profiles, the k-selection curves (elbow) and the
//! assignments (paged JSON or streamed CSV).

use super::lifecycle::RunMetrics;
use super::page_limit;
use crate::domain::RunId;
use crate::domain::run::ScoreKind;
use crate::domain::run::Segment;
use crate::error::Result;
use crate::http::extract::Query;
use crate::http::extract::ReadPool;
use crate::http::page::{ExportFormat, wants_csv};
use crate::http::problem::{Problem, RunResultErrors};
use crate::segmentation::{categorical, profile};
use crate::service::runs::{self as service};
use crate::store::Pool;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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

/// Weighted figures of a segment (or of everyone) in a weighted segmentation.
#[derive(Debug, Serialize, ToSchema)]
pub struct WeightedFigures {
    /// Sum of the customers' weights.
    #[schema(example = 182500.0)]
    pub weight: f64,
    /// weight / the weight of every customer segmented.
    #[schema(example = 0.41)]
    pub share: f64,
    /// Weighted mean per feature, `Σ w·x / Σ w` (original units; `null` where the weight is 0).
    pub mean: Vec<Option<f64>>,
}

impl From<profile::Weighted> for WeightedFigures {
    fn from(w: profile::Weighted) -> Self {
        Self {
            weight: w.weight,
            share: w.share,
            mean: w.mean,
        }
    }
}

/// A categorical feature's levels in a group (a segment, or everyone).
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryShares {
    #[schema(example = "gender")]
    pub feature: String,
    /// Every level training saw, sorted.
    pub levels: Vec<LevelShare>,
}

/// One level of a categorical feature in a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct LevelShare {
    #[schema(example = "Female")]
    pub level: String,
    /// Its share of the group's customers.
    #[schema(example = 0.82)]
    pub share: f64,
    /// That share over its share of every customer segmented (1 for everyone; above 1:
    /// over-represented).
    #[schema(example = 1.46)]
    pub lift: f64,
}

impl From<categorical::CategoryShares> for CategoryShares {
    fn from(c: categorical::CategoryShares) -> Self {
        Self {
            feature: c.feature,
            levels: c
                .levels
                .into_iter()
                .map(|l| LevelShare {
                    level: l.level,
                    share: l.share,
                    lift: l.lift,
                })
                .collect(),
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
    /// In a weighted segmentation: the members' weight, its share of all the weight and the
    /// weighted means (`size`, `share` and `centroid` count customers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted: Option<WeightedFigures>,
    /// Per categorical feature of the segmentation: each level's share of the members and its
    /// lift.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<CategoryShares>,
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
    /// The attribute weighing each customer, when the segmentation has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "monetary")]
    pub weight: Option<String>,
    /// In a weighted segmentation: everyone's weight and the weighted means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub population_weighted: Option<WeightedFigures>,
    /// Per categorical feature of the segmentation: each level's share of everyone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub population_categories: Vec<CategoryShares>,
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
        weighted: s.profile.weighted.map(WeightedFigures::from),
        categories: s
            .profile
            .categories
            .into_iter()
            .map(CategoryShares::from)
            .collect(),
        lift: s.profile.lift,
        top_features: s.profile.top_features,
        computed_label: s.profile.computed_label,
        colour: format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2),
        matched_run_id: s.matched_run_id,
        matched_distance: s.matched_distance,
    }
}

/// A succeeded run's segment profiles: size, share, centroid, statistics, lift, label.
///
/// Segments are listed by position; `segment_id` is the stable id that survives retrains,
/// `label` the human label (computed, or set by a person).
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The profiles, in the run's segment order", body = SegmentList),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/segments")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn run_segments(
    pool: web::Data<Pool>,
    id: RunId,
) -> Result<web::Json<SegmentList>> {
    segment_list(&pool, id).await.map(web::Json)
}

/// A run's profiles (`GET /v1/runs/{id}/segments`, and the active run's).
pub(super) async fn segment_list(pool: &Pool, id: RunId) -> Result<SegmentList> {
    let (run, segments) = service::segments(pool, id).await?;
    let summary = run.summary.unwrap_or_default();
    Ok(SegmentList {
        run_id: run.run_id,
        features: summary.features,
        population: summary.population.iter().map(FeatureStats::from).collect(),
        weight: summary
            .weighted
            .is_some()
            .then(|| run.config.weight.clone())
            .flatten(),
        population_weighted: summary.weighted.map(WeightedFigures::from),
        population_categories: summary
            .categories
            .into_iter()
            .map(CategoryShares::from)
            .collect(),
        segments: {
            let ids: Vec<i32> = segments.iter().map(|s| s.stable_id).collect();
            segments
                .into_iter()
                .zip(crate::charts::segment_colours(&ids))
                .map(|(s, c)| profile(s, c))
                .collect()
        },
    })
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
    /// Rows the sweep fitted: every customer clustered, or (`sweep_sampled`) a seeded uniform
    /// sample of 50,000 of them when there are more; the chosen k was then fitted on all.
    /// `null` when k was given (or for runs stored before sweeps were sampled).
    #[schema(example = 50000)]
    pub sweep_rows: Option<usize>,
    pub sweep_sampled: bool,
}

/// A succeeded run's k-selection curves (the elbow plot).
///
/// Inertia, silhouette, Davies–Bouldin and Calinski–Harabasz for each k swept, with the elbow
/// and the best silhouette named.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The curves", body = Elbow),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/elbow")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn run_elbow(pool: web::Data<Pool>, id: RunId) -> Result<web::Json<Elbow>> {
    let (run, _) = service::segments(&pool, id).await?;
    let selection = run.summary.and_then(|s| s.k_selection);
    Ok(web::Json(Elbow {
        run_id: run.run_id,
        k: run.k,
        k_rule: run.k_rule,
        elbow_k: selection.as_ref().and_then(|s| s.elbow_k),
        best_silhouette_k: selection.as_ref().and_then(|s| s.best_silhouette_k),
        sweep_rows: selection.as_ref().and_then(|s| s.rows),
        sweep_sampled: selection.as_ref().is_some_and(|s| s.sampled),
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
    #[param(pattern = r"^(noise|[+-]?[0-9]{1,9})$")]
    pub segment: Option<String>,
    /// Rows per page, 1 to 10000 (default 100; JSON only).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// Start after this customer id: the `next_after` of the previous page (JSON only).
    pub after: Option<String>,
    /// Overrides `Accept`: `csv` answers 303 to the CSV operation.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssignmentExportParams {
    /// Only this segment: a stable segment id, or `noise`.
    #[param(pattern = r"^(noise|[+-]?[0-9]{1,9})$")]
    pub segment: Option<String>,
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
    /// What each score is: `distance` or `probability`.
    pub score: ScoreKind,
    /// By customer id (byte order).
    pub assignments: Vec<AssignmentView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

async fn assignments_csv(
    pool: &Pool,
    id: RunId,
    segment: Option<Option<i32>>,
) -> Result<HttpResponse> {
    let stream = service::assignments_csv(pool, id, segment).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"assignments-{id}.csv\""),
        ))
        .streaming(stream))
}

/// A run's assignments as one CSV file.
///
/// The whole result streamed, in customer id order, with the columns
/// `customer_id,segment_id,segment_label` and `distance` or `probability` (where
/// `GET /v1/runs/{id}/assignments?format=csv` leads).
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id"), AssignmentExportParams),
    responses(
        (status = 200, description = "The CSV file", content(
            (String = "text/csv", example = "customer_id,segment_id,segment_label,distance\n0001,2,Low annual income · Low spending score,0.3921\n")
        )),
        (status = 410, description = "Retention dropped this run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `segment`", body = Problem, content_type = "application/problem+json"),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/assignments.csv")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn export_assignments(
    pool: ReadPool,
    id: RunId,
    Query(params): Query<AssignmentExportParams>,
) -> Result<HttpResponse> {
    assignments_export(&pool, id, params).await
}

/// A run's assignments as one CSV file (`…/assignments.csv`, and the active run's).
pub(super) async fn assignments_export(
    pool: &Pool,
    id: RunId,
    params: AssignmentExportParams,
) -> Result<HttpResponse> {
    let segment = params
        .segment
        .as_deref()
        .map(|s| service::parse_segment("segment", s))
        .transpose()?;
    assignments_csv(pool, id, segment).await
}

/// A run's assignments: keyset-paged JSON.
///
/// Asked for CSV (`Accept: text/csv` or `?format=csv`), it answers `303 See Other` to
/// `GET /v1/runs/{id}/assignments.csv` (with `segment`), the whole result streamed as CSV.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id"), AssignmentParams),
    responses(
        (status = 200, description = "A page of assignments", body = AssignmentPage),
        (status = 303, description = "CSV was asked for: it is at `Location`", headers(
            ("Location" = String, description = "`/v1/runs/{id}/assignments.csv`, with `segment` when given")
        )),
        (status = 410, description = "Retention dropped this run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `segment`, `limit` or `format`", body = Problem, content_type = "application/problem+json"),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/assignments")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn run_assignments(
    pool: ReadPool,
    id: RunId,
    req: HttpRequest,
    Query(params): Query<AssignmentParams>,
) -> Result<HttpResponse> {
    assignments(
        &pool,
        id,
        &req,
        params,
        &format!("/v1/runs/{id}/assignments.csv"),
    )
    .await
}

/// A page of a run's assignments (`…/assignments`, and the active run's), or the 303 to
/// `csv` (the CSV operation's path) when CSV was asked for.
pub(super) async fn assignments(
    pool: &Pool,
    id: RunId,
    req: &HttpRequest,
    params: AssignmentParams,
    csv: &str,
) -> Result<HttpResponse> {
    let segment = params
        .segment
        .as_deref()
        .map(|s| service::parse_segment("segment", s))
        .transpose()?;
    // Checked whatever the format (the CSV has every row: `limit` is a JSON page's size).
    let limit = page_limit(params.limit)?;
    if wants_csv(req, params.format) {
        let query = crate::http::page::query(&[("segment", params.segment)]);
        return Ok(crate::http::page::see_csv(format!("{csv}{query}")));
    }
    let after = params.after.filter(|a| !a.is_empty());
    let (run, segments, rows) =
        service::assignments_page(pool, id, segment, after.as_deref(), limit).await?;
    let label = |s: Option<i32>| {
        s.and_then(|s| segments.iter().find(|g| g.stable_id == s))
            .map(|g| g.label.clone())
    };
    let next_after = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.external_id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(AssignmentPage {
        run_id: run.run_id,
        score: service::score_kind(&run),
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
