//! Webhook endpoints (create, read, change, delete, rotate the secret, ping) and their
//! delivery logs. Deliveries themselves are in [`deliver`], run by `jobs::webhooks`.

pub mod deliver;

pub use crate::domain::webhook::AllowedNetworks;
pub use crate::domain::webhook::DeliveryState;
use crate::domain::webhook::payload::PingEvent;
use crate::domain::webhook::{Secret, Subscriptions, WebhookUrl};
use crate::error::{Error, Result};
use crate::store::outbox;
pub use crate::store::outbox::{AttemptRow, DeliveryRow};
pub use crate::store::webhooks::WebhookRow;
use crate::store::webhooks::{self as store, WebhookFields};
use crate::store::{Pool, segmentations};
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// How webhooks are delivered (`--webhook-*`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Delivery workers in this process (0: this replica delivers nothing).
    pub workers: usize,
    /// How often an idle worker looks for deliveries due.
    pub poll: Duration,
    /// The longest an endpoint may take to answer (connecting included).
    pub timeout: Duration,
    /// The first retry's wait; each later one doubles it (with jitter), up to `max_wait`.
    pub retry_base: Duration,
    pub max_wait: Duration,
    /// A delivery still failing this long after it was written fails, and its webhook is
    /// disabled (a day by default).
    pub give_up_after: Duration,
    /// Networks besides the public internet that endpoints may be on.
    pub allow: AllowedNetworks,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            poll: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            max_wait: Duration::from_secs(6 * 3600),
            give_up_after: Duration::from_secs(24 * 3600),
            allow: AllowedNetworks::default(),
        }
    }
}

/// Membership changes per delivery when a webhook does not say.
pub const DEFAULT_BATCH: u32 = 1_000;
/// The most a webhook may ask for (a delivery's body stays a few MB at most).
pub const MAX_BATCH: u32 = 10_000;
/// The longest description.
pub const MAX_DESCRIPTION: usize = 500;
/// How long a rotated-out secret keeps signing, by default.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// The longest overlap a rotation may ask for.
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// A webhook as a user sets it, unchecked.
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    pub url: String,
    pub events: Vec<String>,
    pub segmentation_id: Option<Uuid>,
    pub description: String,
    pub batch_size: Option<u32>,
    pub enabled: bool,
}

/// A change: the fields given (`segmentation_id: Some(None)` removes the filter).
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub segmentation_id: Option<Option<Uuid>>,
    pub description: Option<String>,
    pub batch_size: Option<u32>,
    pub enabled: Option<bool>,
}

/// A webhook's checked fields.
struct Checked {
    url: WebhookUrl,
    events: Subscriptions,
    segmentation_id: Option<Uuid>,
    description: String,
    batch_size: i32,
    enabled: bool,
}

async fn check(pool: &Pool, allow: AllowedNetworks, input: WebhookInput) -> Result<Checked> {
    let url = WebhookUrl::parse(&input.url).map_err(|e| Error::invalid("url", e.0))?;
    deliver::check_destination(&url, allow)
        .await
        .map_err(|e| Error::invalid("url", e))?;
    let events = Subscriptions::parse(&input.events).map_err(|e| Error::invalid("events", e.0))?;
    if let Some(id) = input.segmentation_id
        && segmentations::find(pool, id).await?.is_none()
    {
        return Err(Error::invalid(
            "segmentation_id",
            format!("no segmentation with id `{id}`"),
        ));
    }
    if input.description.chars().count() > MAX_DESCRIPTION {
        return Err(Error::invalid(
            "description",
            format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    let batch = input.batch_size.unwrap_or(DEFAULT_BATCH);
    if !(1..=MAX_BATCH).contains(&batch) {
        return Err(Error::invalid(
            "batch_size",
            format!("must be between 1 and {MAX_BATCH}, got {batch}"),
        ));
    }
    Ok(Checked {
        url,
        events,
        segmentation_id: input.segmentation_id,
        description: input.description,
        batch_size: batch as i32,
        enabled: input.enabled,
    })
}

fn not_found(id: Uuid) -> Error {
    Error::NotFound(format!("no webhook with id `{id}`"))
}

/// Creates a webhook; returns it with its secret (shown this once).
#[tracing::instrument(skip_all)]
pub async fn create(
    pool: &Pool,
    allow: AllowedNetworks,
    input: WebhookInput,
) -> Result<(WebhookRow, Secret)> {
    let c = check(pool, allow, input).await?;
    let secret = Secret::generate();
    let names = c.events.names();
    let row = store::insert(
        pool,
        Uuid::new_v4(),
        &WebhookFields {
            url: c.url.as_str(),
            events: &names,
            segmentation_id: c.segmentation_id,
            description: &c.description,
            batch_size: c.batch_size,
            enabled: c.enabled,
        },
        &secret.expose(),
    )
    .await?;
    tracing::info!(webhook_id = %row.webhook_id, url = %row.url, "webhook created");
    Ok((row, secret))
}

pub async fn list(pool: &Pool) -> Result<Vec<WebhookRow>> {
    Ok(store::list(pool).await?)
}

pub async fn get(pool: &Pool, id: Uuid) -> Result<WebhookRow> {
    store::find(pool, id).await?.ok_or_else(|| not_found(id))
}

/// Changes the fields given. Enabling a disabled webhook resumes its deliveries where they
/// stopped, in order.
#[tracing::instrument(skip(pool, patch))]
pub async fn update(
    pool: &Pool,
    allow: AllowedNetworks,
    id: Uuid,
    patch: WebhookPatch,
) -> Result<WebhookRow> {
    let mut tx = crate::store::begin(pool).await?;
    let row = store::find_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let input = WebhookInput {
        url: patch.url.unwrap_or(row.url),
        events: patch.events.unwrap_or(row.events),
        segmentation_id: patch.segmentation_id.unwrap_or(row.segmentation_id),
        description: patch.description.unwrap_or(row.description),
        batch_size: Some(patch.batch_size.unwrap_or(row.batch_size as u32)),
        enabled: patch.enabled.unwrap_or(row.enabled),
    };
    let c = check(pool, allow, input).await?;
    let names = c.events.names();
    let row = store::update(
        &mut *tx,
        id,
        &WebhookFields {
            url: c.url.as_str(),
            events: &names,
            segmentation_id: c.segmentation_id,
            description: &c.description,
            batch_size: c.batch_size,
            enabled: c.enabled,
        },
    )
    .await?;
    crate::store::commit(tx).await?;
    Ok(row)
}

/// Deletes a webhook and its pending deliveries and logs.
pub async fn delete(pool: &Pool, id: Uuid) -> Result<()> {
    if store::delete(pool, id).await? {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

/// A new secret (shown this once); the current one keeps signing beside it for `overlap`,
/// so receivers can switch without losing a delivery.
#[tracing::instrument(skip(pool))]
pub async fn rotate(
    pool: &Pool,
    id: Uuid,
    overlap: Duration,
) -> Result<(WebhookRow, Secret, DateTime<Utc>)> {
    if overlap > MAX_OVERLAP {
        return Err(Error::invalid(
            "overlap_seconds",
            format!("at most {} (a week)", MAX_OVERLAP.as_secs()),
        ));
    }
    let secret = Secret::generate();
    let until = Utc::now()
        + chrono::Duration::from_std(overlap)
            .map_err(|e| Error::invalid("overlap_seconds", e.to_string()))?;
    let row = store::rotate(pool, id, &secret.expose(), until)
        .await?
        .ok_or_else(|| not_found(id))?;
    tracing::info!(webhook_id = %id, "webhook secret rotated");
    Ok((row, secret, until))
}

/// Sends a `webhook.ping` to the webhook (enabled or not: a disabled one's ping waits until
/// it is enabled). Returns the delivery's id.
pub async fn ping(pool: &Pool, id: Uuid) -> Result<Uuid> {
    let mut tx = crate::store::begin(pool).await?;
    store::find_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let data = serde_json::to_value(PingEvent {
        webhook_id: id,
        message: "segstore is calling: this endpoint is set up".into(),
    })
    .map_err(|e| Error::Internal(e.into()))?;
    let delivery = outbox::ping(&mut tx, id, &data).await?;
    crate::store::commit(tx).await?;
    Ok(delivery)
}

/// A page of a webhook's delivery log, newest first.
pub async fn deliveries(
    pool: &Pool,
    id: Uuid,
    state: Option<DeliveryState>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<DeliveryRow>> {
    get(pool, id).await?;
    Ok(outbox::deliveries(pool, id, state, before, i64::from(limit)).await?)
}

/// One delivery with every attempt.
pub async fn delivery(
    pool: &Pool,
    id: Uuid,
    delivery_id: Uuid,
) -> Result<(DeliveryRow, Vec<AttemptRow>)> {
    let row = outbox::delivery(pool, id, delivery_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no delivery `{delivery_id}` of webhook `{id}`")))?;
    let attempts = outbox::attempts(pool, delivery_id).await?;
    Ok((row, attempts))
}

/// Makes a delivery due now: a failed or delivered one is sent again (same `webhook-id`), a
/// pending one stops waiting for its backoff.
pub async fn retry(pool: &Pool, id: Uuid, delivery_id: Uuid) -> Result<DeliveryRow> {
    if !outbox::retry(pool, id, delivery_id).await? {
        return Err(Error::NotFound(format!(
            "no delivery `{delivery_id}` of webhook `{id}`"
        )));
    }
    Ok(delivery(pool, id, delivery_id).await?.0)
}
