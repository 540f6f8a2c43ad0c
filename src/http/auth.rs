//! Who may call what: the middleware in front of every route.
//!
//! - `/healthz` and `/readyz` are open to anyone (orchestrators probe them by address).
//! - Every request (probes aside) must name this server in `Host` (an IP address,
//!   `localhost`, or a host of `--public-url`), and a browser's `Origin` must be this server,
//!   a public URL or a CORS origin: a DNS-rebinding page or a cross-site form is refused (403).
//! - Every `/v1` request needs a key (`Authorization: Bearer …`, or the dashboard's cookie):
//!   401 without a valid one. The scope each operation needs is read from the OpenAPI
//!   document (its `security`), so what is enforced is what is published: 403 names the
//!   missing scope. Calls beyond the key's rate (per replica) are refused with 429.
//! - Every write, train and admin call made with a key is recorded in the audit log.
//!
//! The documentation (`/docs`, `/openapi.json`) and the dashboard's page and script are
//! served without a key: they hold no data, and the dashboard asks for its key itself.

use crate::domain::key::{Scope, Token};
use crate::http::problem::Problem;
use crate::service::keys::{BudgetKind, KeyRing, Principal, Quota};
use crate::store::Pool;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpResponse};
use futures_util::future::{LocalBoxFuture, Ready, ready};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// The cookie the dashboard's sign-in sets (`HttpOnly; SameSite=Strict`).
pub const SESSION_COOKIE: &str = "segstore_key";

/// The name of the security scheme in the OpenAPI document.
pub const SCHEME: &str = "api_key";

/// The operation a request is, as the OpenAPI document declares it.
#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    /// The path template's segments; `None` stands for a parameter.
    segments: Vec<Option<String>>,
    /// Parameter names, in order.
    params: Vec<String>,
    template: String,
    scope: Option<Scope>,
    budget: BudgetKind,
}

/// Every documented operation, matched by segments (literal segments win over parameters,
/// as the router does).
#[derive(Debug, Default)]
pub struct Operations(Vec<Operation>);

impl Operations {
    pub fn from_spec(spec: &utoipa::openapi::OpenApi) -> Self {
        let value = serde_json::to_value(&spec.paths).unwrap_or_default();
        let mut operations = Vec::new();
        for (template, item) in value.as_object().into_iter().flatten() {
            let segments: Vec<Option<String>> = template
                .split('/')
                .skip(1)
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect();
            let params = template
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect::<Vec<_>>();
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                    continue;
                };
                let scope = op["security"]
                    .as_array()
                    .and_then(|reqs| reqs.first())
                    .and_then(|req| req[SCHEME].as_array())
                    .and_then(|scopes| scopes.first())
                    .and_then(|s| s.as_str())
                    .and_then(|s| s.parse().ok());
                let budget = if op["operationId"] == "customer_segment" {
                    BudgetKind::Lookups
                } else {
                    BudgetKind::Calls
                };
                operations.push(Operation {
                    method,
                    segments: segments.clone(),
                    params: params.clone(),
                    template: template.clone(),
                    scope,
                    budget,
                });
            }
        }
        // Most literal segments first: `/customers/import` before `/customers/{id}`.
        operations.sort_by_key(|op| {
            std::cmp::Reverse(op.segments.iter().filter(|s| s.is_some()).count())
        });
        Self(operations)
    }

    /// The operation of this method and path (its index); `None` for a path the document
    /// does not have, or a method its resource does not allow. No allocation: this runs on
    /// every request.
    fn find(&self, method: &Method, path: &str) -> Option<usize> {
        let count = path.split('/').count() - 1;
        let fits = |op: &Operation| {
            op.segments.len() == count
                && op
                    .segments
                    .iter()
                    .zip(path.split('/').skip(1))
                    .all(|(s, p)| match s {
                        Some(literal) => literal == p,
                        None => !p.is_empty(),
                    })
        };
        // The resource is the most literal template the path fits.
        let resource = self.0.iter().find(|op| fits(op))?;
        self.0
            .iter()
            .position(|op| op.template == resource.template && op.method == method)
    }
}

/// Which hosts and origins this server answers (DNS rebinding, cross-site requests).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Hosts (lowercase, without port) of the public URLs.
    pub public_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`, lowercase) a browser may call from: the public URLs
    /// and the CORS origins.
    pub allowed: Vec<String>,
}

impl Origins {
    /// `None` when this host may be answered.
    fn refuse_host(&self, host: &str) -> Option<String> {
        let name = host_name(host).to_ascii_lowercase();
        let fine = name == "localhost"
            || name.parse::<std::net::IpAddr>().is_ok()
            || self.public_hosts.contains(&name);
        (!fine).then(|| {
            format!(
                "Host {} is not this server's: it answers an IP address, localhost, or a host \
                 of its public URLs (--public-url)",
                crate::error::quote(host)
            )
        })
    }

    /// `None` when a browser page of `origin` may call; `host` is the request's `Host`.
    fn refuse_origin(&self, origin: &str, host: Option<&str>) -> Option<String> {
        let origin = origin.to_ascii_lowercase();
        let authority = origin.split_once("://").map(|(_, a)| a);
        let same =
            authority.is_some() && authority == host.map(|h| h.to_ascii_lowercase()).as_deref();
        let fine = same || self.allowed.contains(&origin);
        (!fine).then(|| {
            format!(
                "Origin {} may not call this server: only its own pages, its public URLs and its \
                 CORS origins (--cors-origin) may",
                crate::error::quote(&origin)
            )
        })
    }
}

/// The host of a `Host` header value: `[::1]:8080` → `::1`, `a.example:80` → `a.example`.
pub fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
}

/// What the middleware needs.
pub struct Guard {
    pub operations: Operations,
    pub keys: Arc<KeyRing>,
    pub origins: Origins,
    pub pool: Pool,
}

/// The middleware's factory (one per worker thread).
#[derive(Clone)]
pub struct Guarded(pub Rc<Guard>);

impl<S, B> Transform<S, ServiceRequest> for Guarded
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = GuardMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardMiddleware {
            service: Rc::new(service),
            guard: self.0.clone(),
        }))
    }
}

pub struct GuardMiddleware<S> {
    service: Rc<S>,
    guard: Rc<Guard>,
}

fn is_probe(path: &str) -> bool {
    path == "/healthz" || path == "/readyz"
}

impl<S, B> Service<ServiceRequest> for GuardMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let guard = self.guard.clone();
        Box::pin(async move {
            if is_probe(req.path()) {
                return service.call(req).await.map(|r| r.map_into_left_body());
            }
            if let Some(refused) = guard.refuse_origin(req.headers()) {
                return Ok(req.into_response(refused).map_into_right_body());
            }
            if !req.path().starts_with("/v1/") {
                return service.call(req).await.map(|r| r.map_into_left_body());
            }
            let operation = guard.operations.find(req.method(), req.path());
            let principal = match guard.authenticate(&req).await {
                Ok(principal) => principal,
                Err(refused) => return Ok(req.into_response(refused).map_into_right_body()),
            };
            let Some(operation) = operation.map(|i| &guard.operations.0[i]) else {
                // Not an operation (404, 405): any valid key may learn that.
                return service.call(req).await.map(|r| r.map_into_left_body());
            };
            let audited = operation.method != Method::GET;
            if let Some(scope) = operation.scope
                && !principal.scopes.contains(scope)
            {
                let response = insufficient_scope(scope, operation);
                if audited {
                    guard
                        .audit(&req, &principal, operation, response.status())
                        .await;
                }
                return Ok(req.into_response(response).map_into_right_body());
            }
            let quota = guard.keys.admit(principal.key_id, operation.budget);
            if let Some(quota) = quota
                && let Some(retry_after) = quota.retry_after
            {
                let mut response = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "this key has used its {} budget on this server; retry in {retry_after} s",
                        match operation.budget {
                            BudgetKind::Calls => "call",
                            BudgetKind::Lookups => "lookup",
                        }
                    ),
                )
                .response();
                rate_limit_headers(response.headers_mut(), &quota);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                return Ok(req.into_response(response).map_into_right_body());
            }
            req.extensions_mut().insert(principal);
            let audit = audited.then(|| (targets(operation, req.path()), request_id(&req)));
            let mut response = service.call(req).await?;
            if let Some(quota) = quota {
                rate_limit_headers(response.headers_mut(), &quota);
            }
            if let Some((mut targets, request_id)) = audit {
                if let Some(location) = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                {
                    targets.insert("location".to_owned(), location.to_owned());
                }
                guard
                    .record(crate::service::audit::NewEntry {
                        key_id: principal.key_id,
                        method: operation.method.to_string(),
                        route: operation.template.clone(),
                        targets,
                        status: response.status().as_u16(),
                        request_id,
                    })
                    .await;
            }
            Ok(response.map_into_left_body())
        })
    }
}

impl Guard {
    fn refuse_origin(&self, headers: &HeaderMap) -> Option<HttpResponse> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if let Some(host) = host
            && let Some(detail) = self.origins.refuse_host(host)
        {
            return Some(Problem::new(StatusCode::FORBIDDEN, detail).response());
        }
        let origin = headers.get(header::ORIGIN)?;
        let detail = match origin.to_str() {
            Ok(origin) => self.origins.refuse_origin(origin, host)?,
            Err(_) => "the Origin header is not text".to_owned(),
        };
        Some(Problem::new(StatusCode::FORBIDDEN, detail).response())
    }

    /// The request's key, checked: a problem response when missing or refused.
    async fn authenticate(&self, req: &ServiceRequest) -> Result<Principal, HttpResponse> {
        let cookie;
        let raw = match bearer(req.headers()) {
            Some(raw) => Some(raw),
            None => {
                cookie = cookie_value(req.headers(), SESSION_COOKIE);
                cookie.as_deref()
            }
        };
        let Some(raw) = raw else {
            return Err(unauthorized(
                "an API key is needed: send `Authorization: Bearer <key>`",
                None,
            ));
        };
        let Some(token) = Token::parse(raw) else {
            return Err(unauthorized(
                "the API key is not valid (a key looks like `segk_…`)",
                Some("invalid_token"),
            ));
        };
        match self.keys.authenticate(&token).await {
            Ok(Ok(principal)) => Ok(principal),
            Ok(Err(refused)) => Err(unauthorized(&refused.to_string(), Some("invalid_token"))),
            Err(e) => Err(actix_web::ResponseError::error_response(&e)),
        }
    }

    async fn audit(
        &self,
        req: &ServiceRequest,
        principal: &Principal,
        operation: &Operation,
        status: StatusCode,
    ) {
        self.record(crate::service::audit::NewEntry {
            key_id: principal.key_id,
            method: operation.method.to_string(),
            route: operation.template.clone(),
            targets: targets(operation, req.path()),
            status: status.as_u16(),
            request_id: request_id(req),
        })
        .await;
    }

    async fn record(&self, entry: crate::service::audit::NewEntry) {
        // Boxed: the insert's future is allocated by audited calls only.
        Box::pin(crate::service::audit::record(&self.pool, &entry)).await;
    }
}

/// The token of `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

fn unauthorized(detail: &str, error: Option<&str>) -> HttpResponse {
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

fn insufficient_scope(scope: Scope, operation: &Operation) -> HttpResponse {
    let mut response = Problem::new(
        StatusCode::FORBIDDEN,
        format!(
            "this key lacks the `{scope}` scope, which {} {} needs",
            operation.method, operation.template
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

fn rate_limit_headers(headers: &mut HeaderMap, quota: &Quota) {
    for (name, value) in [
        ("ratelimit-limit", u64::from(quota.limit)),
        ("ratelimit-remaining", u64::from(quota.remaining)),
        ("ratelimit-reset", quota.reset),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

fn request_id(req: &ServiceRequest) -> Option<String> {
    req.extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string())
}

/// The values of the path's parameters; a customer's id only as its SHA-256 (the audit log
/// must not keep what an erasure removes).
fn targets(operation: &Operation, path: &str) -> BTreeMap<String, String> {
    let values = path
        .split('/')
        .skip(1)
        .zip(&operation.segments)
        .filter(|(_, s)| s.is_none())
        .map(|(value, _)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        });
    operation
        .params
        .iter()
        .zip(values)
        .map(|(name, value)| {
            let customer = name == "customer_id" || operation.template == "/v1/customers/{id}";
            let value = if customer {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(value.as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            } else {
                value
            };
            (name.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_without_their_port() {
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("seg.example.com"), "seg.example.com");
        let origins = Origins {
            public_hosts: vec!["seg.example.com".into()],
            allowed: vec!["https://seg.example.com".into()],
        };
        for fine in [
            "localhost:8080",
            "127.0.0.1",
            "[::1]:1",
            "SEG.example.com:443",
            "10.0.0.7",
        ] {
            assert!(origins.refuse_host(fine).is_none(), "{fine}");
        }
        for foreign in [
            "evil.example:8080",
            "localhost.evil.example",
            "seg.example.com.evil",
        ] {
            assert!(origins.refuse_host(foreign).is_some(), "{foreign}");
        }
        assert!(
            origins
                .refuse_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080"))
                .is_none()
        );
        assert!(
            origins
                .refuse_origin("https://seg.example.com", Some("10.0.0.7"))
                .is_none()
        );
        assert!(
            origins
                .refuse_origin("http://evil.example", Some("127.0.0.1:8080"))
                .is_some()
        );
        assert!(
            origins
                .refuse_origin("null", Some("127.0.0.1:8080"))
                .is_some()
        );
    }
}
