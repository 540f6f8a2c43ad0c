//! Each segmentation's lookup record: its runs that keep assignments, the active one, their
//! labels; trusted for `ttl` unless other replicas' changes are heard.

use super::{LookupCache, lock};
use crate::error::Result;
use crate::store::runs;
use crate::store::segments as store_segments;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// A run of a record, with its segments' labels.
#[derive(Debug)]
pub(super) struct RecordedRun {
    pub(super) run: runs::LookupRun,
    /// Stable id → (label, persona).
    pub(super) labels: HashMap<i32, (String, Option<String>)>,
}

/// What a lookup needs to know of a segmentation.
#[derive(Debug)]
pub(super) struct SegmentationRecord {
    fetched: Instant,
    pub(super) active: Option<Uuid>,
    /// The segmentation's latest activation (which made `active` active).
    pub(super) activation: i64,
    pub(super) runs: Vec<RecordedRun>,
}

/// The cached records.
#[derive(Debug, Default)]
pub(super) struct Records {
    by_segmentation: HashMap<Uuid, Arc<SegmentationRecord>>,
    /// Segmentations whose record is being refreshed in the background.
    refreshing: HashSet<Uuid>,
    /// Counts forgets: a record read before one is not cached (it may predate the change).
    epoch: u64,
}

impl Records {
    pub(super) fn forget(&mut self, segmentation_id: Uuid) {
        self.by_segmentation.remove(&segmentation_id);
        self.epoch += 1;
    }

    pub(super) fn forget_all(&mut self) {
        self.by_segmentation.clear();
        self.epoch += 1;
    }
}

impl LookupCache {
    fn fresh(&self, record: &SegmentationRecord) -> bool {
        self.listening.load(std::sync::atomic::Ordering::Acquire)
            || record.fetched.elapsed() < self.settings.ttl
    }

    /// The segmentation's record: cached; or, when older than `ttl`, the cached one while a
    /// background task refreshes it (lookups never wait for that); or read now when absent.
    pub(super) async fn record(
        self: &Arc<Self>,
        segmentation_id: Uuid,
    ) -> Result<Option<Arc<SegmentationRecord>>> {
        let cached = lock(&self.records)
            .by_segmentation
            .get(&segmentation_id)
            .cloned();
        match cached {
            Some(record) if self.fresh(&record) => Ok(Some(record)),
            Some(record) => {
                if lock(&self.records).refreshing.insert(segmentation_id) {
                    let cache = self.clone();
                    tokio::spawn(async move {
                        let read = {
                            let _gate = cache.gate.read().await;
                            cache.read_record(segmentation_id).await
                        };
                        if let Err(e) = read {
                            tracing::warn!(%segmentation_id, error = %e, "refreshing a lookup record failed");
                        }
                        lock(&cache.records).refreshing.remove(&segmentation_id);
                    });
                }
                Ok(Some(record))
            }
            None => self.read_record(segmentation_id).await,
        }
    }

    /// Reads the segmentation's record from PostgreSQL and caches it.
    async fn read_record(&self, segmentation_id: Uuid) -> Result<Option<Arc<SegmentationRecord>>> {
        let epoch = lock(&self.records).epoch;
        let Some(found) = runs::lookup_runs(&self.pool, segmentation_id).await? else {
            lock(&self.records).by_segmentation.remove(&segmentation_id);
            return Ok(None);
        };
        let (active, activation, list) = (found.active, found.activation, found.runs);
        let ids: Vec<Uuid> = list.iter().map(|r| r.run_id).collect();
        let segments = store_segments::segments_of_runs(&self.pool, &ids).await?;
        let runs = list
            .into_iter()
            .map(|run| RecordedRun {
                labels: segments
                    .iter()
                    .filter(|s| s.run_id == run.run_id)
                    .map(|s| (s.stable_id, (s.label.clone(), s.persona.clone())))
                    .collect(),
                run,
            })
            .collect();
        let record = Arc::new(SegmentationRecord {
            fetched: Instant::now(),
            active,
            activation,
            runs,
        });
        let mut records = lock(&self.records);
        // A change announced while this was read: serve it this once, cache nothing.
        if records.epoch == epoch {
            records
                .by_segmentation
                .insert(segmentation_id, record.clone());
        }
        Ok(Some(record))
    }
}
