//! Since when each customer of a segmentation's active run has been in their segment, held
//! in the run's row order once its assignments are cached.

use super::assignments::CachedAssignments;
use super::{LookupCache, lock};
use crate::error::Result;
use crate::store::activations::{self, NO_CHANGE};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// One segmentation's change times, as of one activation of one run.
#[derive(Debug)]
struct Entry {
    run_id: Uuid,
    activation: i64,
    /// In the run's row order; `None` while loading.
    micros: Option<Arc<Vec<i64>>>,
}

/// The change times held, by segmentation.
#[derive(Debug, Default)]
pub(super) struct ChangeTimes {
    by_segmentation: HashMap<Uuid, Entry>,
}

impl ChangeTimes {
    /// The customers whose change time is in memory, on `/metrics`.
    fn publish(&self) {
        let rows: usize = self
            .by_segmentation
            .values()
            .filter_map(|e| e.micros.as_ref().map(|m| m.len()))
            .sum();
        metrics::gauge!("segstore_lookup_change_times").set(rows as f64);
    }

    pub(super) fn forget_all(&mut self) {
        self.by_segmentation.clear();
        self.publish();
    }
}

/// A segmentation's active run as a lookup found it.
pub(super) struct ActiveRun {
    pub(super) run_id: Uuid,
    pub(super) activation: i64,
    /// Its assignments, when cached.
    pub(super) rows: Option<Arc<CachedAssignments>>,
}

impl LookupCache {
    /// Since when a customer of the active run has been in their segment: from memory once
    /// the run and its change times are cached (loaded in the background on first use), from
    /// PostgreSQL until then.
    pub(super) async fn since(
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
                let mut times = lock(&self.change_times);
                match times.by_segmentation.get(&segmentation_id) {
                    Some(e) if e.run_id == run_id && e.activation == activation => e.micros.clone(),
                    _ => {
                        times.by_segmentation.insert(
                            segmentation_id,
                            Entry {
                                run_id,
                                activation,
                                micros: None,
                            },
                        );
                        times.publish();
                        self.load_change_times(segmentation_id, run_id, activation, data.clone());
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
                return Ok((at != NO_CHANGE)
                    .then(|| DateTime::from_timestamp_micros(at))
                    .flatten());
            }
        }
        Ok(activations::since(&self.pool, segmentation_id, customer_id).await?)
    }

    /// Loads the change times of the active run's customers in the background, in the order
    /// of its cached `rows`.
    fn load_change_times(
        self: &Arc<Self>,
        segmentation_id: Uuid,
        run_id: Uuid,
        activation: i64,
        rows: Arc<CachedAssignments>,
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
            let mut times = lock(&cache.change_times);
            let Some(entry) = times.by_segmentation.get_mut(&segmentation_id) else {
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
                    times.by_segmentation.remove(&segmentation_id);
                }
            }
            times.publish();
        });
    }
}
