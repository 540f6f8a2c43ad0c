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

use crate::domain::SegmentationId;
use crate::domain::run::HistoryEntry;
use crate::domain::run::ScoreKind;
use crate::error::{Error, Result};
use crate::store::Pool;
use crate::store::activations;
use crate::store::assignments::{self, LoadedAssignments};
use crate::store::segments as store_segments;
use crate::store::{customers, runs};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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

#[derive(Debug)]
struct MetaRun {
    run: runs::LookupRun,
    /// Stable id → (label, persona).
    labels: HashMap<i32, (String, Option<String>)>,
}

#[derive(Debug)]
struct Meta {
    fetched: Instant,
    active: Option<Uuid>,
    /// The segmentation's latest activation (which made `active` active).
    activation: i64,
    runs: Vec<MetaRun>,
}

/// A segmentation's active run as a lookup found it.
struct ActiveRun {
    run_id: Uuid,
    activation: i64,
    /// Its assignments, when cached.
    rows: Option<Arc<LoadedAssignments>>,
}

/// Since when each customer of the active run has been in their segment, in the run's
/// row order (`i64::MIN`: no recorded change), as of one activation.
#[derive(Debug)]
struct SinceEntry {
    run_id: Uuid,
    activation: i64,
    /// `None` while loading.
    micros: Option<Arc<Vec<i64>>>,
}

#[derive(Debug)]
enum RunEntry {
    Loading,
    Ready {
        data: Arc<LoadedAssignments>,
        used: u64,
    },
}

impl Inner {
    /// The customers whose change time is in memory, on `/metrics`.
    fn publish_change_times(&self) {
        let rows: usize = self
            .since
            .values()
            .filter_map(|e| e.micros.as_ref().map(|m| m.len()))
            .sum();
        metrics::gauge!("segstore_lookup_change_times").set(rows as f64);
    }
}

#[derive(Debug, Default)]
struct Inner {
    meta: HashMap<Uuid, Arc<Meta>>,
    /// Segmentations whose record is being refreshed in the background.
    refreshing: std::collections::HashSet<Uuid>,
    runs: HashMap<Uuid, RunEntry>,
    /// By segmentation.
    since: HashMap<Uuid, SinceEntry>,
    tick: u64,
    bytes: usize,
    /// Counts forgets: a record read before one is not cached (it may predate the change).
    epoch: u64,
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
    inner: Mutex<Inner>,
    /// Held for writing around a commit that changes what lookups see and its invalidation.
    gate: RwLock<()>,
    /// Whether other replicas' changes are heard (then records need no TTL).
    listening: std::sync::atomic::AtomicBool,
}

impl LookupCache {
    pub fn new(pool: Pool, settings: LookupSettings) -> Arc<Self> {
        Arc::new(Self {
            loader: pool.sibling(2),
            loads: tokio::sync::Semaphore::new(1),
            pool,
            settings,
            inner: Mutex::new(Inner::default()),
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

    fn fresh(&self, meta: &Meta) -> bool {
        self.listening.load(std::sync::atomic::Ordering::Acquire)
            || meta.fetched.elapsed() < self.settings.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
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
        let mut inner = self.lock();
        inner.meta.remove(&segmentation_id);
        inner.epoch += 1;
    }

    /// Forgets every cached record and run (a customer was erased, or announcements may have
    /// been missed); loads in flight are not kept.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.meta.clear();
        inner.epoch += 1;
        inner.runs.clear();
        inner.since.clear();
        inner.bytes = 0;
        metrics::gauge!("segstore_lookup_cache_bytes").set(0.0);
        inner.publish_change_times();
    }

    /// Drops a run's cached assignments (retention dropped them).
    pub fn forget_run(&self, run_id: Uuid) {
        let mut inner = self.lock();
        if let Some(RunEntry::Ready { data, .. }) = inner.runs.remove(&run_id) {
            inner.bytes -= data.bytes();
        }
        metrics::gauge!("segstore_lookup_cache_bytes").set(inner.bytes as f64);
    }

    /// The segmentation's record: cached; or, when older than `ttl`, the cached one while a
    /// background task refreshes it (lookups never wait for that); or read now when absent.
    async fn meta(self: &Arc<Self>, segmentation_id: Uuid) -> Result<Option<Arc<Meta>>> {
        let cached = self.lock().meta.get(&segmentation_id).cloned();
        match cached {
            Some(meta) if self.fresh(&meta) => Ok(Some(meta)),
            Some(meta) => {
                if self.lock().refreshing.insert(segmentation_id) {
                    let cache = self.clone();
                    tokio::spawn(async move {
                        let read = {
                            let _gate = cache.gate.read().await;
                            cache.read_meta(segmentation_id).await
                        };
                        if let Err(e) = read {
                            tracing::warn!(%segmentation_id, error = %e, "refreshing a lookup record failed");
                        }
                        cache.lock().refreshing.remove(&segmentation_id);
                    });
                }
                Ok(Some(meta))
            }
            None => self.read_meta(segmentation_id).await,
        }
    }

    /// Reads the segmentation's record from PostgreSQL and caches it.
    async fn read_meta(&self, segmentation_id: Uuid) -> Result<Option<Arc<Meta>>> {
        let epoch = self.lock().epoch;
        let Some(found) = runs::lookup_runs(&self.pool, segmentation_id).await? else {
            self.lock().meta.remove(&segmentation_id);
            return Ok(None);
        };
        let (active, activation, list) = (found.active, found.activation, found.runs);
        let ids: Vec<Uuid> = list.iter().map(|r| r.run_id).collect();
        let segments = store_segments::segments_of_runs(&self.pool, &ids).await?;
        let runs = list
            .into_iter()
            .map(|run| MetaRun {
                labels: segments
                    .iter()
                    .filter(|s| s.run_id == run.run_id)
                    .map(|s| (s.stable_id, (s.label.clone(), s.persona.clone())))
                    .collect(),
                run,
            })
            .collect();
        let meta = Arc::new(Meta {
            fetched: Instant::now(),
            active,
            activation,
            runs,
        });
        let mut inner = self.lock();
        // A change announced while this was read: serve it this once, cache nothing.
        if inner.epoch == epoch {
            inner.meta.insert(segmentation_id, meta.clone());
        }
        Ok(Some(meta))
    }

    /// The run's assignments if cached; otherwise starts loading them (once) and says no.
    fn cached_run(self: &Arc<Self>, run_id: Uuid) -> Option<Arc<LoadedAssignments>> {
        let cached = self.cached_or_load(run_id);
        let counter = match cached {
            Some(_) => "segstore_lookup_cache_hits_total",
            None => "segstore_lookup_cache_misses_total",
        };
        metrics::counter!(counter).increment(1);
        cached
    }

    /// The run's assignments if cached; otherwise queues their load (once).
    fn cached_or_load(self: &Arc<Self>, run_id: Uuid) -> Option<Arc<LoadedAssignments>> {
        if self.settings.budget_bytes == 0 {
            return None;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        match inner.runs.get_mut(&run_id) {
            Some(RunEntry::Ready { data, used }) => {
                *used = tick;
                return Some(data.clone());
            }
            Some(RunEntry::Loading) => return None,
            None => {}
        }
        inner.runs.insert(run_id, RunEntry::Loading);
        drop(inner);
        let cache = self.clone();
        tokio::spawn(async move {
            // The semaphore is never closed.
            let _turn = cache.loads.acquire().await;
            let started = Instant::now();
            match assignments::load(&cache.loader, run_id).await {
                Ok(data) => {
                    tracing::info!(%run_id, rows = data.len(), bytes = data.bytes(),
                        ms = started.elapsed().as_secs_f64() * 1e3, "run cached for lookups");
                    cache.insert(run_id, data);
                }
                Err(e) => {
                    tracing::warn!(%run_id, error = %e, "caching a run failed");
                    cache.lock().runs.remove(&run_id);
                }
            }
        });
        None
    }

    fn insert(&self, run_id: Uuid, data: LoadedAssignments) {
        let mut inner = self.lock();
        // Forgotten meanwhile (retention): do not resurrect it.
        if !matches!(inner.runs.get(&run_id), Some(RunEntry::Loading)) {
            return;
        }
        let size = data.bytes();
        // Evict the least recently used runs until the new one fits.
        while inner.bytes + size > self.settings.budget_bytes {
            let oldest = inner
                .runs
                .iter()
                .filter_map(|(id, e)| match e {
                    RunEntry::Ready { used, data } => Some((*used, *id, data.bytes())),
                    RunEntry::Loading => None,
                })
                .min();
            match oldest {
                Some((_, id, bytes)) => {
                    inner.runs.remove(&id);
                    inner.bytes -= bytes;
                }
                None => break,
            }
        }
        if inner.bytes + size > self.settings.budget_bytes {
            inner.runs.remove(&run_id);
            return;
        }
        inner.tick += 1;
        let used = inner.tick;
        inner.bytes += size;
        metrics::gauge!("segstore_lookup_cache_bytes").set(inner.bytes as f64);
        inner.runs.insert(
            run_id,
            RunEntry::Ready {
                data: Arc::new(data),
                used,
            },
        );
    }

    /// Since when a customer of the active run `run_id` (of activation `activation`) has been
    /// in their segment: from memory once the run and its change times are cached (loaded in
    /// the background on first use), from PostgreSQL until then.
    async fn since(
        self: &Arc<Self>,
        segmentation_id: Uuid,
        active: ActiveRun,
        customer_id: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let ActiveRun {
            run_id,
            activation,
            rows,
        } = active;
        // Change times are cached in the run's row order: once its rows are.
        if self.settings.budget_bytes > 0
            && let Some(data) = rows
        {
            let cached = {
                let mut inner = self.lock();
                match inner.since.get(&segmentation_id) {
                    Some(e) if e.run_id == run_id && e.activation == activation => e.micros.clone(),
                    _ => {
                        inner.since.insert(
                            segmentation_id,
                            SinceEntry {
                                run_id,
                                activation,
                                micros: None,
                            },
                        );
                        inner.publish_change_times();
                        self.load_since(segmentation_id, run_id, activation, data.clone());
                        None
                    }
                }
            };
            // Built against these very rows: aligned by construction.
            if let Some(micros) = cached
                && micros.len() == data.len()
                && let Some(i) = data.position(customer_id)
            {
                let at = micros[i];
                return Ok((at != i64::MIN)
                    .then(|| DateTime::from_timestamp_micros(at))
                    .flatten());
            }
        }
        Ok(activations::since(&self.pool, segmentation_id, customer_id).await?)
    }

    /// Loads the change times of the active run's customers in the background, in the order
    /// of its cached `rows`.
    fn load_since(
        self: &Arc<Self>,
        segmentation_id: Uuid,
        run_id: Uuid,
        activation: i64,
        rows: Arc<LoadedAssignments>,
    ) {
        let cache = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let loaded = activations::latest_change_micros(
                &cache.loader,
                segmentation_id,
                activation,
                rows.len(),
                |id| rows.position(id),
            )
            .await;
            let mut inner = cache.lock();
            let Some(entry) = inner.since.get_mut(&segmentation_id) else {
                return; // forgotten meanwhile
            };
            if entry.run_id != run_id || entry.activation != activation {
                return;
            }
            match loaded {
                Ok(micros) => {
                    tracing::info!(%run_id, rows = micros.len(),
                        ms = started.elapsed().as_secs_f64() * 1e3, "change times cached for lookups");
                    entry.micros = Some(Arc::new(micros));
                }
                Err(e) => {
                    tracing::warn!(%run_id, error = %e, "caching change times failed");
                    inner.since.remove(&segmentation_id);
                }
            }
            inner.publish_change_times();
        });
    }

    /// A customer's segment in the active run and its history.
    pub async fn customer(
        self: &Arc<Self>,
        segmentation_id: SegmentationId,
        customer_id: &str,
    ) -> Result<CustomerSegments> {
        let id = segmentation_id.uuid();
        let meta = {
            let _gate = self.gate.read().await;
            self.meta(id)
                .await?
                .ok_or_else(|| segmentation_id.not_found())?
        };
        let mut history = Vec::with_capacity(meta.runs.len());
        // The active run first: on a cold replica it is the first to load.
        let cached: HashMap<Uuid, Option<Arc<LoadedAssignments>>> = meta
            .runs
            .iter()
            .filter(|r| r.run.active)
            .chain(meta.runs.iter().filter(|r| !r.run.active))
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
            false => assignments::find_in_runs(&self.pool, &missing, customer_id).await?,
        };
        // The active run's cached assignments: the change times are in their row order.
        let mut active_rows = None;
        for r in &meta.runs {
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
        let score = meta
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
        let since = match meta.active {
            Some(run_id) if in_segment => {
                let active = ActiveRun {
                    run_id,
                    activation: meta.activation,
                    rows: active_rows,
                };
                self.since(id, active, customer_id).await?
            }
            _ => None,
        };
        Ok(CustomerSegments {
            active_run_id: meta.active,
            since,
            score,
            history,
        })
    }
}
