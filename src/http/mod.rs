//! The HTTP API: actix handlers and DTOs (one file per resource), problem+json errors, and
//! the OpenAPI document generated from the handlers.

pub mod attributes;
pub mod audiences;
pub mod audit;
pub mod changes;
pub mod charts;
pub mod clv;
pub mod customers;
pub mod dashboard;
pub mod encoding;
pub mod exports;
pub mod extract;
pub mod gate;
pub mod health;
pub mod keys;
pub mod orders;
pub mod page;
pub mod problem;
mod requests;
pub mod rfm;
pub mod runs;
pub mod schema;
pub mod segmentations;
pub mod webhooks;

use crate::error::Error;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, scope, service_config::ServiceConfig};
use utoipa_swagger_ui::SwaggerUi;

pub use customers::CustomerLimits;
pub use extract::JsonLimit;
use requests::{RequestSpan, log_request, record_request};
pub use requests::{SLOW_REQUEST, record_requests};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "segstore",
        version = "0.1.0",
        description = "Customer segmentation as a service: a PostgreSQL-backed customer store fed by CRM \
                       integrations (JSON batches or CSV files), with clustering runs over HTTP.\n\n\
                       Every error is an RFC 9457 `application/problem+json` body whose `detail` names \
                       the field, parameter or CSV lines at fault.",
        license(name = "MIT")
    ),
    tags(
        (name = "customers", description = "The customer store: batch upserts, CSV imports, reads"),
        (name = "attributes", description = "The attribute catalogue: what can be clustered on"),
        (name = "orders", description = "Order lines: what customers bought (JSON batches or CSV files)"),
        (name = "predictions", description = "Predicted customer value: who will buy again, how often and \
                                             for how much (BG/NBD + Gamma-Gamma), backtested"),
        (name = "audiences", description = "Rules over attributes, RFM, predicted value and learned segments: \
                                           previewed before they are kept"),
        (name = "segmentations", description = "Named, versioned clustering configurations"),
        (name = "runs", description = "Retraining runs and their results: segments, elbow curves, assignments, \
                                      a customer's segment, scoring, comparisons"),
        (name = "changes", description = "Membership changes: who entered, moved or left a segment at each \
                                         activation, as a feed CRMs sync from"),
        (name = "charts", description = "Pictures of a run, drawn by the server: SVG, or PNG when asked"),
        (name = "webhooks", description = "Endpoints segstore calls when runs finish, segments change or \
                                          drift (signed, retried, in order; admin scope): the document's \
                                          `webhooks` give each event's body"),
        (name = "keys", description = "API keys and the audit log (admin scope)"),
        (name = "operations", description = "Probes for orchestrators (no key needed)")
    ),
    modifiers(&SecurityScheme)
)]
struct ApiDoc;

fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/v1")
            .configure(runs::hot_routes)
            .configure(customers::routes)
            .configure(exports::routes)
            .configure(attributes::routes)
            .configure(orders::routes)
            .configure(rfm::routes)
            .configure(clv::routes)
            .configure(audiences::routes)
            .configure(segmentations::routes)
            .configure(runs::routes)
            .configure(changes::routes)
            .configure(charts::routes)
            .configure(webhooks::routes)
            .configure(keys::routes)
            .configure(audit::routes),
    )
    .configure(health::routes);
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts()
        .1
        .finished()
}

/// The last touches the annotations cannot give.
trait Finished {
    fn finished(self) -> Self;
}

impl Finished for utoipa::openapi::OpenApi {
    fn finished(mut self) -> Self {
        webhooks::events::declare(&mut self);
        schema::forbid_nul(&mut self);
        schema::files_are_bytes(&mut self);
        problem::declare_refusals(&mut self);
        self
    }
}

/// The bearer scheme every `/v1` operation names, with the scope it needs.
struct SecurityScheme;

impl utoipa::Modify for SecurityScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            gate::SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("segk_…")
                    .description(Some(
                        "An API key: `Authorization: Bearer segk_…`. Keys are created with \
                         `segstore keys create` or `POST /v1/keys`; the first start on a \
                         loopback address creates one with every scope and saves it in \
                         `<data dir>/admin.key`. Each operation lists the scope it needs \
                         (`read`, `write`, `train` or `admin`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    json.push('\n');
    json
}

/// A CSV file sent as the request body (streamed; any size).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct CsvFile(#[allow(dead_code)] Vec<u8>);

/// Settings the handlers read.
#[derive(Debug, Clone, Copy)]
pub struct ApiSettings {
    pub max_batch: usize,
    pub max_json_bytes: usize,
    /// Most bytes a compressed import may decode to.
    pub max_decompressed_bytes: u64,
    pub ingest: crate::service::IngestLimits,
}

/// Who may call: the browser-facing settings (the keys themselves are in the database).
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub origins: gate::Origins,
    /// Origins whose pages may call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Whether cookies are `Secure` (a public URL is https; an https request makes them so
    /// too).
    pub secure_cookies: bool,
}

/// Headers every answer carries: no referrer leaks to other sites, no content sniffing, and
/// nothing here is to be framed or to load anything (the dashboard and the documentation
/// set their own policies, the charts theirs).
fn add_security_headers<B>(res: &mut ServiceResponse<B>) {
    let svg = res.request().path().ends_with(".svg");
    let docs = res.request().path().starts_with("/docs");
    let headers = res.headers_mut();
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = if docs {
            DOCS_POLICY
        } else if svg {
            CHART_POLICY
        } else {
            API_POLICY
        };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
}

/// JSON and CSV answers: nothing to run, nothing to load, never framed (OWASP's REST rule).
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";
/// A chart opened on its own: its inline styles, nothing else.
const CHART_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'";
/// Swagger UI: its own scripts and styles, the document from here, requests to here.
const DOCS_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                           script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                           base-uri 'none'; form-action 'none'";

/// What every worker thread's app shares: the database, the settings and the services'
/// per-process state.
#[derive(Clone)]
pub struct AppState {
    pub db: crate::service::Db,
    pub settings: ApiSettings,
    pub waker: crate::service::runs::Waker,
    pub cache: std::sync::Arc<crate::service::lookup::LookupCache>,
    pub keys: std::sync::Arc<crate::service::keys::KeyRing>,
    pub audit: std::sync::Arc<crate::service::audit::AuditLog>,
    pub sessions: std::sync::Arc<crate::service::sessions::Sessions>,
    pub security: Security,
    pub webhooks: crate::service::webhooks::AllowedNetworks,
}

/// Everything the service answers, for one worker thread of the server.
pub fn app(
    state: AppState,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let AppState {
        db,
        settings,
        waker,
        cache,
        keys,
        audit,
        sessions,
        security,
        webhooks,
    } = state;
    let (app, spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .app_data(web::Data::new(db.pool.clone()))
        .app_data(web::Data::from(audit.clone()))
        .app_data(web::Data::from(sessions.clone()))
        .app_data(web::Data::new(security.clone()))
        .app_data(web::Data::new(db.reads.clone()))
        .app_data(web::Data::new(waker))
        .app_data(web::Data::from(cache))
        .app_data(web::Data::from(keys.clone()))
        .app_data(web::Data::new(webhooks))
        .app_data(web::Data::new(CustomerLimits {
            max_batch: settings.max_batch,
        }))
        .app_data(JsonLimit(settings.max_json_bytes))
        .app_data(encoding::DecodeLimit(settings.max_decompressed_bytes))
        .app_data(web::Data::new(settings.ingest))
        .app_data(web::PayloadConfig::new(settings.max_json_bytes))
        .configure(routes)
        .split_for_parts();
    let spec = spec.finished();
    let gate = gate::Gated(std::rc::Rc::new(gate::Gate {
        routes: gate::Routes::new(&spec, &open_routes())
            .unwrap_or_else(|e| panic!("the route table: {e}")),
        keys,
        origins: security.origins.clone(),
        audit,
        sessions,
    }));
    let cors = cors(&security.cors_origins);
    app.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", spec))
        .service(web::resource("/docs").get(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, "/docs/"))
                .finish()
        }))
        .configure(dashboard::routes)
        .default_service(web::to(unrouted))
        .wrap_fn(|req, srv| {
            use futures_util::future::{Either, ready};
            match extract::nul_in_target(req.uri()) {
                Some(refused) => Either::Left(ready(Err(refused.into()))),
                None => Either::Right(srv.call(req)),
            }
        })
        .wrap(gate)
        .wrap(actix_web::middleware::Condition::new(
            cors.is_some(),
            cors.unwrap_or_default(),
        ))
        .wrap(ErrorHandlers::new().default_handler(problem::rewrite_error_response))
        .wrap_fn(|req, srv| {
            let fut = srv.call(req);
            async move {
                let mut res = fut.await?;
                add_security_headers(&mut res);
                Ok(res)
            }
        })
        // Inside TracingLogger's span: the log line carries the request id, method and path.
        .wrap_fn(|req, srv| {
            let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
            let started = std::time::Instant::now();
            let fut = srv.call(req);
            async move {
                let mut res = fut.await?;
                let elapsed = started.elapsed();
                let refused = res.response().extensions().get::<gate::Refusal>().is_some();
                log_request(res.status(), elapsed, refused);
                record_request(&res, elapsed);
                if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                    res.headers_mut()
                        .insert(header::HeaderName::from_static("x-request-id"), id);
                }
                Ok(res)
            }
        })
        .wrap(TracingLogger::<RequestSpan>::new())
}

/// CORS for the configured origins (none: no CORS headers, browsers keep other origins out).
fn cors(origins: &[String]) -> Option<actix_cors::Cors> {
    if origins.is_empty() {
        return None;
    }
    let cors = origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        })
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(600);
    Some(cors)
}

/// What the router answers a request the gate passed but no route took: nothing, since the
/// gate passes only requests whose route it decided (and answers a mismatch itself).
async fn unrouted(req: HttpRequest) -> HttpResponse {
    Error::NotFound(format!("no such resource: {}", req.path())).error_response()
}

/// Every route outside the document's operations with a scope, and who may call it: the
/// documentation (`/docs`, Swagger UI's files, `/openapi.json`), the dashboard's own, and the
/// probes. A route registered without a declaration here or a scope in the document is
/// never reached: the gate answers 404 for it.
pub fn open_routes() -> Vec<gate::Open> {
    use gate::{Access, Open};
    let docs = [
        Open {
            method: "GET",
            template: "/docs",
            access: Access::Public,
        },
        Open {
            method: "GET",
            template: "/docs/{_:.*}",
            access: Access::Public,
        },
        Open {
            method: "GET",
            template: "/openapi.json",
            access: Access::Public,
        },
    ];
    [&docs[..], health::OPEN, dashboard::OPEN].concat()
}
