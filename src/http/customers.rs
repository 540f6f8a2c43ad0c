//! `/v1/customers`: batch upsert, CSV import, pages, one customer, delete.

use crate::domain::{AttributeKind, AttributeName, AttributeValue, ExternalId, NumericValue};
use crate::error::{Error, FieldError, Result};
use crate::http::extract::ReadPool;
use crate::http::extract::{Json, Query, require_content_type};
use crate::http::problem::{CsvImportErrors, DatabaseErrors, Problem};
use crate::service::csv_import::{self, ImportOptions};
use crate::service::customers::{
    self as service, Customer, CustomerUpsert, StoredValue, WriteOutcome,
};
use crate::store::Pool;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// Limits of the customer endpoints.
#[derive(Debug, Clone, Copy)]
pub struct CustomerLimits {
    /// Most customers in one JSON batch.
    pub max_batch: usize,
}

/// A batch of customers to insert or update, keyed by their CRM id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customers": [
    {"id": "0001", "attributes": {"gender": "Male", "age": 19, "annual_income_k": 15, "spending_score": 39}},
    {"id": "0002", "attributes": {"age": 21, "spending_score": null}}
]}))]
pub struct UpsertCustomersRequest {
    /// The customers (at most the configured batch size, 10,000 by default).
    pub customers: Vec<CustomerInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// The CRM's customer id, kept verbatim (`0001` stays `0001`): 1 to 128 characters,
    /// no control characters, no white space at either end.
    #[schema(
        example = "0001",
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,126}[^\s\x00-\x1f\x7f-\x9f])?$",
        max_length = 128
    )]
    pub id: String,
    /// Attribute values by name (snake_case). Numbers make numeric attributes, strings (and
    /// booleans) categorical ones; `null` clears a value. Attributes not named keep their
    /// stored values.
    #[serde(default)]
    #[schema(value_type = crate::http::schema::AttributeValues)]
    pub attributes: serde_json::Map<String, Value>,
}

/// What a write did.
#[derive(Debug, Serialize, ToSchema)]
pub struct WriteResult {
    /// Customers in the request.
    pub received: u64,
    pub inserted: u64,
    /// Existing customers whose values changed.
    pub updated: u64,
    /// Existing customers sent with the values they already had.
    pub unchanged: u64,
    /// Attributes this write added to the catalogue.
    pub new_attributes: Vec<NewAttribute>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewAttribute {
    pub name: String,
    pub kind: AttributeKind,
}

impl From<WriteOutcome> for WriteResult {
    fn from(o: WriteOutcome) -> Self {
        Self {
            received: o.received,
            inserted: o.inserted,
            updated: o.updated,
            unchanged: o.unchanged,
            new_attributes: o
                .new_attributes
                .into_iter()
                .map(|(name, kind)| NewAttribute { name, kind })
                .collect(),
        }
    }
}

impl UpsertCustomersRequest {
    /// Parses every customer, collecting all problems with their paths.
    fn parse(self, limits: CustomerLimits) -> Result<Vec<CustomerUpsert>> {
        if self.customers.len() > limits.max_batch {
            return Err(Error::PayloadTooLarge(format!(
                "customers: {} customers in one batch; the limit is {} (split the batch, or use POST /v1/customers/import)",
                self.customers.len(),
                limits.max_batch
            )));
        }
        let mut errors = Vec::new();
        let mut batch = Vec::with_capacity(self.customers.len());
        for (i, input) in self.customers.into_iter().enumerate() {
            let id = ExternalId::parse(input.id)
                .map_err(|e| errors.push(FieldError::field(format!("customers[{i}].id"), e.0)))
                .ok();
            let mut attributes = Vec::with_capacity(input.attributes.len());
            for (key, value) in input.attributes {
                let field = format!("customers[{i}].attributes.{key}");
                let name = match AttributeName::parse(&key) {
                    Ok(name) => name,
                    Err(e) => {
                        errors.push(FieldError::field(field, e.0));
                        continue;
                    }
                };
                let value = match value {
                    Value::Null => AttributeValue::Missing,
                    Value::Number(n) => match n.as_f64().map(NumericValue::new) {
                        Some(Ok(v)) => AttributeValue::Numeric(v),
                        _ => {
                            errors.push(FieldError::field(
                                field,
                                format!("{n} is not a finite 64-bit number"),
                            ));
                            continue;
                        }
                    },
                    Value::String(s) => AttributeValue::Categorical(s),
                    Value::Bool(b) => AttributeValue::Categorical(b.to_string()),
                    Value::Array(_) | Value::Object(_) => {
                        errors.push(FieldError::field(
                            field,
                            "must be a number, a string, a boolean or null",
                        ));
                        continue;
                    }
                };
                attributes.push((name, value));
            }
            if let Some(id) = id {
                batch.push(CustomerUpsert { id, attributes });
            }
        }
        if errors.is_empty() {
            Ok(batch)
        } else {
            Err(Error::invalid_many(
                format!(
                    "{} invalid values; nothing was written. First: {}: {}",
                    errors.len(),
                    errors[0].field.as_deref().unwrap_or(""),
                    errors[0].message
                ),
                errors,
            ))
        }
    }
}

/// Insert or update a batch of customers.
///
/// All or nothing: one invalid customer (or a customer id sent twice) and nothing is written.
/// The predicted-value attributes (`clv_*`) are computed by `POST /v1/clv/refresh` and cannot
/// be written here.
#[utoipa::path(
    security(("api_key" = ["write"])),
    tag = "customers",
    request_body = UpsertCustomersRequest,
    responses(
        (status = 200, description = "The batch was written", body = WriteResult),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More customers than the batch limit, or too many bytes", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid customers; `errors` names each field", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/customers")]
async fn upsert_customers(
    pool: web::Data<Pool>,
    limits: web::Data<CustomerLimits>,
    ingest: web::Data<crate::service::IngestLimits>,
    Json(body): Json<UpsertCustomersRequest>,
) -> Result<web::Json<WriteResult>> {
    let batch = body.parse(**limits)?;
    let outcome = service::upsert(&pool, **ingest, batch).await?;
    Ok(web::Json(outcome.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// The id column's header, when it is not `CustomerID`, `customer_id` or `id`.
    #[param(example = "Client Number")]
    pub id_column: Option<String>,
    /// Comma-separated columns to store as categorical even when their values are numbers
    /// (zip codes, store numbers).
    #[param(example = "zip_code,store")]
    pub categorical: Option<String>,
}

/// What a CSV import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// The header of the column read as the customer id.
    #[schema(example = "CustomerID")]
    pub id_column: String,
    /// How each other column was stored.
    pub columns: Vec<ImportedColumn>,
    /// What was written (`received` counts the file's data rows).
    #[serde(flatten)]
    pub write: WriteResult,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedColumn {
    #[schema(example = "Annual Income (k$)")]
    pub header: String,
    #[schema(example = "annual_income_k")]
    pub attribute: String,
    pub kind: AttributeKind,
}

/// Import customers from a CSV file.
///
/// The body is streamed (send files of any size). The first line is the header; the id column
/// is found by name (`CustomerID`, `customer_id`, `id`) or given with `id_column`. Headers
/// become snake_case attribute names (`Annual Income (k$)` → `annual_income_k`,
/// `Genre` → `gender`); a column whose values are all numbers (in the first 10,000 rows) is
/// numeric, others categorical; an attribute already in the catalogue keeps its kind. Empty
/// cells, `NA`, `N/A`, `null`, `NaN`, `none` and `-` clear a value. Comma-separated, quoted
/// fields, CRLF or LF, an optional UTF-8 byte order mark. Re-importing a file updates the
/// customers it names. All or nothing: with any invalid row nothing is written, and the answer
/// lists the first 100 bad lines. A column named as a predicted-value attribute (`clv_*`,
/// computed by `POST /v1/clv/refresh`) is refused.
#[utoipa::path(
    security(("api_key" = ["write"])),
    tag = "customers",
    params(
        ImportParams,
        ("Content-Encoding" = Option<String>, Header, example = "gzip", pattern = "^(gzip|x-gzip|identity)?$",
            description = "`gzip` for a compressed file (decoded as it arrives, to at most `--max-decompressed-bytes`); none (or `identity`) for a plain one"),
    ),
    request_body(content = crate::http::CsvFile, content_type = "text/csv", description = "A CSV file with a header line",
        example = "CustomerID,Genre,Age,Annual Income (k$),Spending Score (1-100)\n0001,Male,19,15,39\n0002,Male,21,15,81\n"),
    responses(
        (status = 200, description = "The file was imported", body = ImportResult),
        (status = 422, description = "Invalid header or rows; `errors` lists lines", body = Problem, content_type = "application/problem+json"),
        CsvImportErrors,
    )
)]
#[post("/customers/import")]
async fn import_customers(
    req: HttpRequest,
    pool: web::Data<Pool>,
    limits: web::Data<crate::service::IngestLimits>,
    Query(params): Query<ImportParams>,
    body: web::Payload,
) -> Result<web::Json<ImportResult>> {
    require_content_type(&req, &["text/csv", "application/csv"], "text/csv")?;
    let options = ImportOptions {
        id_column: params.id_column.filter(|s| !s.trim().is_empty()),
        categorical: params
            .categorical
            .map(|c| {
                c.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let body = crate::http::encoding::import_body(&req, body)?;
    let outcome = csv_import::import(&pool, options, **limits, body).await?;
    Ok(web::Json(ImportResult {
        id_column: outcome.id_column,
        columns: outcome
            .columns
            .into_iter()
            .map(|c| ImportedColumn {
                header: c.header,
                attribute: c.attribute,
                kind: c.kind,
            })
            .collect(),
        write: outcome.write.into(),
    }))
}

/// A stored customer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0001",
    "attributes": {"gender": "Male", "age": 19.0, "annual_income_k": 15.0, "spending_score": 39.0},
    "created_at": "2026-11-26T22:00:00Z",
    "updated_at": "2026-11-26T22:00:00Z"
}))]
pub struct CustomerView {
    /// The CRM's customer id.
    pub id: String,
    /// Attribute values by name, in catalogue order; attributes without a value are absent.
    #[schema(value_type = crate::http::schema::AttributeMap)]
    pub attributes: serde_json::Map<String, Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        let attributes = c
            .attributes
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    StoredValue::Numeric(v) => {
                        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
                    }
                    StoredValue::Categorical(s) => Value::String(s),
                };
                (name, value)
            })
            .collect();
        Self {
            id: c.id,
            attributes,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// One customer.
///
/// Its attribute values by name, with when it was created and last changed.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "customers",
    params(("id" = String, Path, description = "The CRM's customer id", example = "0001")),
    responses(
        (status = 200, description = "The customer", body = CustomerView),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/customers/{id}")]
async fn get_customer(
    pool: web::Data<Pool>,
    id: web::Path<String>,
) -> Result<web::Json<CustomerView>> {
    Ok(web::Json(service::get(&pool, &id).await?.into()))
}

/// Erase one customer.
///
/// Removes the customer everywhere it is kept: its attribute values, its order lines, its
/// assignments in every kept run (lookups and exports no longer show it), its point in every
/// run's chart sample, and every replica's cached runs. A run that failed on the customer's
/// value, its `run.failed` event and the audit log say "an erased customer" instead of the id.
/// Segment sizes and profiles of past runs, which are aggregates, stay as they were.
#[utoipa::path(
    security(("api_key" = ["admin"])),
    tag = "customers",
    params(("id" = String, Path, description = "The CRM's customer id", example = "0001")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[delete("/customers/{id}")]
async fn delete_customer(
    pool: web::Data<Pool>,
    cache: web::Data<crate::service::lookup::LookupCache>,
    audit: web::Data<crate::service::audit::AuditLog>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    service::erase(&pool, &cache, &audit, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Customers per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
    /// Start after this customer id: the `next_after` of the previous page.
    #[param(example = "0100")]
    pub after: Option<String>,
}

/// A page of customers in id order (byte order of the ids).
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    pub customers: Vec<CustomerView>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "0100")]
    pub next_after: Option<String>,
}

/// List customers, page by page.
///
/// Keyset pagination by customer id (byte order): pass `next_after` as `after` for the next
/// page. Stable while customers are added.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "customers",
    params(PageParams),
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        (status = 422, description = "Invalid `limit` or `after`", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/customers")]
async fn list_customers(
    pool: ReadPool,
    Query(params): Query<PageParams>,
) -> Result<web::Json<CustomerPage>> {
    let limit = crate::http::page::limit(params.limit, crate::http::page::MAX_CUSTOMERS)?;
    let after = params.after.filter(|a| !a.is_empty());
    let (customers, next_after) = service::page(&pool, after.as_deref(), limit).await?;
    Ok(web::Json(CustomerPage {
        customers: customers.into_iter().map(Into::into).collect(),
        next_after,
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upsert_customers)
        .service(import_customers)
        .service(list_customers)
        .service(get_customer)
        .service(delete_customer);
}
