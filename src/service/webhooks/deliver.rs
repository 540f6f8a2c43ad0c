//! One delivery attempt: claim the next delivery due (its row stays locked until the attempt
//! is recorded, so a process killed mid-attempt leaves it pending for any replica), build
//! its body, sign it (Standard Webhooks), POST it with bounded time and answer size, and
//! record what came back: delivered, a retry after an exponential backoff with jitter, or,
//! after `give_up_after`, failed with the webhook disabled and the reason said.

use super::WebhookSettings;
use crate::domain::webhook::payload::{
    ActivationEvent, ChangedCustomer, Envelope, MembershipChanges, SegmentSide,
};
use crate::domain::webhook::{AllowedNetworks, EventType, Secret, WebhookUrl, signature_header};
use crate::error::{Error, Result};
use crate::store::outbox::{self, Attempt, Claimed, Next};
use crate::store::{self, Conn, Pool, activations, webhooks};
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most of an answer's body read (the rest is not waited for).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The most of an answer's body kept in the delivery log.
const EXCERPT_BYTES: usize = 1024;

/// Whether a webhook URL's host is one deliveries may reach: an address is checked as it is,
/// a name by what it resolves to now (a name that does not resolve yet is accepted; every
/// delivery resolves it again and checks each address).
pub async fn check_destination(
    url: &WebhookUrl,
    allow: AllowedNetworks,
) -> std::result::Result<(), String> {
    if let Some(ip) = url.ip() {
        return allow
            .check(ip)
            .map_err(|r| format!("{ip} is {}", r.describe()));
    }
    let lookup = tokio::net::lookup_host((url.host(), url.port()));
    if let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(2), lookup).await {
        for addr in addrs {
            allow.check(addr.ip()).map_err(|r| {
                format!(
                    "`{}` resolves to {}, {}",
                    url.host(),
                    addr.ip(),
                    r.describe()
                )
            })?;
        }
    }
    Ok(())
}

/// Name resolution for deliveries: only the addresses the policy allows are connected to,
/// so a name cannot be pointed at a private address after its webhook was created.
struct GuardedResolver {
    allow: AllowedNetworks,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow.check(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                let refused = found
                    .first()
                    .and_then(|a| allow.check(a.ip()).err().map(|r| (a.ip(), r)));
                let why = refused.map_or("nothing".to_owned(), |(ip, r)| {
                    format!("{ip}, {}", r.describe())
                });
                return Err(format!("`{host}` resolves to {why}").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client deliveries use: no redirects followed, no proxy from the environment,
/// bounded time, names resolved through the network policy.
pub fn client(settings: &WebhookSettings) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .dns_resolver(Arc::new(GuardedResolver {
            allow: settings.allow,
        }))
        .user_agent(concat!("segstore-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Internal(e.into()))
}

/// What an attempt got back.
#[derive(Debug)]
enum Answer {
    Status { code: u16, excerpt: String },
    Nothing(String),
}

/// Delivers the next delivery due, if any; `false` when none is due.
pub async fn deliver_next(
    pool: &Pool,
    client: &reqwest::Client,
    settings: &WebhookSettings,
) -> Result<bool> {
    let mut tx = store::begin(pool).await?;
    let Some(claimed) = outbox::claim(&mut tx).await? else {
        return Ok(false);
    };
    let body = body(&mut tx, &claimed).await?;
    let id = format!("msg_{}", claimed.delivery_id.simple());
    let now = Utc::now();
    let timestamp = now.timestamp();
    let current =
        Secret::parse(&claimed.secret).map_err(|e| Error::Internal(anyhow::anyhow!(e.0)))?;
    let previous = match (&claimed.previous_secret, claimed.previous_until) {
        (Some(s), Some(until)) if until > now => {
            Some(Secret::parse(s).map_err(|e| Error::Internal(anyhow::anyhow!(e.0)))?)
        }
        _ => None,
    };
    let secrets: Vec<&Secret> = std::iter::once(&current).chain(previous.as_ref()).collect();
    let signature = signature_header(&secrets, &id, timestamp, &body);
    let started = Instant::now();
    let answer = send(
        client,
        settings,
        &claimed.url,
        &id,
        timestamp,
        &signature,
        body,
    )
    .await;
    let latency = started.elapsed();
    let attempt = claimed.attempts + 1;
    let (next, disable) = decide(settings, &claimed, &answer, attempt, now);
    let (status_code, error, excerpt) = match answer {
        Answer::Status { code, excerpt } => (Some(i32::from(code)), None, Some(excerpt)),
        Answer::Nothing(why) => (None, Some(why), None),
    };
    outbox::record(
        &mut tx,
        claimed.delivery_id,
        &Attempt {
            attempt,
            attempted_at: now,
            status_code,
            latency_ms: latency.as_secs_f64() * 1e3,
            error,
            response_excerpt: excerpt.filter(|e| !e.is_empty()),
        },
        next,
    )
    .await?;
    if let Some(reason) = &disable {
        webhooks::disable(&mut *tx, claimed.webhook_id, reason).await?;
        tracing::warn!(webhook_id = %claimed.webhook_id, reason, "webhook disabled");
    }
    store::commit(tx).await?;
    let outcome = match next {
        Next::Delivered => "delivered",
        Next::RetryAt(_) => "retry",
        Next::Failed => "failed",
    };
    metrics::counter!("segstore_webhook_attempts_total", "outcome" => outcome).increment(1);
    metrics::histogram!("segstore_webhook_attempt_duration_seconds").record(latency.as_secs_f64());
    tracing::debug!(delivery_id = %claimed.delivery_id, attempt, outcome, ms = latency.as_secs_f64() * 1e3, "webhook attempt");
    Ok(true)
}

/// The delivery's body: the envelope around the event's data; a membership change batch
/// reads its changes (immutable, so every attempt sends the same ones).
async fn body(tx: &mut Conn, d: &Claimed) -> Result<Vec<u8>> {
    let data = match (d.event_type, d.segmentation_id, d.first_ord, d.last_ord) {
        (EventType::MembershipChanged, Some(segmentation_id), Some(first), Some(last)) => {
            let activation: ActivationEvent =
                serde_json::from_value(d.data.0.clone()).map_err(|e| Error::Internal(e.into()))?;
            let rows = activations::changes_of_activation(
                &mut *tx,
                segmentation_id,
                activation.activation,
                first,
                last,
            )
            .await?;
            let side = |segment: Option<i32>, label: Option<String>| {
                segment.map(|segment_id| SegmentSide { segment_id, label })
            };
            let changes = rows
                .into_iter()
                .map(|c| ChangedCustomer {
                    change: c.change(),
                    from: side(c.from_segment, c.from_label),
                    to: side(c.to_segment, c.to_label),
                    customer_id: c.external_id,
                })
                .collect();
            serde_json::to_value(MembershipChanges {
                total: activation.entered + activation.moved + activation.left,
                activation,
                first,
                last,
                changes,
            })
            .map_err(|e| Error::Internal(e.into()))?
        }
        _ => d.data.0.clone(),
    };
    serde_json::to_vec(&Envelope {
        kind: d.event_type,
        timestamp: d.event_at,
        data,
    })
    .map_err(|e| Error::Internal(e.into()))
}

async fn send(
    client: &reqwest::Client,
    settings: &WebhookSettings,
    url: &str,
    id: &str,
    timestamp: i64,
    signature: &str,
    body: Vec<u8>,
) -> Answer {
    let url = match WebhookUrl::parse(url) {
        Ok(url) => url,
        Err(e) => return Answer::Nothing(format!("the URL does not parse: {}", e.0)),
    };
    // Addresses in the URL are not resolved, so the resolver cannot check them.
    if let Some(ip) = url.ip()
        && let Err(r) = settings.allow.check(ip)
    {
        return Answer::Nothing(format!("not sent: {ip} is {}", r.describe()));
    }
    let sent = client
        .post(url.as_str())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => return Answer::Nothing(describe(&e)),
    };
    let code = response.status().as_u16();
    let mut read = Vec::new();
    while read.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    read.truncate(EXCERPT_BYTES);
    Answer::Status {
        code,
        excerpt: String::from_utf8_lossy(&read).into_owned(),
    }
}

/// What went wrong, without the URL (it is in the webhook) and in a sentence.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "no answer in time".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The attempt's consequence, and the reason to disable the webhook if it must be.
fn decide(
    settings: &WebhookSettings,
    d: &Claimed,
    answer: &Answer,
    attempt: i32,
    now: DateTime<Utc>,
) -> (Next, Option<String>) {
    let last = match answer {
        Answer::Status { code, .. } if (200..300).contains(code) => return (Next::Delivered, None),
        Answer::Status { code: 410, .. } => {
            return (
                Next::Failed,
                Some("the endpoint answered 410 Gone: it asked for no more deliveries".into()),
            );
        }
        Answer::Status { code, .. } => format!("HTTP {code}"),
        Answer::Nothing(why) => why.clone(),
    };
    let pending = (now - d.pending_since).to_std().unwrap_or_default();
    if pending >= settings.give_up_after {
        let reason = format!(
            "delivery {} kept failing for {} ({attempt} attempts); the last: {last}",
            d.delivery_id,
            humanize(settings.give_up_after)
        );
        return (Next::Failed, Some(reason));
    }
    (Next::RetryAt(now + backoff(settings, attempt)), None)
}

/// The wait before attempt `attempt + 1`: `retry_base · 2^(attempt − 1)`, at most `max_wait`,
/// with equal jitter (half fixed, half random) so that endpoints coming back are not hit by
/// every delivery at once.
fn backoff(settings: &WebhookSettings, attempt: i32) -> chrono::Duration {
    use rand::Rng;
    let exponent = attempt.clamp(1, 30) as u32 - 1;
    let wait = settings
        .retry_base
        .saturating_mul(1 << exponent.min(20))
        .min(settings.max_wait);
    let half = wait / 2;
    let jitter = half.mul_f64(rand::thread_rng().r#gen::<f64>());
    chrono::Duration::from_std(half + jitter).unwrap_or(chrono::Duration::MAX)
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let settings = WebhookSettings {
            retry_base: Duration::from_secs(5),
            max_wait: Duration::from_secs(3600),
            ..WebhookSettings::default()
        };
        for attempt in 1..=12 {
            let full = (5u64 << (attempt - 1)).min(3600);
            for _ in 0..20 {
                let w = backoff(&settings, attempt).to_std().unwrap().as_secs_f64();
                assert!(w >= full as f64 / 2.0 && w <= full as f64, "{attempt}: {w}");
            }
        }
    }
}
