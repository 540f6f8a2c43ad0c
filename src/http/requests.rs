//! Each request as the operator sees it: its span (method, route, id), its log line in
//! proportion to what happened, and its series in the metrics.

use actix_web::HttpMessage;
use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use tracing_actix_web::RequestId;

/// A request at least this slow is logged at `info` whatever its status.
pub const SLOW_REQUEST: std::time::Duration = std::time::Duration::from_millis(500);

/// One line per request, in proportion: server errors at `warn`, client errors and slow
/// requests at `info`, the rest (the bulk under load) at `debug`. The gate's refusals are at
/// `debug` too: they are counted per client address and minute instead (one `info` line
/// each, `service::audit`), so that a flood cannot fill the log.
pub(super) fn log_request(
    status: actix_web::http::StatusCode,
    elapsed: std::time::Duration,
    refused: bool,
) {
    let (status, elapsed_ms) = (status.as_u16(), elapsed.as_secs_f64() * 1e3);
    if refused {
        tracing::debug!(status, elapsed_ms, "refused");
    } else if status >= 500 {
        tracing::warn!(status, elapsed_ms, "request");
    } else if status >= 400 {
        tracing::info!(status, elapsed_ms, "request");
    } else if elapsed >= SLOW_REQUEST {
        tracing::info!(status, elapsed_ms, "slow request");
    } else {
        tracing::debug!(status, elapsed_ms, "request");
    }
}

/// Whether requests are recorded in the metrics (a recorder is installed): finding a
/// request's route template costs a second pass of the router, paid only then.
static REQUEST_METRICS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records every request in the metrics from now on (the metrics server is on).
pub fn record_requests() {
    REQUEST_METRICS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Each request's span: its method, route template and id, which every log line of the
/// request carries.
/// (tracing-actix-web's default span also formats the user agent, client address, route
/// template and OpenTelemetry fields of every request: a fifth of a lookup's cost.)
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let request_id = request.extensions().get::<RequestId>().copied();
        // Not the path: it holds customer ids, which an erasure could not take back from the
        // logs. The gate records the route template it decided on.
        tracing::info_span!(
            "request",
            method = %request.method(),
            route = tracing::field::Empty,
            request_id = tracing::field::display(
                request_id.map(|id| id.to_string()).unwrap_or_default()
            ),
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        _span: tracing::Span,
        _outcome: &std::result::Result<ServiceResponse<B>, actix_web::Error>,
    ) {
    }
}

/// The request in the metrics, by route template (`/v1/runs/{id}`: bounded cardinality).
pub(super) fn record_request<B>(res: &ServiceResponse<B>, elapsed: std::time::Duration) {
    if !REQUEST_METRICS.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    type Series = (metrics::Counter, metrics::Histogram);
    thread_local! {
        /// Each worker thread's handles by (route, method, status): the registry's lookup
        /// (building and hashing the labels) is paid once per series and thread.
        static SERIES: std::cell::RefCell<std::collections::HashMap<(String, Method, u16), Series>> =
            Default::default();
    }
    let request = res.request();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let status = res.status().as_u16();
    SERIES.with_borrow_mut(|series| {
        let (requests, latency) =
            series
                .entry((route, method, status))
                .or_insert_with_key(|(route, method, status)| {
                    (
                        metrics::counter!("segstore_http_requests_total",
                        "route" => route.clone(), "method" => method.to_string(),
                        "status" => status.to_string()),
                        metrics::histogram!("segstore_http_request_duration_seconds",
                        "route" => route.clone(), "method" => method.to_string()),
                    )
                });
        requests.increment(1);
        latency.record(elapsed.as_secs_f64());
    });
}
