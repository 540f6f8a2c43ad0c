//! A run's segments as flat tables for BI tools and spreadsheets: `segments.csv`, one row per
//! segment, and `segment_features.csv`, one row per segment and feature (the long form
//! Tableau pivots and filters best). For a run by id and for a segmentation's active run.

use super::active::from_run;
use super::results::{SegmentList, segment_list};
use crate::domain::{RunId, SegmentationId};
use crate::error::Result;
use crate::http::problem::{ActiveRunErrors, RunResultErrors};
use crate::service::csv::CsvRows;
use crate::service::runs as service;
use crate::store::Pool;
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

const SEGMENTS_EXAMPLE: &str = "segment_id,label,persona,size,share,colour,computed_label,\
centroid_annual_income_k,centroid_spending_score,lift_annual_income_k,lift_spending_score\n\
3,High annual income · High spending score,VIP,39,0.195,#332288,High annual income · High spending score,86.54,82.13,1.05,1.24\n";

const FEATURES_EXAMPLE: &str = "segment_id,label,persona,feature,level,value,population,lift,\
std,min,q1,median,q3,max\n\
3,High annual income · High spending score,VIP,annual_income_k,,86.54,60.56,1.05,16.31,69,78,79,95,137\n";

/// One row per segment: `segment_id,label,persona,size,share,colour,computed_label`, then
/// (weighted segmentations) `weight,weight_share`, then `centroid_<feature>` for each feature
/// and `lift_<feature>` for each feature, in the run's feature order.
fn wide(list: &SegmentList) -> Vec<u8> {
    let mut rows = CsvRows::new();
    for name in ["segment_id", "label", "persona", "size", "share", "colour"] {
        rows.text(name);
    }
    rows.text("computed_label");
    let weighted = list.weight.is_some();
    if weighted {
        rows.text("weight").text("weight_share");
    }
    for f in &list.features {
        rows.text(&format!("centroid_{f}"));
    }
    for f in &list.features {
        rows.text(&format!("lift_{f}"));
    }
    rows.end();
    for s in &list.segments {
        rows.integer(Some(s.segment.segment_id.into()))
            .text(&s.segment.label)
            .optional_text(s.segment.persona.as_deref())
            .integer(Some(s.size))
            .number(Some(s.share))
            .text(&s.colour)
            .text(&s.computed_label);
        if weighted {
            let w = s.weighted.as_ref();
            rows.number(w.map(|w| w.weight)).number(w.map(|w| w.share));
        }
        for c in &s.centroid {
            rows.number(Some(*c));
        }
        for l in &s.lift {
            rows.number(Some(*l));
        }
        rows.end();
    }
    rows.into_bytes()
}

/// One row per segment and numeric feature (`value` the members' mean, `population`
/// everyone's, `lift` in standard deviations, then the members' spread), and per segment,
/// categorical feature and level (`value` the level's share of the members, `population` its
/// share of everyone, `lift` their ratio; the spread empty).
fn long(list: &SegmentList) -> Vec<u8> {
    let mut rows = CsvRows::new();
    for name in [
        "segment_id",
        "label",
        "persona",
        "feature",
        "level",
        "value",
        "population",
        "lift",
        "std",
        "min",
        "q1",
        "median",
        "q3",
        "max",
    ] {
        rows.text(name);
    }
    rows.end();
    for s in &list.segments {
        let start = |rows: &mut CsvRows| {
            rows.integer(Some(s.segment.segment_id.into()))
                .text(&s.segment.label)
                .optional_text(s.segment.persona.as_deref());
        };
        for (i, feature) in list.features.iter().enumerate() {
            start(&mut rows);
            let stats = s.stats.get(i);
            rows.text(feature)
                .text("")
                .number(s.centroid.get(i).copied())
                .number(list.population.get(i).map(|p| p.mean))
                .number(s.lift.get(i).copied())
                .number(stats.map(|x| x.std))
                .number(stats.map(|x| x.min))
                .number(stats.map(|x| x.q1))
                .number(stats.map(|x| x.median))
                .number(stats.map(|x| x.q3))
                .number(stats.map(|x| x.max))
                .end();
        }
        for shares in &s.categories {
            let everyone = list
                .population_categories
                .iter()
                .find(|p| p.feature == shares.feature);
            for level in &shares.levels {
                let population = everyone
                    .and_then(|e| e.levels.iter().find(|l| l.level == level.level))
                    .map(|l| l.share);
                start(&mut rows);
                rows.text(&shares.feature)
                    .text(&level.level)
                    .number(Some(level.share))
                    .number(population)
                    .number(Some(level.lift));
                for _ in 0..6 {
                    rows.number(None);
                }
                rows.end();
            }
        }
    }
    rows.into_bytes()
}

fn csv_file(bytes: Vec<u8>, filename: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(bytes)
}

/// A succeeded run's segments as CSV, one row per segment.
///
/// Columns: `segment_id` (the stable id), `label`, `persona` (empty when unset), `size`
/// (customers), `share` (of the customers segmented, 0–1), `colour` (`#rrggbb`, the charts'),
/// `computed_label`; in a weighted segmentation `weight` and `weight_share`; then
/// `centroid_<feature>` (the members' mean, original units) for each feature and
/// `lift_<feature>` (standard deviations from everyone's mean) for each feature, in the run's
/// feature order. Integers: `segment_id`, `size`; text: `label`, `persona`, `colour`,
/// `computed_label`; every other column a decimal number. Text that a spreadsheet would read
/// as a formula starts with `'`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The CSV file", content(
            (String = "text/csv", example = json!(SEGMENTS_EXAMPLE))
        )),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/segments.csv")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn segments_csv(pool: web::Data<Pool>, id: RunId) -> Result<HttpResponse> {
    let list = segment_list(&pool, id).await?;
    Ok(csv_file(wide(&list), &format!("segments-{id}.csv")))
}

/// A succeeded run's segment profiles in long form: one row per segment and feature.
///
/// Columns: `segment_id`, `label`, `persona`, `feature`, `level`, `value`, `population`,
/// `lift`, `std`, `min`, `q1`, `median`, `q3`, `max`. For a numeric feature (`level` empty),
/// `value` is the members' mean and `population` everyone's (original units), `lift` the
/// difference in standard deviations, and the rest the members' spread. For each level of a
/// categorical feature, `value` is its share of the members, `population` its share of
/// everyone and `lift` their ratio; the spread is empty. `segment_id` is an integer, `label`,
/// `persona`, `feature` and `level` text, the rest decimal numbers.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The CSV file", content(
            (String = "text/csv", example = json!(FEATURES_EXAMPLE))
        )),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/segment_features.csv")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn segment_features_csv(pool: web::Data<Pool>, id: RunId) -> Result<HttpResponse> {
    let list = segment_list(&pool, id).await?;
    Ok(csv_file(long(&list), &format!("segment-features-{id}.csv")))
}

/// The active run's segments as CSV, one row per segment.
///
/// The same file as `GET /v1/runs/{id}/segments.csv` for the segmentation's active run,
/// which `Content-Location` names: a BI data source names the segmentation and always gets
/// what is active.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id")),
    responses(
        (status = 200, description = "The CSV file", content(
            (String = "text/csv", example = json!(SEGMENTS_EXAMPLE))
        ), headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/segments.csv`"))),
        ActiveRunErrors,
    )
)]
#[get("/segmentations/{id}/active/segments.csv")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn active_segments_csv(
    pool: web::Data<Pool>,
    id: SegmentationId,
) -> Result<HttpResponse> {
    let run = service::active(&pool, id).await?;
    let list = segment_list(&pool, run).await?;
    let file = csv_file(wide(&list), &format!("segments-{run}.csv"));
    Ok(from_run(file, run, "segments.csv"))
}

/// The active run's segment profiles in long form.
///
/// The same file as `GET /v1/runs/{id}/segment_features.csv` for the segmentation's active
/// run, which `Content-Location` names.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id")),
    responses(
        (status = 200, description = "The CSV file", content(
            (String = "text/csv", example = json!(FEATURES_EXAMPLE))
        ), headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/segment_features.csv`"))),
        ActiveRunErrors,
    )
)]
#[get("/segmentations/{id}/active/segment_features.csv")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn active_segment_features_csv(
    pool: web::Data<Pool>,
    id: SegmentationId,
) -> Result<HttpResponse> {
    let run = service::active(&pool, id).await?;
    let list = segment_list(&pool, run).await?;
    let file = csv_file(long(&list), &format!("segment-features-{run}.csv"));
    Ok(from_run(file, run, "segment_features.csv"))
}
