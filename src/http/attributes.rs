//! `/v1/attributes`: the attribute catalogue, with the figures a user reads to pick features.

use crate::domain::AttributeKind;
use crate::error::Result;
use crate::http::extract::ReadPool;
use crate::http::problem::{DatabaseErrors, Problem};
use crate::service::customers as service;
use crate::store::Pool;
use actix_web::{HttpResponse, delete, get, web};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeCatalogue {
    /// Customers stored.
    pub customers: i64,
    /// Attributes in the order they were first written.
    pub attributes: Vec<AttributeView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "annual_income_k", "kind": "numeric", "customers": 200,
    "numeric": {"min": 15.0, "mean": 60.56, "max": 137.0, "std": 26.198977}
}))]
pub struct AttributeView {
    #[schema(example = "annual_income_k")]
    pub name: String,
    pub kind: AttributeKind,
    /// Customers with a value for this attribute.
    pub customers: i64,
    /// For numeric attributes with at least one value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericFigures>,
    /// For categorical attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categorical: Option<CategoricalFigures>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NumericFigures {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    /// Population standard deviation.
    pub std: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoricalFigures {
    pub distinct_values: i64,
    /// The most frequent values (at most 10), most frequent first.
    pub top_values: Vec<ValueCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValueCount {
    #[schema(example = "Female")]
    pub value: String,
    pub customers: i64,
}

/// The attribute catalogue.
///
/// Every attribute with its kind, how many customers have it, and min/mean/max/std (numeric) or
/// the most frequent values (categorical).
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "attributes",
    responses(
        (status = 200, description = "The catalogue", body = AttributeCatalogue),
        DatabaseErrors,
    )
)]
#[get("/attributes")]
async fn list_attributes(pool: ReadPool) -> Result<web::Json<AttributeCatalogue>> {
    let (customers, summaries) = service::catalogue(&pool).await?;
    let attributes = summaries
        .into_iter()
        .map(|s| AttributeView {
            name: s.name,
            kind: s.kind,
            customers: s.customers,
            numeric: s.numeric.map(|n| NumericFigures {
                min: n.min,
                mean: n.mean,
                max: n.max,
                std: n.std,
            }),
            categorical: s.categorical.map(|c| CategoricalFigures {
                distinct_values: c.distinct_values,
                top_values: c
                    .top_values
                    .into_iter()
                    .map(|(value, customers)| ValueCount { value, customers })
                    .collect(),
            }),
        })
        .collect();
    Ok(web::Json(AttributeCatalogue {
        customers,
        attributes,
    }))
}

/// Delete an attribute.
///
/// Removes it from the catalogue and clears its values from every customer; its place can be
/// taken by a new attribute. Refused (409, naming them) while a segmentation's configuration
/// uses it: past runs keep their results either way.
#[utoipa::path(
    security(("api_key" = ["admin"])),
    tag = "attributes",
    params(("name" = String, Path, description = "The attribute's name", example = "annual_income_k", pattern = r"^[a-z][a-z0-9_]{0,62}$")),
    responses(
        (status = 204, description = "Deleted, with its values"),
        (status = 404, description = "No such attribute", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A segmentation uses it; `detail` names them", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an attribute name", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[delete("/attributes/{name}")]
async fn delete_attribute(pool: web::Data<Pool>, name: web::Path<String>) -> Result<HttpResponse> {
    service::delete_attribute(&pool, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_attributes).service(delete_attribute);
}
