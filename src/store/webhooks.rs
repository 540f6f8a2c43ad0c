//! Webhook endpoints: what each subscribes to, where it is delivered, its signing secrets.

use super::Result;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub webhook_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub segmentation_id: Option<Uuid>,
    pub description: String,
    pub batch_size: i32,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "webhook_id, url, events, segmentation_id, description, batch_size, secret,
                       previous_secret, previous_until, enabled, disabled_reason, disabled_at,
                       created_at, updated_at";

/// What a user sets on a webhook (create, or every field of a change).
#[derive(Debug, Clone)]
pub struct WebhookFields<'a> {
    pub url: &'a str,
    pub events: &'a [String],
    pub segmentation_id: Option<Uuid>,
    pub description: &'a str,
    pub batch_size: i32,
    pub enabled: bool,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    webhook_id: Uuid,
    fields: &WebhookFields<'_>,
    secret: &str,
) -> Result<WebhookRow> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhooks (webhook_id, url, events, segmentation_id, description, batch_size,
                               secret, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING {COLUMNS}"
    )))
    .bind(webhook_id)
    .bind(fields.url)
    .bind(fields.events)
    .bind(fields.segmentation_id)
    .bind(fields.description)
    .bind(fields.batch_size)
    .bind(secret)
    .bind(fields.enabled)
    .fetch_one(db)
    .await?)
}

pub async fn find(db: impl PgExecutor<'_>, webhook_id: Uuid) -> Result<Option<WebhookRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks WHERE webhook_id = $1"
    )))
    .bind(webhook_id)
    .fetch_optional(db)
    .await?)
}

/// Locks the webhook's row until the transaction ends.
pub async fn find_for_update(
    db: impl PgExecutor<'_>,
    webhook_id: Uuid,
) -> Result<Option<WebhookRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks WHERE webhook_id = $1 FOR UPDATE"
    )))
    .bind(webhook_id)
    .fetch_optional(db)
    .await?)
}

/// Every webhook, oldest first.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<WebhookRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks ORDER BY created_at, webhook_id"
    )))
    .fetch_all(db)
    .await?)
}

/// Sets the user's fields. Enabling clears why it was disabled; disabling by hand says so.
pub async fn update(
    db: impl PgExecutor<'_>,
    webhook_id: Uuid,
    fields: &WebhookFields<'_>,
) -> Result<WebhookRow> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhooks SET url = $2, events = $3, segmentation_id = $4, description = $5,
                batch_size = $6,
                disabled_reason = CASE WHEN $7 THEN NULL
                                       WHEN enabled THEN 'disabled by a user'
                                       ELSE disabled_reason END,
                disabled_at = CASE WHEN $7 THEN NULL WHEN enabled THEN now() ELSE disabled_at END,
                enabled = $7
          WHERE webhook_id = $1
         RETURNING {COLUMNS}"
    )))
    .bind(webhook_id)
    .bind(fields.url)
    .bind(fields.events)
    .bind(fields.segmentation_id)
    .bind(fields.description)
    .bind(fields.batch_size)
    .bind(fields.enabled)
    .fetch_one(db)
    .await?)
}

pub async fn delete(db: impl PgExecutor<'_>, webhook_id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM webhooks WHERE webhook_id = $1")
        .bind(webhook_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A new secret; the current one keeps signing (beside it) until `previous_until`.
pub async fn rotate(
    db: impl PgExecutor<'_>,
    webhook_id: Uuid,
    secret: &str,
    previous_until: DateTime<Utc>,
) -> Result<Option<WebhookRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhooks SET previous_secret = secret, previous_until = $3, secret = $2
          WHERE webhook_id = $1
         RETURNING {COLUMNS}"
    )))
    .bind(webhook_id)
    .bind(secret)
    .bind(previous_until)
    .fetch_optional(db)
    .await?)
}

/// Disables a webhook that keeps failing, saying why.
pub async fn disable(db: impl PgExecutor<'_>, webhook_id: Uuid, reason: &str) -> Result<()> {
    sqlx::query(
        "UPDATE webhooks SET enabled = false, disabled_reason = $2, disabled_at = now()
          WHERE webhook_id = $1 AND enabled",
    )
    .bind(webhook_id)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}
