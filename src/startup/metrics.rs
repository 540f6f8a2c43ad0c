//! `GET /metrics` in Prometheus' text format, on a listener of its own (`--metrics-bind`):
//! the counters and histograms the layers record through the `metrics` facade, and gauges
//! read at each scrape (the pool, the run queue).

use crate::store::Pool;
use actix_web::{App, HttpResponse, web};
use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::TcpListener;
use std::time::Duration;

/// Latency buckets, in seconds: sub-millisecond lookups to multi-minute retrains.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0, 600.0,
];

/// Installs the process-wide recorder (once: later calls fail) and describes the metrics.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "segstore_http_requests_total",
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        "segstore_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by route template and method"
    );
    describe_counter!("segstore_runs_total", "Runs a worker ended, by outcome");
    describe_counter!(
        "segstore_key_reads_total",
        "API keys read from PostgreSQL (a key not cached; a made-up one within its budget)"
    );
    describe_counter!(
        "segstore_refused_requests_total",
        "Requests the gate refused, by status (summed up per address and minute in the log)"
    );
    describe_counter!(
        "segstore_gate_mismatches_total",
        "Requests the router dispatched elsewhere than the gate decided (answered 500)"
    );
    describe_histogram!(
        "segstore_run_phase_duration_seconds",
        metrics::Unit::Seconds,
        "Wall time of each phase of succeeded runs"
    );
    describe_gauge!(
        "segstore_runs",
        "Runs queued and running (read at each scrape)"
    );
    describe_counter!(
        "segstore_lookup_cache_hits_total",
        "Lookups answered from a cached run"
    );
    describe_counter!(
        "segstore_lookup_cache_misses_total",
        "Lookups that read PostgreSQL (the run not cached yet)"
    );
    describe_gauge!(
        "segstore_lookup_cache_bytes",
        metrics::Unit::Bytes,
        "Memory held by cached runs"
    );
    describe_gauge!(
        "segstore_lookup_change_times",
        "Customers of active runs whose change time (since when in their segment) is cached"
    );
    describe_gauge!(
        "segstore_db_pool_connections",
        "Pool connections by state (in_use, idle) and the pool's maximum"
    );
    describe_histogram!(
        "segstore_db_pool_acquire_duration_seconds",
        metrics::Unit::Seconds,
        "Time a transaction waited for a pool connection"
    );
    describe_gauge!(
        "segstore_db_pool_waiting",
        "Transactions waiting for a pool connection now"
    );
    describe_gauge!(
        "segstore_notifications_listening",
        "1 while this replica hears the others' announcements (LISTEN/NOTIFY: revocations, \
         erasures, lookup changes); 0 while it reconnects (keys are then read per request and \
         lookup records expire after --lookup-ttl-ms)"
    );
    describe_counter!(
        "segstore_webhook_attempts_total",
        "Webhook delivery attempts by outcome (delivered, retry, failed)"
    );
    describe_histogram!(
        "segstore_webhook_attempt_duration_seconds",
        metrics::Unit::Seconds,
        "Time an endpoint took to answer a delivery (or to fail)"
    );
    describe_gauge!(
        "segstore_webhook_deliveries_pending",
        "Webhook deliveries not delivered yet (every replica's)"
    );
    describe_gauge!(
        "segstore_webhook_oldest_pending_seconds",
        "Age of the oldest pending webhook delivery (0: none): how far behind endpoints are"
    );
    describe_counter!(
        "segstore_rows_imported_total",
        "Rows written by imports and batches, by kind (customers, order_lines)"
    );
}

/// The metrics server on its listener: one worker, `GET /metrics` only.
pub fn server(
    listener: TcpListener,
    handle: PrometheusHandle,
    pool: Pool,
) -> anyhow::Result<actix_web::dev::Server> {
    let server = actix_web::HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(handle.clone()))
            .app_data(web::Data::new(pool.clone()))
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

async fn scrape(handle: web::Data<PrometheusHandle>, pool: web::Data<Pool>) -> HttpResponse {
    let idle = pool.num_idle() as f64;
    let size = f64::from(pool.size());
    metrics::gauge!("segstore_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("segstore_db_pool_connections", "state" => "in_use").set(size - idle);
    metrics::gauge!("segstore_db_pool_connections", "state" => "max")
        .set(f64::from(pool.options().get_max_connections()));
    // The queue as PostgreSQL has it; a scrape during an outage leaves the last figures.
    let depth = tokio::time::timeout(
        Duration::from_secs(1),
        crate::store::runs::pending_counts(&**pool),
    )
    .await;
    if let Ok(Ok((queued, running))) = depth {
        metrics::gauge!("segstore_runs", "status" => "queued").set(queued as f64);
        metrics::gauge!("segstore_runs", "status" => "running").set(running as f64);
    }
    let backlog = tokio::time::timeout(
        Duration::from_secs(1),
        crate::store::outbox::backlog(&**pool),
    )
    .await;
    if let Ok(Ok((pending, oldest))) = backlog {
        metrics::gauge!("segstore_webhook_deliveries_pending").set(pending as f64);
        metrics::gauge!("segstore_webhook_oldest_pending_seconds").set(oldest);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}
