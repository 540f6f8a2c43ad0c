//! Whole runs' assignments in memory: loaded in the background one run at a time, evicted
//! least recently used beyond the byte budget.

use super::assignments::CachedAssignments;
use super::{LookupCache, lock};
use crate::store::assignments;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

#[derive(Debug)]
enum CachedRun {
    Loading,
    Ready {
        data: Arc<CachedAssignments>,
        /// When it was last used, on the cache's clock.
        used: u64,
    },
}

/// The runs in memory and the bytes they hold.
#[derive(Debug, Default)]
pub(super) struct RunCache {
    entries: HashMap<Uuid, CachedRun>,
    /// A clock that ticks at each use, for least-recently-used eviction.
    clock: u64,
    bytes: usize,
}

impl RunCache {
    fn publish_bytes(&self) {
        metrics::gauge!("segstore_lookup_cache_bytes").set(self.bytes as f64);
    }

    pub(super) fn forget_all(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        self.publish_bytes();
    }

    pub(super) fn forget(&mut self, run_id: Uuid) {
        if let Some(CachedRun::Ready { data, .. }) = self.entries.remove(&run_id) {
            self.bytes -= data.bytes();
        }
        self.publish_bytes();
    }

    /// Keeps a loaded run, evicting the least recently used ones until it fits `budget`;
    /// drops it when it cannot fit, or when it was forgotten while it loaded.
    fn insert(&mut self, run_id: Uuid, data: CachedAssignments, budget: usize) {
        if !matches!(self.entries.get(&run_id), Some(CachedRun::Loading)) {
            return;
        }
        let size = data.bytes();
        while self.bytes + size > budget {
            let oldest = self
                .entries
                .iter()
                .filter_map(|(id, e)| match e {
                    CachedRun::Ready { used, data } => Some((*used, *id, data.bytes())),
                    CachedRun::Loading => None,
                })
                .min();
            match oldest {
                Some((_, id, bytes)) => {
                    self.entries.remove(&id);
                    self.bytes -= bytes;
                }
                None => break,
            }
        }
        if self.bytes + size > budget {
            self.entries.remove(&run_id);
            return;
        }
        self.clock += 1;
        let used = self.clock;
        self.bytes += size;
        self.publish_bytes();
        self.entries.insert(
            run_id,
            CachedRun::Ready {
                data: Arc::new(data),
                used,
            },
        );
    }
}

impl LookupCache {
    /// The run's assignments if cached; otherwise starts loading them (once) and says no.
    pub(super) fn cached_run(self: &Arc<Self>, run_id: Uuid) -> Option<Arc<CachedAssignments>> {
        let cached = self.cached_or_load(run_id);
        let counter = match cached {
            Some(_) => "segstore_lookup_cache_hits_total",
            None => "segstore_lookup_cache_misses_total",
        };
        metrics::counter!(counter).increment(1);
        cached
    }

    /// The run's assignments if cached; otherwise queues their load (once).
    fn cached_or_load(self: &Arc<Self>, run_id: Uuid) -> Option<Arc<CachedAssignments>> {
        if self.settings.budget_bytes == 0 {
            return None;
        }
        let mut runs = lock(&self.runs);
        runs.clock += 1;
        let now = runs.clock;
        match runs.entries.get_mut(&run_id) {
            Some(CachedRun::Ready { data, used }) => {
                *used = now;
                return Some(data.clone());
            }
            Some(CachedRun::Loading) => return None,
            None => {}
        }
        runs.entries.insert(run_id, CachedRun::Loading);
        drop(runs);
        let cache = self.clone();
        tokio::spawn(async move {
            // The semaphore is never closed.
            let _turn = cache.loads.acquire().await;
            let started = Instant::now();
            let mut data = CachedAssignments::default();
            let loaded = assignments::load(&cache.loader, run_id, |id, segment, score| {
                data.push(id, segment, score)
            })
            .await;
            match loaded {
                Ok(()) => {
                    tracing::info!(%run_id, rows = data.len(), bytes = data.bytes(),
                        ms = started.elapsed().as_secs_f64() * 1e3, "run cached for lookups");
                    lock(&cache.runs).insert(run_id, data, cache.settings.budget_bytes);
                }
                Err(e) => {
                    tracing::warn!(%run_id, error = %e, "caching a run failed");
                    lock(&cache.runs).entries.remove(&run_id);
                }
            }
        });
        None
    }
}
