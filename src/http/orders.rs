//! `/v1/orders`: order lines in, as JSON batches or streamed CSV files.

use crate::domain::order::DateOrder;
use crate::domain::order::OrderMerge;
use crate::error::{Error, Result};
use crate::http::extract::{Json, Query, require_content_type};
use crate::http::problem::{CsvImportErrors, DatabaseErrors, Problem};
use crate::service::orders::{self as service, OrderImportOptions, OrderInput, Role};
use crate::store::Pool;
use actix_web::{HttpRequest, post, web};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderImportParams {
    /// Header of the order id column (default: `InvoiceNo`, `order_id`, `invoice`, …).
    pub order_column: Option<String>,
    /// Header of the customer id column (default: `CustomerID`, `customer_id`, …).
    pub customer_column: Option<String>,
    /// Header of the timestamp column (default: `InvoiceDate`, `order_date`, `date`, …).
    pub date_column: Option<String>,
    pub quantity_column: Option<String>,
    /// Header of the unit price column (default: `UnitPrice`, `price`).
    pub unit_price_column: Option<String>,
    /// Header of a line amount column, for exports without unit prices.
    pub amount_column: Option<String>,
    /// Header of an explicit line id column (default: a line's position within its order).
    pub line_column: Option<String>,
    pub product_column: Option<String>,
    pub description_column: Option<String>,
    pub currency_column: Option<String>,
    pub country_column: Option<String>,
    /// How slashed dates read: `mdy` (default, `12/1/2010` is 1 December) or `dmy`.
    #[param(inline)]
    pub date_format: Option<DateOrder>,
    /// The file's text encoding (default `utf-8`).
    #[param(inline)]
    pub encoding: Option<Encoding>,
}

/// A CSV file's text encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    /// Latin-1, as spreadsheet exports of Online Retail come.
    #[serde(rename = "iso-8859-1")]
    Latin1,
}

/// What was stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderWrite {
    /// Lines new to the store.
    pub inserted: u64,
    /// Lines stored before whose values changed.
    pub updated: u64,
    /// Lines stored before with the same values (a re-import).
    pub unchanged: u64,
    /// Customers the orders named that did not exist (created with their id only).
    pub customers_created: u64,
}

impl From<OrderMerge> for OrderWrite {
    fn from(m: OrderMerge) -> Self {
        Self {
            inserted: m.inserted,
            updated: m.updated,
            unchanged: m.unchanged,
            customers_created: m.customers_created,
        }
    }
}

/// Lines stored but left out of RFM features (cancellations and non-positive lines).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExcludedFromRfm {
    /// Order id starting with `C`.
    pub cancellations: u64,
    pub non_positive_quantity: u64,
    pub non_positive_unit_price: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderImportResult {
    /// The header read for each column found (`order`, `customer`, `date`, `quantity`, …).
    #[schema(value_type = std::collections::HashMap<String, String>, example = json!({"order": "InvoiceNo", "customer": "CustomerID", "date": "InvoiceDate"}))]
    pub columns: serde_json::Map<String, serde_json::Value>,
    /// Data lines in the file.
    pub lines: u64,
    #[serde(flatten)]
    pub stored: OrderWrite,
    /// Lines not stored, by reason.
    #[schema(value_type = std::collections::HashMap<String, u64>, example = json!({"missing_customer_id": 2}))]
    pub skipped: serde_json::Map<String, serde_json::Value>,
    pub excluded_from_rfm: ExcludedFromRfm,
}

/// Import order lines from a CSV file.
///
/// Streamed (any size). Columns are found by header (the Online Retail export's
/// `InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country`
/// and common alternatives) or named with the `*_column` parameters. Dates as
/// `2010-12-01 08:26:00` or `12/1/2010 8:26` (`date_format` for day-first), customer ids
/// written as floats (`17850.0` is `17850`). Lines without a customer id are skipped and
/// counted; customers not yet stored are created (id only). A line is identified by its
/// order id and its position within the order (or `line_column`): importing the same file
/// again stores nothing twice. All or nothing: a bad line (its number is given) writes
/// nothing.
#[utoipa::path(
    security(("api_key" = ["write"])),
    tag = "orders",
    params(
        OrderImportParams,
        ("Content-Encoding" = Option<String>, Header, example = "gzip", pattern = "^(gzip|x-gzip|identity)?$",
            description = "`gzip` for a compressed file (decoded as it arrives, to at most `--max-decompressed-bytes`); none (or `identity`) for a plain one"),
    ),
    request_body(content = crate::http::CsvFile, content_type = "text/csv", description = "A CSV file with a header line",
        example = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"),
    responses(
        (status = 200, description = "The file was imported", body = OrderImportResult),
        (status = 422, description = "Invalid parameters, header or lines; `errors` lists them", body = Problem, content_type = "application/problem+json"),
        CsvImportErrors,
    )
)]
#[post("/orders/import")]
async fn import_orders(
    req: HttpRequest,
    pool: web::Data<Pool>,
    limits: web::Data<crate::service::IngestLimits>,
    Query(params): Query<OrderImportParams>,
    body: web::Payload,
) -> Result<web::Json<OrderImportResult>> {
    require_content_type(&req, &["text/csv", "application/csv"], "text/csv")?;
    let options = options(params)?;
    let body = crate::http::encoding::import_body(&req, body)?;
    let outcome = service::import(&pool, options, **limits, body).await?;
    let mut skipped = serde_json::Map::new();
    if outcome.skipped_missing_customer > 0 {
        skipped.insert(
            "missing_customer_id".into(),
            outcome.skipped_missing_customer.into(),
        );
    }
    Ok(web::Json(OrderImportResult {
        columns: outcome
            .columns
            .iter()
            .map(|(role, header)| (role.name().to_owned(), header.clone().into()))
            .collect(),
        lines: outcome.lines,
        stored: outcome.stored.into(),
        skipped,
        excluded_from_rfm: ExcludedFromRfm {
            cancellations: outcome.cancellations,
            non_positive_quantity: outcome.non_positive_quantity,
            non_positive_unit_price: outcome.non_positive_price,
        },
    }))
}

fn options(p: OrderImportParams) -> Result<OrderImportOptions> {
    let date_order = p.date_format.unwrap_or_default();
    let latin1 = p.encoding == Some(Encoding::Latin1);
    let named = [
        (Role::Order, p.order_column),
        (Role::Customer, p.customer_column),
        (Role::Date, p.date_column),
        (Role::Quantity, p.quantity_column),
        (Role::UnitPrice, p.unit_price_column),
        (Role::Amount, p.amount_column),
        (Role::Line, p.line_column),
        (Role::Product, p.product_column),
        (Role::Description, p.description_column),
        (Role::Currency, p.currency_column),
        (Role::Country, p.country_column),
    ];
    let columns: HashMap<Role, String> = named
        .into_iter()
        .filter_map(|(role, h)| h.filter(|h| !h.trim().is_empty()).map(|h| (role, h)))
        .collect();
    Ok(OrderImportOptions {
        columns,
        date_order,
        latin1,
    })
}

/// One order line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineInput {
    /// 1 to 128 characters, not only white space (kept trimmed).
    #[schema(example = "536365", min_length = 1, max_length = 128, pattern = r"\S")]
    pub order_id: String,
    /// The line's number within its order (default: its position among the order's lines
    /// in this batch).
    #[schema(minimum = 1, maximum = 2147483647)]
    pub line_no: Option<i64>,
    /// A customer id (white space around it is dropped).
    #[schema(
        example = "17850",
        pattern = r"^\s*[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,126}[^\s\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    pub customer_id: String,
    /// RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` (UTC).
    #[schema(example = "2010-12-01T08:26:00Z")]
    pub ordered_at: String,
    pub product: Option<String>,
    pub description: Option<String>,
    pub quantity: f64,
    /// Give a unit price, or a line amount.
    pub unit_price: Option<f64>,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBatch {
    /// At least one; up to the batch limit (`SEGSTORE_MAX_BATCH`).
    #[schema(min_items = 1)]
    pub orders: Vec<OrderLineInput>,
}

/// Upsert a batch of order lines (all or nothing).
///
/// Each line is its order id plus its line number (given, or its position among the order's
/// lines in the batch): sending a line again updates it. Customers not yet stored are created
/// (id only). A bad line writes nothing; `errors` names each.
#[utoipa::path(
    security(("api_key" = ["write"])),
    tag = "orders",
    request_body = OrderBatch,
    responses(
        (status = 200, description = "Stored", body = OrderWrite),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More lines than the batch limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid lines; `errors` names each field", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/orders")]
async fn upsert_orders(
    pool: web::Data<Pool>,
    limits: web::Data<crate::http::CustomerLimits>,
    Json(body): Json<OrderBatch>,
) -> Result<web::Json<OrderWrite>> {
    if body.orders.len() > limits.max_batch {
        return Err(Error::PayloadTooLarge(format!(
            "orders: {} lines in one batch; the limit is {} (split the batch, or use POST /v1/orders/import)",
            body.orders.len(),
            limits.max_batch
        )));
    }
    let batch = body
        .orders
        .into_iter()
        .map(|o| OrderInput {
            order_id: o.order_id,
            line_no: o.line_no,
            customer_id: o.customer_id,
            ordered_at: o.ordered_at,
            product: o.product,
            description: o.description,
            quantity: o.quantity,
            unit_price: o.unit_price,
            amount: o.amount,
            currency: o.currency,
            country: o.country,
        })
        .collect();
    Ok(web::Json(service::upsert(&pool, batch).await?.into()))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(import_orders).service(upsert_orders);
}
