//! A succeeded run's profiles: its segments (centroids, lifts, spreads, categorical shares)
//! and the k-selection curves (elbow).

use super::view::RunMetrics;
use crate::domain::RunId;
use crate::domain::run::Segment;
use crate::domain::run::documents::SegmentValue;
use crate::error::Result;
use crate::http::problem::RunResultErrors;
use crate::segmentation::{categorical, profile};
use crate::service::runs::{self as service};
use crate::store::Pool;
use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;
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
    /// The members' predicted value (`clv_*`) as it stood when the run was written: mean
    /// `clv_p_alive`, mean and total `clv_value`, share of the total. Absent before the first
    /// predicted-value refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_value: Option<SegmentValue>,
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
        predicted_value: s.profile.predicted_value,
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
