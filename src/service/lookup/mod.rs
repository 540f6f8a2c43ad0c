//! The customer lookup (the hot path CRMs call per customer), served from memory.
//!
//! A run's assignments never change once written, so each replica keeps whole runs in memory
//! (ids packed and sorted, found by binary search), loaded in the background on first use (one
//! run at a time, the active run first, on connections of their own) and evicted least
//! recently used beyond a byte budget; until a run is loaded, its lookups go to PostgreSQL (one
//! query for every run not in memory). What changes is which runs a segmentation has and which is active: that small
//! record is cached for `ttl` at most, and dropped at once when this process activates,
//! retrains, retains or deletes (the drop and the commit happen under one gate, so no
//! lookup in this process sees the old state after the commit). Another replica's changes
//! are announced (`LISTEN/NOTIFY`, `service::events`) and forgotten on hearing them, within
//! milliseconds; while this replica is not listening, records are re-read after `ttl`.

mod assignments;
mod change_times;
mod records;
mod runs;

use crate::domain::SegmentationId;
use crate::domain::run::HistoryEntry;
use crate::domain::run::ScoreKind;
use crate::error::{Error, Result};
use crate::store::Pool;
use crate::store::{assignments as store_assignments, customers};
use assignments::CachedAssignments;
use change_times::{ActiveRun, ChangeTimes};
use chrono::{DateTime, Utc};
use records::Records;
use runs::RunCache;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::RwLock;
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub struct LookupSettings {
    /// Memory for cached runs; 0 turns the cache off (every lookup reads PostgreSQL).
    pub budget_bytes: usize,
    /// How long a segmentation's run list is trusted (changes made by other replicas).
    pub ttl: Duration,
}

impl Default for LookupSettings {
    fn default() -> Self {
        Self {
            budget_bytes: 512 << 20,
            ttl: Duration::from_secs(1),
        }
    }
}

/// A customer's segments: in the active run, and in every run that kept its assignments.
pub struct CustomerSegments {
    pub active_run_id: Option<Uuid>,
    /// Since when the customer has been in their current segment (the activation that put
    /// them there); `None` without a current segment or when that predates the change feed.
    pub since: Option<DateTime<Utc>>,
    pub score: ScoreKind,
    pub history: Vec<HistoryEntry>,
}

/// Connections the background loads of runs and change times have to themselves.
const LOADER_CONNECTIONS: u32 = 2;

pub struct LookupCache {
    pool: Pool,
    /// Connections of their own for loading runs and change times: a 10M-row load takes
    /// seconds, and must not hold a connection the lookups it serves wait for meanwhile.
    loader: Pool,
    /// Runs load one at a time, in the order asked (the active run first): the first lookups
    /// of a cold replica are answered from memory as soon as possible, and from PostgreSQL
    /// until then.
    loads: tokio::sync::Semaphore,
    settings: LookupSettings,
    records: Mutex<Records>,
    runs: Mutex<RunCache>,
    change_times: Mutex<ChangeTimes>,
    /// Held for writing around a commit that changes what lookups see and its invalidation.
    gate: RwLock<()>,
    /// Whether other replicas' changes are heard (then records need no TTL).
    listening: std::sync::atomic::AtomicBool,
}

/// A cache's lock; a panic while it was held left nothing half-done that matters.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl LookupCache {
    pub fn new(pool: Pool, settings: LookupSettings) -> Arc<Self> {
        Arc::new(Self {
            loader: pool.sibling(LOADER_CONNECTIONS),
            loads: tokio::sync::Semaphore::new(1),
            pool,
            settings,
            records: Mutex::default(),
            runs: Mutex::default(),
            change_times: Mutex::default(),
            gate: RwLock::new(()),
            listening: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether announcements of other replicas' changes are heard now: while they are, a
    /// cached record is kept until one says it changed; while not, for `ttl` at most.
    pub fn set_listening(&self, listening: bool) {
        self.listening
            .store(listening, std::sync::atomic::Ordering::Release);
    }

    /// Runs `commit` (the transaction that changes a segmentation's runs) and forgets the
    /// segmentation's cached record, with lookups of this process held off in between.
    pub async fn changing<T, F: Future<Output = T>>(&self, segmentation_id: Uuid, commit: F) -> T {
        let _gate = self.gate.write().await;
        let out = commit.await;
        self.forget(segmentation_id);
        out
    }

    /// Forgets a segmentation's record (and, with it gone, its runs are reloaded on use).
    pub fn forget(&self, segmentation_id: Uuid) {
        lock(&self.records).forget(segmentation_id);
    }

    /// Forgets every cached record and run (a customer was erased, or announcements may have
    /// been missed); loads in flight are not kept.
    pub fn forget_all(&self) {
        lock(&self.records).forget_all();
        lock(&self.runs).forget_all();
        lock(&self.change_times).forget_all();
    }

    /// Drops a run's cached assignments (retention dropped them).
    pub fn forget_run(&self, run_id: Uuid) {
        lock(&self.runs).forget(run_id);
    }

    /// A customer's segment in the active run and its history.
    pub async fn customer(
        self: &Arc<Self>,
        segmentation_id: SegmentationId,
        customer_id: &str,
    ) -> Result<CustomerSegments> {
        let id = segmentation_id.uuid();
        let record = {
            let _gate = self.gate.read().await;
            self.record(id)
                .await?
                .ok_or_else(|| segmentation_id.not_found())?
        };
        let mut history = Vec::with_capacity(record.runs.len());
        // The active run first: on a cold replica it is the first to load.
        let cached: HashMap<Uuid, Option<Arc<CachedAssignments>>> = record
            .runs
            .iter()
            .filter(|r| r.run.active)
            .chain(record.runs.iter().filter(|r| !r.run.active))
            .map(|r| (r.run.run_id, self.cached_run(r.run.run_id)))
            .collect();
        // What is not in memory yet, read in one round trip.
        let missing: Vec<Uuid> = cached
            .iter()
            .filter(|(_, data)| data.is_none())
            .map(|(id, _)| *id)
            .collect();
        let read = match missing.is_empty() {
            true => Vec::new(),
            false => store_assignments::find_in_runs(&self.pool, &missing, customer_id).await?,
        };
        // The active run's cached assignments: the change times are in their row order.
        let mut active_rows = None;
        for r in &record.runs {
            let data = cached.get(&r.run.run_id).cloned().flatten();
            let found = match &data {
                Some(data) => data.get(customer_id),
                None => read
                    .iter()
                    .find(|(id, _, _)| *id == r.run.run_id)
                    .map(|(_, segment, score)| (*segment, *score)),
            };
            if r.run.active {
                active_rows = data;
            }
            if let Some((segment, score)) = found {
                let label = segment.and_then(|s| r.labels.get(&s));
                history.push(HistoryEntry {
                    run_id: r.run.run_id,
                    finished_at: r.run.finished_at,
                    active: r.run.active,
                    segment,
                    score,
                    label: label.map(|l| l.0.clone()),
                    persona: label.and_then(|l| l.1.clone()),
                });
            }
        }
        let score = record
            .runs
            .iter()
            .find(|r| r.run.active)
            .map_or(ScoreKind::Distance, |r| r.run.score);
        // Unknown to every run: a stored customer not segmented yet, or nobody.
        if history.is_empty() && customers::find(&self.pool, customer_id).await?.is_none() {
            return Err(Error::NotFound(format!(
                "no customer with id `{customer_id}`"
            )));
        }
        let in_segment = history.iter().any(|h| h.active && h.segment.is_some());
        let since = match record.active {
            Some(run_id) if in_segment => {
                let active = ActiveRun {
                    run_id,
                    activation: record.activation,
                    rows: active_rows,
                };
                self.since(id, active, customer_id).await?
            }
            _ => None,
        };
        Ok(CustomerSegments {
            active_run_id: record.active,
            since,
            score,
            history,
        })
    }
}
