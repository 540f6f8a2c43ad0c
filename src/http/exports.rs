//! `GET /v1/customers.csv`: every customer as one flat row for BI tools and spreadsheets,
//! streamed.

use crate::error::Result;
use crate::http::extract::{Query, ReadPool};
use crate::http::problem::DatabaseErrors;
use crate::service::csv::CsvRows;
use crate::service::export as service;
use actix_web::http::header;
use actix_web::{HttpResponse, get};
use futures_util::StreamExt;

/// `customers.csv` takes no parameters: one it does not know is a 422, not ignored.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// Every customer as one CSV row: its attributes and its segment in each segmentation.
///
/// Streamed in customer id order (byte order), with flat memory whatever the number of
/// customers. Columns, in order:
/// - `customer_id`: text, verbatim (`0042` stays `0042`: read it as text);
/// - one column per attribute of the catalogue (`GET /v1/attributes`), in the order they were
///   first stored: a numeric attribute as a decimal number, a categorical one as text, empty
///   when the customer has none; RFM attributes (`rfm_*`) are among them once computed;
/// - for each segmentation with an active run, by name: `<name> segment_id` (integer, the
///   stable id; empty when the customer was not segmented or was noise) and
///   `<name> segment_label` (text).
///
/// Text that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return) starts with `'`. For one segmentation alone, see
/// `GET /v1/segmentations/{id}/active/assignments.csv`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "customers",
    responses(
        (status = 200, description = "The CSV file", content(
            (String = "text/csv", example = "customer_id,annual_income_k,spending_score,gender,Mall segment_id,Mall segment_label\n0001,15,39,Male,2,Low annual income · Low spending score\n")
        )),
        DatabaseErrors,
    )
)]
#[get("/customers.csv")]
#[tracing::instrument(skip_all)]
async fn customers_csv(pool: ReadPool, _: Query<NoParams>) -> Result<HttpResponse> {
    let file = service::customers_csv(&pool).await?;
    let mut header = CsvRows::new();
    for column in &file.columns {
        header.text(&column.name);
    }
    header.end();
    let header = bytes::Bytes::from(header.into_bytes());
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"customers.csv\"",
        ))
        .streaming(futures_util::stream::once(async move { Ok(header) }).chain(file.rows)))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(customers_csv);
}
