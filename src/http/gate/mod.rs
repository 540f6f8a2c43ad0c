//! The gate: one middleware in front of every route decides who may call what, on the
//! operation the router dispatches to.
//!
//! 1. The path must be in canonical form (`canonical`): 400 naming what is wrong otherwise.
//! 2. The route is decided on the path as the router reads it, with the router's matcher
//!    (`routes`): the document's operations with their scopes, and the open routes declared
//!    beside their registrations. A request no route is declared for never reaches the
//!    router: the gate answers 404 or 405 (under `/v1`, only to a valid key).
//! 3. Probes pass. Every other request must name this server in `Host`, and a browser's
//!    `Origin` must be this server, a public URL or a CORS origin (`origins`).
//! 4. An operation's scope: a key (`Authorization: Bearer …`, or the dashboard's cookie)
//!    holding it, 401 or 403 otherwise; then the key's rate (429).
//! 5. Every write, train and admin call is recorded in the audit log, refused or not.
//!
//! After the handler, the route the router dispatched to is compared with the one decided
//! on; a difference (which the route table's checks rule out) is answered 500 and logged.

mod answers;
pub mod canonical;
mod origins;
pub mod routes;

pub use origins::{Origins, host_name};
pub use routes::{Access, Open, Routes};

use crate::domain::key::Token;
use crate::domain::session::SessionId;
use crate::error::Error;
use crate::http::problem::Problem;
use crate::service::audit::{AuditLog, Call};
use crate::service::keys::{KeyRing, Principal, Refused};
use crate::service::sessions::Sessions;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_util::future::{LocalBoxFuture, Ready, ready};
use routes::{Decision, Route};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// The cookie the dashboard's sign-in sets (`HttpOnly; SameSite=Strict`): a session's id,
/// never a key.
pub const SESSION_COOKIE: &str = "segstore_session";

/// The name of the security scheme in the OpenAPI document.
pub const SCHEME: &str = "api_key";

/// What the gate needs.
pub struct Gate {
    pub routes: Routes,
    pub keys: Arc<KeyRing>,
    pub origins: Origins,
    pub audit: Arc<AuditLog>,
    pub sessions: Arc<Sessions>,
}

/// The middleware's factory (one per worker thread).
#[derive(Clone)]
pub struct Gated(pub Rc<Gate>);

impl<S, B> Transform<S, ServiceRequest> for Gated
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = GateMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GateMiddleware {
            service: Rc::new(service),
            gate: self.0.clone(),
        }))
    }
}

pub struct GateMiddleware<S> {
    service: Rc<S>,
    gate: Rc<Gate>,
}

type Answer<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

/// Marks an answer as the gate's refusal: counted per client address and minute (in the log
/// and the audit log), not logged one by one, so that a flood cannot fill either.
#[derive(Debug, Clone, Copy)]
pub struct Refusal;

impl<S, B> Service<ServiceRequest> for GateMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Answer<B>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let gate = self.gate.clone();
        Box::pin(async move {
            let span = tracing::Span::current();
            if let Err(why) = canonical::check(req.path()) {
                span.record("route", "(not canonical)");
                let detail = format!("{why} (the path: {})", crate::error::quote(req.path()));
                return gate.refuse(
                    req,
                    Problem::new(StatusCode::BAD_REQUEST, detail).response(),
                );
            }
            let decision = gate.routes.decide(req.method(), req.match_info().as_str());
            let route = match &decision {
                Decision::Route(route) => Some(*route),
                _ => None,
            };
            match route {
                Some(route) => span.record("route", route.template.as_str()),
                None => span.record("route", unrouted(req.match_info().as_str()).as_str()),
            };
            if let Some(route) = route
                && route.access == Access::Probe
            {
                return dispatch(&*service, req, route).await;
            }
            if let Some(refused) = gate.origins.refuse(req.headers()) {
                return gate.refuse(req, refused);
            }
            let Some(route) = route else {
                return gate.unrouted(req, decision).await;
            };
            let Access::Scope(scope) = route.access else {
                return dispatch(&*service, req, route).await;
            };
            let principal = match gate.authenticate(&req).await {
                Ok(principal) => principal,
                Err(refused) => return gate.refuse(req, refused),
            };
            if !principal.scopes.contains(scope) {
                let response = answers::insufficient_scope(scope, route);
                if route.audited {
                    let mut call = call(&req, &principal, route);
                    call.status = response.status().as_u16();
                    gate.record(call).await;
                }
                return gate.refuse(req, response);
            }
            let quota = gate.keys.admit(principal.key_id, route.budget);
            if let Some(quota) = quota
                && let Some(retry_after) = quota.retry_after
            {
                return gate.refuse(req, answers::over_budget(route.budget, &quota, retry_after));
            }
            req.extensions_mut().insert(principal);
            let audit = route.audited.then(|| call(&req, &principal, route));
            let mut response = dispatch(&*service, req, route).await?;
            if let Some(quota) = quota {
                answers::rate_limit_headers(response.headers_mut(), &quota);
            }
            if let Some(mut call) = audit {
                if let Some(location) = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                {
                    call.targets
                        .insert("location".to_owned(), location.to_owned());
                }
                call.status = response.status().as_u16();
                gate.record(call).await;
            }
            Ok(response)
        })
    }
}

/// What the logs say of a path no route is declared for: its first two segments (the rest
/// may hold ids).
fn unrouted(path: &str) -> String {
    let mut shown: String = path.split_inclusive('/').take(3).collect();
    if shown.len() < path.len() {
        shown.push('…');
    }
    shown
}

/// Hands a decided request to the router, and checks that it dispatched to the route
/// decided on.
async fn dispatch<S, B>(service: &S, req: ServiceRequest, route: &Route) -> Answer<B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let response = service.call(req).await?;
    let routed = response.request().match_pattern();
    if routed.as_deref() == Some(route.template.as_str()) {
        return Ok(response.map_into_left_body());
    }
    tracing::error!(
        decided = %route.template,
        routed = routed.as_deref().unwrap_or("(none)"),
        "the router dispatched a request to another route than the gate decided on"
    );
    metrics::counter!("segstore_gate_mismatches_total").increment(1);
    let (req, _) = response.into_parts();
    let problem = Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the request was routed to another operation than its access was decided for; it has \
         been logged",
    );
    Ok(ServiceResponse::new(req, problem.response()).map_into_right_body())
}

impl Gate {
    /// A request no route is declared for: 404 or 405, under `/v1` only to a valid key.
    async fn unrouted<B>(&self, req: ServiceRequest, decision: Decision<'_>) -> Answer<B> {
        let routed = req.match_info().as_str();
        if (routed == "/v1" || routed.starts_with("/v1/"))
            && let Err(refused) = self.authenticate(&req).await
        {
            return self.refuse(req, refused);
        }
        let error = match decision {
            Decision::WrongMethod(allowed) => {
                let allow: Vec<String> = allowed.iter().map(|m| m.to_string()).collect();
                Error::MethodNotAllowed {
                    detail: format!(
                        "{} is not allowed on {}; allowed: {}",
                        req.method(),
                        req.path(),
                        allow.join(", ")
                    ),
                    allow,
                }
            }
            _ => Error::NotFound(format!("no such resource: {}", req.path())),
        };
        let response = error.error_response();
        self.refuse(req, response)
    }

    /// Answers a refusal (see [`Refusal`]).
    fn refuse<B>(&self, req: ServiceRequest, mut response: HttpResponse) -> Answer<B> {
        if response.status().is_client_error() {
            if let Some(source) = req.peer_addr() {
                self.audit
                    .count_refusal(source.ip(), response.status().as_u16());
            }
            response.extensions_mut().insert(Refusal);
        }
        Ok(req.into_response(response).map_into_right_body())
    }

    /// The request's key (or the dashboard session's), checked: a problem response when
    /// missing or refused.
    async fn authenticate(&self, req: &ServiceRequest) -> Result<Principal, HttpResponse> {
        let Some(raw) = bearer(req.headers()) else {
            return match cookie_value(req.headers(), SESSION_COOKIE) {
                Some(cookie) => self.session(&cookie).await,
                None => Err(answers::unauthorized(
                    "an API key is needed: send `Authorization: Bearer <key>`",
                    None,
                )),
            };
        };
        let Some(token) = Token::parse(raw) else {
            return Err(answers::unauthorized(
                "the API key is not valid (a key looks like `segk_…`)",
                Some("invalid_token"),
            ));
        };
        let source = req.peer_addr().map(|a| a.ip());
        match self.keys.authenticate(&token, source).await {
            Ok(Ok(principal)) => Ok(principal),
            Ok(Err(Refused::TooMany(retry_after))) => {
                tokio::time::sleep(crate::service::keys::THROTTLED_ANSWER_DELAY).await;
                Err(answers::too_many_refused(retry_after))
            }
            Ok(Err(refused)) => Err(answers::unauthorized(
                &refused.to_string(),
                Some("invalid_token"),
            )),
            Err(e) => Err(e.error_response()),
        }
    }

    /// The principal of a dashboard session's cookie.
    async fn session(&self, cookie: &str) -> Result<Principal, HttpResponse> {
        let ended = || {
            answers::unauthorized(
                "the dashboard session has ended (signed out, idle for 8 hours, a day old, or \
                 its key revoked): sign in again",
                Some("invalid_token"),
            )
        };
        let Some(id) = SessionId::parse(cookie) else {
            return Err(ended());
        };
        match self.sessions.principal(&id).await {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => Err(ended()),
            Err(e) => Err(e.error_response()),
        }
    }

    async fn record(&self, call: Call) {
        // Boxed: the insert's future is allocated by audited calls only.
        Box::pin(self.audit.record(call)).await;
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

fn request_id(req: &ServiceRequest) -> Option<String> {
    req.extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string())
}

/// The audit record of a call (its status set once answered): the path's parameters
/// (decoded), customer ids apart, which the audit log keeps only as keyed references.
fn call(req: &ServiceRequest, principal: &Principal, route: &Route) -> Call {
    let mut targets = BTreeMap::new();
    let mut customers = Vec::new();
    for (name, value) in route.params(req.match_info().as_str()) {
        let value = percent_encoding::percent_decode_str(&value)
            .decode_utf8_lossy()
            .into_owned();
        if name == "customer_id" || route.template == "/v1/customers/{id}" {
            customers.push((name, value));
        } else {
            targets.insert(name, value);
        }
    }
    Call {
        actor: crate::service::audit::Actor::Key(principal.key_id),
        method: route.method.to_string(),
        route: route.template.clone(),
        targets,
        customers,
        erases: route.method == actix_web::http::Method::DELETE
            && route.template == "/v1/customers/{id}",
        status: 0,
        request_id: request_id(req),
        source: None,
    }
}
