//! Charts of a run as SVG (or PNG when asked): the scatter of customers by segment, the
//! elbow plot, segment sizes with the lift heat map, and the transitions between two runs;
//! the same for a segmentation's active run (`active`).

mod active;

use crate::charts::{self, Chart, Format};
use crate::domain::RunId;
use crate::error::{Error, Result};
use crate::http::extract::Query;
use crate::http::extract::ReadPool;
use crate::http::problem::{Problem, RunErrors, RunResultErrors};
use crate::service::charts::{self as service, MAX_POINTS};
use crate::store::Pool;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A PNG image.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PngImage(#[allow(dead_code)] Vec<u8>);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChartParams {
    /// Overrides `Accept`.
    #[param(inline)]
    pub format: Option<ImageFormat>,
}

/// A chart's image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Svg,
    Png,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScatterParams {
    /// Feature on the horizontal axis (one of the run's). Without `x` and `y`, a run over two
    /// features draws them, one over more draws its first two principal components.
    pub x: Option<String>,
    /// Feature on the vertical axis (one of the run's).
    pub y: Option<String>,
    /// Points to draw, 1 to 20000 (default: all the run kept, at most 20000); fewer draws a
    /// smaller seeded sample.
    #[param(minimum = 1, maximum = 20000)]
    pub points: Option<u32>,
    /// Overrides `Accept`.
    #[param(inline)]
    pub format: Option<ImageFormat>,
}

/// The quality a media range of `Accept` gives `media` (0 when none matches).
fn quality(accept: &str, media: &str) -> f32 {
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let specificity = if name == media {
            2
        } else if name == format!("{kind}/*") {
            1
        } else if name == "*/*" {
            0
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// SVG unless `?format=png`, or `Accept` prefers `image/png` (named) over SVG.
pub(crate) fn chart_format(req: &HttpRequest, format: Option<ImageFormat>) -> Result<Format> {
    match format {
        Some(ImageFormat::Svg) => return Ok(Format::Svg),
        Some(ImageFormat::Png) => return Ok(Format::Png),
        None => {}
    }
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Format::Svg);
    };
    let svg = quality(accept, "image/svg+xml");
    let png_named = accept.to_ascii_lowercase().contains("image/png");
    let png = quality(accept, "image/png");
    if png_named && png > svg {
        Ok(Format::Png)
    } else if svg > 0.0 {
        Ok(Format::Svg)
    } else if png > 0.0 {
        Ok(Format::Png)
    } else {
        Err(Error::NotAcceptable(format!(
            "charts are `image/svg+xml` or `image/png`; `Accept: {accept}` takes neither"
        )))
    }
}

/// The draw budget of `points` or `limit`: 1 to 20,000.
fn budget(field: &str, value: Option<u32>) -> Result<Option<usize>> {
    match value {
        None => Ok(None),
        Some(p) if (1..=MAX_POINTS as u32).contains(&p) => Ok(Some(p as usize)),
        Some(p) => Err(Error::invalid(
            field,
            format!("must be between 1 and {MAX_POINTS}, got {p}"),
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SampleParams {
    /// Customers to return, 1 to 20000 (default: all the run kept, at most 20000).
    #[param(minimum = 1, maximum = 20000)]
    pub limit: Option<u32>,
}

/// One sampled customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SamplePoint {
    /// `null` for DBSCAN noise.
    pub segment_id: Option<i32>,
    /// The customer's values, in the order of `features` (original units).
    pub values: Vec<f64>,
    /// PC1 and PC2, for runs over more than two features.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pc: Option<[f64; 2]>,
}

/// A seeded random sample of a run's customers with their segment and values: what the
/// scatter chart draws, for front ends that draw their own.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSample {
    pub run_id: uuid::Uuid,
    pub features: Vec<String>,
    /// Customers the run segmented, the sample's population.
    pub customers: i64,
    /// Share of the variance PC1 and PC2 explain (runs over more than two features).
    pub explained_variance_ratio: Option<[f64; 2]>,
    /// In a seeded random order: any prefix is itself a random sample.
    pub points: Vec<SamplePoint>,
}

/// The run's chart sample as JSON: at most 20,000 customers drawn at training time (seeded,
/// so the same run always answers the same), each with its segment and values.
///
/// For front ends that draw their own charts; any prefix of the sample is itself a random
/// sample.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(("id" = String, Path, description = "The run's id"), SampleParams),
    responses(
        (status = 200, description = "The sample", body = RunSample),
        (status = 422, description = "Invalid `limit`", body = Problem, content_type = "application/problem+json"),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/sample")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn run_sample(
    pool: ReadPool,
    id: RunId,
    Query(params): Query<SampleParams>,
) -> Result<web::Json<RunSample>> {
    sample(&pool, id, params).await.map(web::Json)
}

/// A run's chart sample (`…/sample`, and the active run's).
async fn sample(pool: &Pool, id: RunId, params: SampleParams) -> Result<RunSample> {
    let limit = budget("limit", params.limit)?.unwrap_or(MAX_POINTS);
    let sample = service::sample(pool, id, limit).await?;
    Ok(RunSample {
        run_id: sample.run_id,
        features: sample.features,
        customers: sample.customers,
        explained_variance_ratio: sample.explained,
        points: sample
            .points
            .into_iter()
            .map(|p| SamplePoint {
                segment_id: p.segment,
                values: p.values,
                pc: p.pc,
            })
            .collect(),
    })
}

/// Renders off the async runtime.
pub(crate) async fn image(
    chart: impl Chart + Send + 'static,
    format: Format,
) -> Result<HttpResponse> {
    let bytes = web::block(move || charts::render(&chart, format))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("chart task: {e}")))?
        .map_err(|e| Error::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::VARY, "Accept"))
        .body(bytes))
}

/// Customers coloured by segment, the segment centres marked: two of the run's features,
/// or its first two principal components. Above 20,000 customers a seeded sample is drawn,
/// and the chart says so.
///
/// SVG, or PNG with `Accept: image/png` or `?format=png`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(("id" = String, Path, description = "The run's id"), ScatterParams),
    responses(
        (status = 200, description = "The chart", content(
            (String = "image/svg+xml"),
            (PngImage = "image/png")
        )),
        (status = 406, description = "`Accept` takes neither SVG nor PNG", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has not succeeded, or clustered a single feature", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `x`, `y`, `points` or `format`", body = Problem, content_type = "application/problem+json"),
        RunErrors,
    )
)]
#[get("/runs/{id}/charts/scatter.svg")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn scatter_chart(
    pool: ReadPool,
    id: RunId,
    req: HttpRequest,
    Query(params): Query<ScatterParams>,
) -> Result<HttpResponse> {
    scatter(&pool, id, &req, params).await
}

/// A run's scatter chart (`…/charts/scatter.svg`, and the active run's).
async fn scatter(
    pool: &Pool,
    id: RunId,
    req: &HttpRequest,
    params: ScatterParams,
) -> Result<HttpResponse> {
    let format = chart_format(req, params.format)?;
    let points = budget("points", params.points)?;
    let chart =
        service::scatter(pool, id, params.x.as_deref(), params.y.as_deref(), points).await?;
    image(chart, format).await
}

/// The elbow plot: inertia per k with the chosen k marked, silhouette on a second axis.
///
/// Only for runs that chose k (`k: auto`). SVG, or PNG with `Accept: image/png` or
/// `?format=png`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(("id" = String, Path, description = "The run's id"), ChartParams),
    responses(
        (status = 200, description = "The chart", content(
            (String = "image/svg+xml"),
            (PngImage = "image/png")
        )),
        (status = 406, description = "`Accept` takes neither SVG nor PNG", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has not succeeded, or was given k (no curve)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `format`", body = Problem, content_type = "application/problem+json"),
        RunErrors,
    )
)]
#[get("/runs/{id}/charts/elbow.svg")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn elbow_chart(
    pool: ReadPool,
    id: RunId,
    req: HttpRequest,
    Query(params): Query<ChartParams>,
) -> Result<HttpResponse> {
    elbow(&pool, id, &req, params).await
}

/// A run's elbow plot (`…/charts/elbow.svg`, and the active run's).
async fn elbow(
    pool: &Pool,
    id: RunId,
    req: &HttpRequest,
    params: ChartParams,
) -> Result<HttpResponse> {
    let format = chart_format(req, params.format)?;
    image(service::elbow(pool, id).await?, format).await
}

/// Segment sizes (bars) and the profile heat map: each segment's lift per feature, in
/// standard deviations.
///
/// SVG, or PNG with `Accept: image/png` or `?format=png`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(("id" = String, Path, description = "The run's id"), ChartParams),
    responses(
        (status = 200, description = "The chart", content(
            (String = "image/svg+xml"),
            (PngImage = "image/png")
        )),
        (status = 406, description = "`Accept` takes neither SVG nor PNG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `format`", body = Problem, content_type = "application/problem+json"),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/charts/segments.svg")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn segments_chart(
    pool: ReadPool,
    id: RunId,
    req: HttpRequest,
    Query(params): Query<ChartParams>,
) -> Result<HttpResponse> {
    segments(&pool, id, &req, params).await
}

/// A run's sizes and lift chart (`…/charts/segments.svg`, and the active run's).
async fn segments(
    pool: &Pool,
    id: RunId,
    req: &HttpRequest,
    params: ChartParams,
) -> Result<HttpResponse> {
    let format = chart_format(req, params.format)?;
    image(service::segments(pool, id).await?, format).await
}

/// How customers moved between two runs of one segmentation: the transition matrix as a
/// heat map (rows: the first run's segments, columns: the second's).
///
/// SVG, or PNG with `Accept: image/png` or `?format=png`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(
        ("a" = String, Path, description = "The earlier run"),
        ("b" = String, Path, description = "The later run"),
        ChartParams
    ),
    responses(
        (status = 200, description = "The chart", content(
            (String = "image/svg+xml"),
            (PngImage = "image/png")
        )),
        (status = 406, description = "`Accept` takes neither SVG nor PNG", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A run has not succeeded", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Retention dropped a run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Runs of different segmentations, or invalid `format`", body = Problem, content_type = "application/problem+json"),
        RunErrors,
    )
)]
#[get("/runs/{a}/compare/{b}/chart.svg")]
async fn compare_chart(
    pool: ReadPool,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    Query(params): Query<ChartParams>,
) -> Result<HttpResponse> {
    let format = chart_format(&req, params.format)?;
    let (a, b) = path.into_inner();
    image(
        service::transitions(&pool, RunId::parse(&a)?, RunId::parse(&b)?).await?,
        format,
    )
    .await
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(scatter_chart)
        .service(run_sample)
        .service(elbow_chart)
        .service(segments_chart)
        .service(compare_chart)
        .service(active::active_scatter_chart)
        .service(active::active_sample)
        .service(active::active_elbow_chart)
        .service(active::active_segments_chart);
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn negotiated(accept: Option<&str>) -> Result<Format> {
        let mut req = TestRequest::default();
        if let Some(a) = accept {
            req = req.insert_header((header::ACCEPT, a));
        }
        chart_format(&req.to_http_request(), None)
    }

    #[test]
    fn svg_unless_png_is_asked_for_by_name() {
        assert_eq!(negotiated(None).unwrap(), Format::Svg);
        assert_eq!(negotiated(Some("*/*")).unwrap(), Format::Svg);
        assert_eq!(negotiated(Some("image/png")).unwrap(), Format::Png);
        assert_eq!(
            negotiated(Some("image/png, image/svg+xml;q=0.5")).unwrap(),
            Format::Png
        );
        assert_eq!(
            negotiated(Some("image/svg+xml, image/png;q=0.8")).unwrap(),
            Format::Svg
        );
        // What browsers send for <img>: SVG.
        assert_eq!(
            negotiated(Some(
                "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
            ))
            .unwrap(),
            Format::Svg
        );
        assert!(matches!(
            negotiated(Some("application/json")),
            Err(Error::NotAcceptable(_))
        ));
    }
}
