//! The gate's refusals: 401 with its challenge, 403 naming the missing scope, 429 saying when
//! to retry, and the `RateLimit-*` headers of an admitted call.

use super::routes::Route;
use crate::domain::key::Scope;
use crate::http::problem::Problem;
use crate::service::keys::{BudgetKind, Quota};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub fn unauthorized(detail: &str, error: Option<&str>) -> HttpResponse {
    let mut response = Problem::new(StatusCode::UNAUTHORIZED, detail).response();
    let challenge = match error {
        Some(error) => format!("Bearer realm=\"segstore\", error=\"{error}\""),
        None => "Bearer realm=\"segstore\"".to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub fn insufficient_scope(scope: Scope, route: &Route) -> HttpResponse {
    let mut response = Problem::new(
        StatusCode::FORBIDDEN,
        format!(
            "this key lacks the `{scope}` scope, which {} {} needs",
            route.method, route.template
        ),
    )
    .response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "Bearer realm=\"segstore\", error=\"insufficient_scope\", scope=\"{scope}\""
    )) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub fn over_budget(budget: BudgetKind, quota: &Quota, retry_after: u64) -> HttpResponse {
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "this key has used its {} budget on this server; retry in {retry_after} s",
            match budget {
                BudgetKind::Calls => "call",
                BudgetKind::Lookups => "lookup",
            }
        ),
    )
    .response();
    rate_limit_headers(response.headers_mut(), quota);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// The client's address has earned too many refused keys for now.
pub fn too_many_refused(retry_after: u64) -> HttpResponse {
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "too many requests with refused keys came from this address; retry in \
             {retry_after} s"
        ),
    )
    .response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

pub fn rate_limit_headers(headers: &mut HeaderMap, quota: &Quota) {
    for (name, value) in [
        ("ratelimit-limit", u64::from(quota.limit)),
        ("ratelimit-remaining", u64::from(quota.remaining)),
        ("ratelimit-reset", quota.reset),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}
