//! The webhook outbox: events written in the transaction of what they announce, their
//! deliveries, claimed one at a time with SKIP LOCKED (the head of each webhook's queue per
//! segmentation only, so a queue is delivered in order), and every attempt's log.

use super::{Conn, Result};
use crate::domain::webhook::{DeliveryState, EventType};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

/// Writes an event and one delivery per webhook subscribed to it (`segstore_emit`).
pub async fn emit(
    tx: &mut Conn,
    kind: EventType,
    segmentation_id: Option<Uuid>,
    data: &serde_json::Value,
) -> Result<Uuid> {
    Ok(sqlx::query_scalar("SELECT segstore_emit($1, $2, $3)")
        .bind(kind.as_str())
        .bind(segmentation_id)
        .bind(Json(data))
        .fetch_one(&mut *tx)
        .await?)
}

/// Writes a `segment.membership_changed` event for an activation's `total` changes, and its
/// deliveries: each subscribed webhook gets them in batches of its `batch_size`, in order.
pub async fn emit_changes(
    tx: &mut Conn,
    segmentation_id: Uuid,
    total: i64,
    data: &serde_json::Value,
) -> Result<()> {
    let event_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO webhook_events (event_id, type, segmentation_id, data) VALUES ($1, $2, $3, $4)",
    )
    .bind(event_id)
    .bind(EventType::MembershipChanged.as_str())
    .bind(segmentation_id)
    .bind(Json(data))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, queue, first_ord, last_ord)
         SELECT gen_random_uuid(), w.webhook_id, $1, $2, b * w.batch_size + 1,
                least((b + 1) * w.batch_size, $4)
           FROM webhooks w
          CROSS JOIN LATERAL generate_series(0, ($4 - 1) / w.batch_size) b
          WHERE $3 = ANY (w.events)
            AND (w.segmentation_id IS NULL OR w.segmentation_id = $2)
          ORDER BY w.webhook_id, b",
    )
    .bind(event_id)
    .bind(segmentation_id)
    .bind(EventType::MembershipChanged.as_str())
    .bind(total)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A ping: an event delivered to one webhook only. Returns the delivery's id.
pub async fn ping(tx: &mut Conn, webhook_id: Uuid, data: &serde_json::Value) -> Result<Uuid> {
    let event_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO webhook_events (event_id, type, segmentation_id, data) VALUES ($1, $2, NULL, $3)",
    )
    .bind(event_id)
    .bind(EventType::Ping.as_str())
    .bind(Json(data))
    .execute(&mut *tx)
    .await?;
    Ok(sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, queue)
         VALUES (gen_random_uuid(), $1, $2, $1)
         RETURNING delivery_id",
    )
    .bind(webhook_id)
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await?)
}

/// A delivery claimed for an attempt: locked until the claiming transaction ends.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub attempts: i32,
    pub first_ord: Option<i32>,
    pub last_ord: Option<i32>,
    /// Since when it has been pending (retries give up a while after it).
    pub pending_since: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub event_type: EventType,
    pub segmentation_id: Option<Uuid>,
    pub data: Json<serde_json::Value>,
    pub event_at: DateTime<Utc>,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
}

/// Claims the next delivery due: pending, its webhook enabled, and first of its queue (no
/// earlier delivery of the same webhook and segmentation is pending, even one another
/// worker holds). `None` when nothing is due.
pub async fn claim(tx: &mut Conn) -> Result<Option<Claimed>> {
    // The attempt's record commits without waiting for the disk: a crash may forget the
    // last few records, and those deliveries are sent again (at least once; receivers
    // deduplicate by `webhook-id`). Waiting for the flush would bound a queue (in order, one
    // delivery at a time) to the disk's flushes per second.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    Ok(sqlx::query_as(
        "SELECT d.delivery_id, d.webhook_id, d.attempts, d.first_ord, d.last_ord, d.pending_since,
                e.type AS event_type, e.segmentation_id, e.data, e.created_at AS event_at,
                w.url, w.secret, w.previous_secret, w.previous_until
           FROM webhook_deliveries d
           JOIN webhooks w ON w.webhook_id = d.webhook_id AND w.enabled
           JOIN webhook_events e ON e.event_id = d.event_id
          WHERE d.state = 'pending' AND d.next_attempt_at <= now()
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                             WHERE p.webhook_id = d.webhook_id AND p.queue = d.queue
                               AND p.state = 'pending' AND p.seq < d.seq)
          ORDER BY d.seq
          LIMIT 1
          FOR UPDATE OF d SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await?)
}

/// One attempt's outcome as logged.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: f64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// No more attempts (its webhook is disabled with it).
    Failed,
}

/// Logs an attempt and moves the delivery on.
pub async fn record(tx: &mut Conn, delivery_id: Uuid, a: &Attempt, next: Next) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code,
                                       latency_ms, error, response_excerpt)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(delivery_id)
    .bind(a.attempt)
    .bind(a.attempted_at)
    .bind(a.status_code)
    .bind(a.latency_ms)
    .bind(&a.error)
    .bind(&a.response_excerpt)
    .execute(&mut *tx)
    .await?;
    let (state, retry_at) = match next {
        Next::Delivered => ("delivered", None),
        Next::RetryAt(at) => ("pending", Some(at)),
        Next::Failed => ("failed", None),
    };
    sqlx::query(
        "UPDATE webhook_deliveries
            SET attempts = $2, last_attempt_at = $3, state = $4,
                next_attempt_at = coalesce($5, next_attempt_at),
                delivered_at = CASE WHEN $4 = 'delivered' THEN now() END
          WHERE delivery_id = $1",
    )
    .bind(delivery_id)
    .bind(a.attempt)
    .bind(a.attempted_at)
    .bind(state)
    .bind(retry_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A delivery as its log shows it, with its last attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    #[sqlx(try_from = "String")]
    pub event_type: EventType,
    pub segmentation_id: Option<Uuid>,
    pub seq: i64,
    pub first_ord: Option<i32>,
    pub last_ord: Option<i32>,
    #[sqlx(try_from = "String")]
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<f64>,
}

const DELIVERY: &str = "SELECT d.delivery_id, d.webhook_id, d.event_id, e.type AS event_type,
                e.segmentation_id, d.seq, d.first_ord, d.last_ord, d.state, d.attempts,
                d.next_attempt_at, d.last_attempt_at, d.delivered_at, d.created_at,
                a.status_code AS last_status_code, a.error AS last_error,
                a.latency_ms AS last_latency_ms
           FROM webhook_deliveries d
           JOIN webhook_events e ON e.event_id = d.event_id
           LEFT JOIN webhook_attempts a
             ON a.delivery_id = d.delivery_id AND a.attempt = d.attempts";

/// A webhook's deliveries, newest first, before `before` (a `seq`), optionally in one state.
pub async fn deliveries(
    db: impl PgExecutor<'_>,
    webhook_id: Uuid,
    state: Option<DeliveryState>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY}
          WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.state = $2)
            AND ($3::bigint IS NULL OR d.seq < $3)
          ORDER BY d.seq DESC
          LIMIT $4"
    )))
    .bind(webhook_id)
    .bind(state.map(DeliveryState::as_str))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

pub async fn delivery(
    db: impl PgExecutor<'_>,
    webhook_id: Uuid,
    delivery_id: Uuid,
) -> Result<Option<DeliveryRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY} WHERE d.webhook_id = $1 AND d.delivery_id = $2"
    )))
    .bind(webhook_id)
    .bind(delivery_id)
    .fetch_optional(db)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: f64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// A delivery's attempts, first first.
pub async fn attempts(db: impl PgExecutor<'_>, delivery_id: Uuid) -> Result<Vec<AttemptRow>> {
    Ok(sqlx::query_as(
        "SELECT attempt, attempted_at, status_code, latency_ms, error, response_excerpt
           FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(delivery_id)
    .fetch_all(db)
    .await?)
}

/// Makes a delivery due now (again, when it was delivered or failed). `false`: no such
/// delivery of this webhook.
pub async fn retry(db: impl PgExecutor<'_>, webhook_id: Uuid, delivery_id: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries
            SET state = 'pending', next_attempt_at = now(),
                pending_since = CASE WHEN state = 'pending' THEN pending_since ELSE now() END
          WHERE webhook_id = $1 AND delivery_id = $2",
    )
    .bind(webhook_id)
    .bind(delivery_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Pending deliveries and the age in seconds of the oldest (0 when none), for the metrics.
pub async fn backlog(db: impl PgExecutor<'_>) -> Result<(i64, f64)> {
    Ok(sqlx::query_as(
        "SELECT count(*),
                coalesce(extract(epoch FROM now() - min(created_at))::float8, 0)
           FROM webhook_deliveries WHERE state = 'pending'",
    )
    .fetch_one(db)
    .await?)
}
