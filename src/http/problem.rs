//! RFC 9457 problem details: every error response of the service has this body.

use crate::error::{Error, FieldError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem: a stable `type` per class of error, the status, and a `detail` naming
/// the field (or CSV lines) at fault.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:segstore:problem:validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "customers[0].attributes.age: `abc` is not a number",
    "errors": [{"field": "customers[0].attributes.age", "message": "`abc` is not a number"}]
}))]
pub struct Problem {
    /// Stable identifier of the error class, e.g. `urn:segstore:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the error class.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, naming the field, parameter or lines at fault.
    pub detail: String,
    /// Individual problems, when there are several (at most 100).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With a 409 on a run trigger: the run already queued or running.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "/v1/runs/0b9f2d0e-7c3a-4c1e-9f55-3f1e2d4c5b6a")]
    pub run: Option<String>,
}

/// (slug, title) of each status the service answers with.
fn class(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("malformed-request", "Malformed request"),
        401 => ("unauthorized", "Unauthorized"),
        403 => ("forbidden", "Forbidden"),
        404 => ("not-found", "Not found"),
        405 => ("method-not-allowed", "Method not allowed"),
        406 => ("not-acceptable", "Not acceptable"),
        409 => ("conflict", "Conflict"),
        410 => ("gone", "Gone"),
        413 => ("payload-too-large", "Payload too large"),
        415 => ("unsupported-media-type", "Unsupported media type"),
        422 => ("validation", "Invalid request"),
        429 => ("too-many-requests", "Too many requests"),
        503 => ("service-unavailable", "Service unavailable"),
        s if s >= 500 => ("internal", "Internal server error"),
        _ => ("bad-request", "Bad request"),
    }
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let (slug, title) = class(status);
        Self {
            kind: format!("urn:segstore:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            run: None,
        }
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .content_type(CONTENT_TYPE)
            .body(serde_json::to_string(self).unwrap_or_default())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Malformed(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Error::Conflict(_) | Error::RunPending { .. } => StatusCode::CONFLICT,
            Error::Gone(_) => StatusCode::GONE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match self {
            Error::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                "The database is unavailable; retry later.".to_owned()
            }
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "An internal error occurred; it has been logged.".to_owned()
            }
            other => other.to_string(),
        };
        let mut problem = Problem::new(status, detail);
        if let Error::Validation { errors, .. } = self {
            problem.errors = errors.clone();
        }
        if let Error::RunPending { run_id, .. } = self {
            problem.run = Some(format!("/v1/runs/{run_id}"));
        }
        let mut response = problem.response();
        if let Some(run) = problem
            .run
            .as_deref()
            .and_then(|r| HeaderValue::from_str(r).ok())
        {
            response.headers_mut().insert(header::LOCATION, run);
        }
        if let Error::MethodNotAllowed { allow, .. } = self
            && let Ok(value) = HeaderValue::from_str(&allow.join(", "))
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        if let Error::Unavailable(_) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Middleware hook: any error response not already problem+json (actix's own extractor,
/// routing and payload errors) is rewritten as one, keeping its status and message.
pub fn rewrite_error_response<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = res
        .response()
        .error()
        .map(|e| e.to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let (req, old) = res.into_parts();
    let mut new: HttpResponse<BoxBody> = Problem::new(status, detail).response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

/// The problem+json answers an endpoint documents, by status and description; a 503 says
/// when to retry.
fn problems(answers: &[(u16, &str)]) -> ProblemResponses {
    answers
        .iter()
        .map(|&(status, description)| {
            let content = utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build();
            let mut response = utoipa::openapi::ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", content);
            if status == 503 {
                let seconds = utoipa::openapi::HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::Type::Integer),
                    ))
                    .description(Some("Seconds to wait before retrying"))
                    .build();
                response = response.header("Retry-After", seconds);
            }
            let response = response.build();
            (status.to_string(), response.into())
        })
        .collect()
}

type ProblemResponses =
    std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>>;

const UNAVAILABLE: (u16, &str) = (503, "The database is unavailable");
const NO_SUCH_RUN: (u16, &str) = (404, "No such run");

/// Declares a set of problem+json answers that endpoints list in `responses(…)`.
macro_rules! problem_set {
    ($(#[$doc:meta])* $name:ident: $($answer:expr),+) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> ProblemResponses {
                problems(&[$($answer),+])
            }
        }
    };
}

problem_set!(
    /// Every endpoint that uses the database: 503 when it is unavailable.
    DatabaseErrors: UNAVAILABLE
);
problem_set!(
    /// An endpoint of one run: 404 for an unknown run, and the database's.
    RunErrors: NO_SUCH_RUN, UNAVAILABLE
);
problem_set!(
    /// An endpoint of a run's results: 404 for an unknown run, 409 for a run that has not
    /// succeeded, and the database's.
    RunResultErrors: NO_SUCH_RUN, (409, "The run has not succeeded"), UNAVAILABLE
);
problem_set!(
    /// An endpoint that reads a JSON body: 400 when it is not JSON, 413 when it is larger than
    /// the limit, 415 when it is sent as something else.
    JsonBodyErrors: (400, "The body is not JSON"),
        (413, "The body (decoded, when compressed) is larger than the limit (`SEGSTORE_MAX_JSON_BYTES`)"),
        (415, "Not sent as `application/json` (a PATCH: or `application/merge-patch+json`), or a `Content-Encoding` other than `gzip`")
);
problem_set!(
    /// A streamed CSV import: 400 when the body cannot be read, 413 when a compressed body
    /// decodes past the limit, 415 when it is not CSV, and the database's (each endpoint
    /// adds its own 422: what its mapping refuses).
    CsvImportErrors: (400, "The body could not be read"),
        (413, "A compressed body decodes to more than the server's limit (`--max-decompressed-bytes`)"),
        (415, "Not `text/csv`, or a `Content-Encoding` other than `gzip`"),
        UNAVAILABLE
);
problem_set!(
    /// An endpoint of a segmentation's active run: 404 for an unknown segmentation, 409 for
    /// one without an active run yet, and the database's.
    ActiveRunErrors: (404, "No such segmentation"),
        (409, "The segmentation has no active run yet"), UNAVAILABLE
);
problem_set!(
    /// An endpoint of one segmentation: 404 for an unknown segmentation, and the database's.
    SegmentationErrors: (404, "No such segmentation"), UNAVAILABLE
);

/// Every operation declares the gate's 400 for a path not in canonical form; every operation
/// that needs a key its other answers: 401 (with its `WWW-Authenticate` challenge), 403 (a
/// missing scope, or a foreign `Host`/`Origin`) and 429 (with `Retry-After` and the
/// `RateLimit-*` headers).
pub fn declare_refusals(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{HeaderBuilder, ObjectBuilder, Type};
    let header = |kind: Type, description: &str| {
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(kind)))
            .description(Some(description))
            .build()
    };
    let refusals = problems(&[
        (401, "No key, or a key that is unknown, revoked or expired"),
        (
            403,
            "The key lacks the scope this operation needs (`detail` names it), or the request's \
             `Host` or `Origin` is not this server's",
        ),
        (
            429,
            "The key's rate limit on this server is used up, or too many refused keys came \
             from the client's address",
        ),
    ]);
    const NOT_CANONICAL: &str = "The path is not in canonical form (an escaped letter, digit or \
                                 `-._~`, a `.`, `..` or empty segment, a malformed escape, \
                                 escapes that are not UTF-8): `detail` says which";
    let not_canonical = problems(&[(400, NOT_CANONICAL)]);
    for operation in super::schema::operations_mut(doc) {
        // Every path: the gate refuses other spellings before anything else.
        match operation.responses.responses.get_mut("400") {
            Some(utoipa::openapi::RefOr::T(response)) => {
                response.description = format!("{}; or: {NOT_CANONICAL}", response.description);
            }
            Some(_) => {}
            None => {
                operation.responses.responses.extend(not_canonical.clone());
            }
        }
        if operation.security.as_ref().is_none_or(|s| s.is_empty()) {
            continue;
        }
        for (status, response) in &refusals {
            let utoipa::openapi::RefOr::T(response) = response else {
                continue;
            };
            let mut response = response.clone();
            match status.as_str() {
                "401" => {
                    response.headers.insert(
                        "WWW-Authenticate".to_owned(),
                        header(Type::String, "`Bearer realm=\"segstore\"`, with `error=\"invalid_token\"` for a refused key").into(),
                    );
                }
                "429" => {
                    for (name, description) in [
                        ("Retry-After", "Seconds until a call is allowed again"),
                        (
                            "RateLimit-Limit",
                            "Calls the key may make at once (its burst)",
                        ),
                        ("RateLimit-Remaining", "Calls left now"),
                        ("RateLimit-Reset", "Seconds until the budget is whole again"),
                    ] {
                        response
                            .headers
                            .insert(name.to_owned(), header(Type::Integer, description).into());
                    }
                }
                _ => {}
            }
            operation
                .responses
                .responses
                .insert(status.clone(), response.into());
        }
    }
}
