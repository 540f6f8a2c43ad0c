//! Page sizes: one rule for every paged list (`limit` from 1 to the list's maximum, 100 by
//! default; anything else is a 422 naming `limit`), and each list's maximum side by side.

use crate::error::{Error, Result};

/// Items per page when `limit` is not given.
pub const DEFAULT: u32 = 100;
/// Customers carry every attribute they have: at most 1,000 a page.
pub const MAX_CUSTOMERS: u32 = 1_000;
/// Runs, assignments and movers are a few fields each: at most 10,000 a page.
pub const MAX_ROWS: u32 = 10_000;

/// The page size asked for, checked against `max`.
pub fn limit(limit: Option<u32>, max: u32) -> Result<u32> {
    let limit = limit.unwrap_or(DEFAULT);
    if !(1..=max).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {max}, got {limit}"),
        ));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_100_and_stay_within_the_lists_maximum() {
        assert_eq!(limit(None, MAX_CUSTOMERS).unwrap(), 100);
        assert_eq!(limit(Some(1_000), MAX_CUSTOMERS).unwrap(), 1_000);
        assert_eq!(limit(Some(10_000), MAX_ROWS).unwrap(), 10_000);
        for (asked, max) in [(0, MAX_ROWS), (1_001, MAX_CUSTOMERS), (10_001, MAX_ROWS)] {
            let Err(Error::Validation { errors, .. }) = limit(Some(asked), max) else {
                panic!("{asked} accepted")
            };
            assert_eq!(errors[0].field.as_deref(), Some("limit"));
        }
    }
}

/// How a list comes: JSON pages or CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Json,
    Csv,
}

/// Whether to answer CSV: `format` when given, else an `Accept` that asks for `text/csv`
/// ahead of JSON.
pub fn wants_csv(req: &actix_web::HttpRequest, format: Option<ExportFormat>) -> bool {
    match format {
        Some(ExportFormat::Csv) => true,
        Some(ExportFormat::Json) => false,
        None => req
            .headers()
            .get(actix_web::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| {
                accept.contains("text/csv") && !accept.trim_start().starts_with("application/json")
            }),
    }
}

/// The answer to a JSON operation asked for CSV: `303 See Other` to the operation that is the
/// CSV form (`location`, a path and the query it takes). One operation, one representation:
/// a generated client reads each answer as what its operation documents.
pub fn see_csv(location: String) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

/// `?name=value&…` of the parameters given, for a [`see_csv`] location; values escaped as a
/// query reads them (`+5` stays `+5`, not a space).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');
    let given: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| {
            Some(format!(
                "{name}={}",
                utf8_percent_encode(value.as_ref()?, VALUE)
            ))
        })
        .collect();
    if given.is_empty() {
        String::new()
    } else {
        format!("?{}", given.join("&"))
    }
}
