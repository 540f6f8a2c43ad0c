//! The audit log: what the HTTP gate records of each write, train and admin call, key
//! changes made from the command line, refused sign-ins, and refused requests counted per
//! source address and minute; and its pages. A customer's id is recorded only as a keyed
//! reference (HMAC-SHA256 with a server secret created at the first start): the log can be
//! read and exported without naming customers, and an erasure replaces the erased
//! customer's reference.

use crate::error::Result;
use crate::store::Pool;
pub use crate::store::audit::{Actor, Entry, Filter, NewEntry};
use hmac::{Hmac, Mac};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

/// The name of the audit log's key among the server's secrets.
const KEY_NAME: &str = "audit_customer_reference";

/// What an erased customer's references become.
pub const ERASED_REFERENCE: &str = "an erased customer";

/// The route of an entry that counts refused requests.
pub const REFUSED_REQUESTS: &str = "(refused requests)";

/// At most this many (address, status) pairs are counted between two flushes; past that,
/// refusals are counted without their address.
const MAX_REFUSAL_SOURCES: usize = 10_000;

/// A call to record: its parameters, and which of them are customer ids.
#[derive(Debug, Clone)]
pub struct Call {
    pub actor: Actor,
    pub method: String,
    pub route: String,
    /// Parameter values (and `location`), as they are.
    pub targets: BTreeMap<String, String>,
    /// Parameters that are customer ids: recorded as references.
    pub customers: Vec<(String, String)>,
    /// Whether the call erases those customers: once it has (a 2xx), they are recorded as
    /// erased, not by reference.
    pub erases: bool,
    pub status: u16,
    pub request_id: Option<String>,
    /// The client's address (recorded when the actor is not a key).
    pub source: Option<IpAddr>,
}

/// The audit log of one server: its pool, its key once read, and the refusals counted since
/// the last flush.
pub struct AuditLog {
    pool: Pool,
    key: tokio::sync::OnceCell<Vec<u8>>,
    refusals: Mutex<HashMap<(Option<IpAddr>, u16), u32>>,
}

impl AuditLog {
    pub fn new(pool: Pool) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            pool,
            key: tokio::sync::OnceCell::new(),
            refusals: Mutex::default(),
        })
    }

    /// The key, read (or created, at the first start) once.
    async fn key(&self) -> Result<&[u8]> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let mut fresh = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut fresh);
                crate::store::secrets::get_or_create(&self.pool, KEY_NAME, &fresh).await
            })
            .await?;
        Ok(key)
    }

    /// A customer's reference in the log: `hmac-sha256:<hex>`.
    pub async fn customer_reference(&self, id: &str) -> Result<String> {
        let key = self.key().await?;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key)
            .map_err(|e| crate::error::Error::Internal(anyhow::anyhow!(e)))?;
        mac.update(id.as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("hmac-sha256:{hex}"))
    }

    /// Records a call. A failure is logged, not returned: the call has happened already.
    pub async fn record(&self, call: Call) {
        let mut targets = call.targets;
        let erased = call.erases && (200..300).contains(&call.status);
        for (name, id) in call.customers {
            if erased {
                targets.insert(name, ERASED_REFERENCE.to_owned());
                continue;
            }
            match self.customer_reference(&id).await {
                Ok(reference) => targets.insert(name, reference),
                Err(e) => {
                    tracing::error!(error = %e, "the audit log's key could not be read");
                    targets.insert(name, "unrecorded customer".to_owned())
                }
            };
        }
        let source = match call.actor {
            Actor::Key(_) => None,
            _ => call.source,
        };
        write(
            &self.pool,
            &[NewEntry {
                actor: call.actor,
                method: call.method,
                route: call.route,
                targets,
                status: call.status,
                request_id: call.request_id,
                source,
                count: 1,
            }],
        )
        .await;
    }

    /// Counts a refused request (it is neither logged nor recorded one by one: a flood would
    /// fill both).
    pub fn count_refusal(&self, source: IpAddr, status: u16) {
        thread_local! {
            /// Each worker thread's counters by status (no label built per refusal).
            static COUNTERS: std::cell::RefCell<HashMap<u16, metrics::Counter>> =
                Default::default();
        }
        COUNTERS.with_borrow_mut(|counters| {
            counters
                .entry(status)
                .or_insert_with(|| {
                    metrics::counter!("segstore_refused_requests_total",
                        "status" => status.to_string())
                })
                .increment(1);
        });
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let key = if refusals.len() < MAX_REFUSAL_SOURCES
            || refusals.contains_key(&(Some(source), status))
        {
            (Some(source), status)
        } else {
            (None, status)
        };
        *refusals.entry(key).or_default() += 1;
    }

    /// Writes the refusals counted since the last flush: a log line per source address and an
    /// audit entry per source and status.
    pub async fn flush_refusals(&self) {
        let counted: Vec<((Option<IpAddr>, u16), u32)> =
            std::mem::take(&mut *self.refusals.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        if counted.is_empty() {
            return;
        }
        let mut by_source: BTreeMap<Option<IpAddr>, BTreeMap<u16, u32>> = BTreeMap::new();
        for ((source, status), n) in &counted {
            by_source.entry(*source).or_default().insert(*status, *n);
        }
        for (source, statuses) in &by_source {
            let total: u32 = statuses.values().sum();
            let statuses: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
            let source = source.map_or_else(|| "other addresses".to_owned(), |a| a.to_string());
            tracing::info!(%source, total, statuses = %statuses.join(", "), "refused requests");
        }
        let entries: Vec<NewEntry> = counted
            .into_iter()
            .map(|((source, status), count)| NewEntry {
                actor: Actor::Anonymous,
                method: "*".to_owned(),
                route: REFUSED_REQUESTS.to_owned(),
                targets: BTreeMap::new(),
                status,
                request_id: None,
                source,
                count,
            })
            .collect();
        write(&self.pool, &entries).await;
    }

    /// Flushes the counted refusals every `every` until the runtime ends.
    pub fn spawn_flusher(self: &std::sync::Arc<Self>, every: std::time::Duration) {
        let log = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(log) = log.upgrade() else { return };
                log.flush_refusals().await;
            }
        });
    }
}

/// Writes entries; a failure is logged, not returned (what they record has happened).
async fn write(pool: &Pool, entries: &[NewEntry]) {
    if let Err(e) = crate::store::audit::insert(pool, entries).await {
        tracing::error!(error = %e, entries = entries.len(), "audit entries could not be written");
    }
}

/// The entry of a key change made from the command line (`segstore keys`, the first start),
/// written in the transaction of the change.
pub fn command_entry(command: &str, key_id: uuid::Uuid, status: u16) -> NewEntry {
    NewEntry {
        actor: Actor::CommandLine,
        method: "CLI".to_owned(),
        route: command.to_owned(),
        targets: BTreeMap::from([("id".to_owned(), key_id.to_string())]),
        status,
        request_id: None,
        source: None,
        count: 1,
    }
}

/// Entries, newest first.
pub async fn list(pool: &Pool, filter: Filter) -> Result<Vec<Entry>> {
    Ok(crate::store::audit::list(pool, filter).await?)
}
