//! One worker: claim → snapshot → train (blocking pool) → match segments → write results and
//! activate in one transaction. A heartbeat task keeps the lease and publishes progress.

use super::{JobSettings, schedule};
use crate::domain::run::documents::{
    FeatureCounts, Matching, PhaseTiming, RunFailure, RunSummary, SegmentMatch, SegmentProfile,
};
use crate::domain::run::{FailureKind, Phase, ScoreKind};
use crate::domain::run::{Run, Segment};
use crate::segmentation::matching;
use crate::segmentation::pipeline::{self, RunResult};
use crate::segmentation::preprocess::Columns;
use crate::segmentation::sample::ChartSample;
use crate::service::lookup::LookupCache;
use crate::service::runs::Waker;
use crate::store::Pool;
use crate::store::assignments::{self, Assignment, Snapshot};
use crate::store::charts::{self, ChartSampleRow};
use crate::store::runs::{self, Lease, Unsuccessful};
use crate::store::{self, Constraint, attributes, segmentations};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;
use uuid::Uuid;

pub struct Worker {
    pub name: String,
    pub pool: Pool,
    pub settings: JobSettings,
    pub cache: Arc<LookupCache>,
}

/// Why a run did not succeed.
#[derive(Debug)]
enum Stop {
    Failed {
        kind: FailureKind,
        message: String,
    },
    Cancelled,
    /// Another worker owns the run now (our lease lapsed and it was recovered).
    LeaseLost,
    ShuttingDown,
}

impl From<store::Error> for Stop {
    fn from(e: store::Error) -> Self {
        Stop::Failed {
            kind: FailureKind::Database,
            message: format!("database error: {e}"),
        }
    }
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Failed {
            kind: FailureKind::Internal,
            message: format!("{e:#}"),
        }
    }
}

/// What the heartbeat publishes and learns.
#[derive(Debug)]
struct Shared {
    progress: Mutex<(Phase, f32)>,
    cancel_requested: AtomicBool,
    lease_lost: AtomicBool,
}

impl Shared {
    fn set(&self, phase: Phase, fraction: f64) {
        *self.progress.lock().expect("progress lock") = (phase, fraction.clamp(0.0, 1.0) as f32);
    }

    fn check(&self) -> Result<(), Stop> {
        if self.lease_lost.load(Ordering::Relaxed) {
            Err(Stop::LeaseLost)
        } else if self.cancel_requested.load(Ordering::Relaxed) {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Share of the whole run done when the engine reports `fraction` of its own work.
const TRAIN_FROM: f64 = 0.15;
const TRAIN_TO: f64 = 0.85;

impl Worker {
    pub async fn run(self, waker: Waker, mut stopped: watch::Receiver<bool>) {
        tracing::info!(worker = %self.name, "run worker started");
        let lease = self.settings.lease.as_secs_f64();
        // Stopped when told so, or when the `Jobs` handle is gone.
        let stop = |rx: &watch::Receiver<bool>| *rx.borrow() || rx.has_changed().is_err();
        loop {
            if stop(&stopped) {
                break;
            }
            if let Err(e) = self.housekeeping().await {
                tracing::warn!(worker = %self.name, error = %e, "run housekeeping failed");
            }
            match runs::claim(&self.pool, &self.name, lease).await {
                Ok(Some(run)) => {
                    self.execute(run, &mut stopped).await;
                    continue;
                }
                Ok(None) => {}
                // Two workers claimed two queued runs of one segmentation at once: the
                // one-running index refused ours; the queue is simply tried again.
                Err(e) if e.constraint() == Some(Constraint::OneRunningRun) => continue,
                Err(e) => tracing::warn!(worker = %self.name, error = %e, "claiming a run failed"),
            }
            tokio::select! {
                _ = waker.woken() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = stopped.changed() => {}
            }
        }
        tracing::info!(worker = %self.name, "run worker stopped");
    }

    /// Re-queues (or fails) runs of dead workers, and queues scheduled runs that are due.
    async fn housekeeping(&self) -> anyhow::Result<()> {
        for (run_id, status) in
            runs::recover_expired(&self.pool, self.settings.max_attempts).await?
        {
            tracing::warn!(%run_id, %status, "recovered a run whose worker stopped");
        }
        schedule::enqueue_due(&self.pool).await?;
        Ok(())
    }

    async fn execute(&self, run: Run, stopped: &mut watch::Receiver<bool>) {
        let run_id = run.run_id;
        tracing::info!(worker = %self.name, %run_id, attempt = run.attempts, "run started");
        let shared = Arc::new(Shared {
            progress: Mutex::new((Phase::Queued, 0.0)),
            cancel_requested: AtomicBool::new(run.cancel_requested),
            lease_lost: AtomicBool::new(false),
        });
        let heartbeat = tokio::spawn(heartbeat(
            self.pool.clone(),
            run_id,
            self.name.clone(),
            self.settings.clone(),
            shared.clone(),
        ));
        let started = Instant::now();
        let outcome = {
            let work = self.train_and_store(&run, &shared);
            tokio::pin!(work);
            tokio::select! {
                outcome = &mut work => outcome,
                _ = stopped.changed() => Err(Stop::ShuttingDown),
            }
        };
        heartbeat.abort();
        release_freed_memory();
        let seconds = started.elapsed().as_secs_f64();
        let recorded = match outcome {
            Ok(()) => {
                tracing::info!(%run_id, seconds, "run succeeded");
                Ok(())
            }
            Err(Stop::Failed { kind, message }) => {
                tracing::warn!(%run_id, %kind, %message, "run failed");
                let failure = RunFailure { kind, message };
                runs::finish_unsuccessful(
                    &self.pool,
                    run_id,
                    &self.name,
                    Unsuccessful::Failed(&failure),
                )
                .await
                .map(drop)
            }
            Err(Stop::Cancelled) => {
                tracing::info!(%run_id, "run cancelled");
                runs::finish_unsuccessful(&self.pool, run_id, &self.name, Unsuccessful::Cancelled)
                    .await
                    .map(drop)
            }
            Err(Stop::LeaseLost) => {
                tracing::warn!(%run_id, "lost the run's lease; another worker owns it");
                Ok(())
            }
            Err(Stop::ShuttingDown) => {
                tracing::info!(%run_id, "shutting down: the run goes back to the queue");
                runs::release(&self.pool, run_id, &self.name)
                    .await
                    .map(drop)
            }
        };
        if let Err(e) = recorded {
            // The lease will lapse and the run be recovered.
            tracing::error!(%run_id, error = %e, "could not record the run's outcome");
        }
    }

    async fn train_and_store(&self, run: &Run, shared: &Arc<Shared>) -> Result<(), Stop> {
        let mut timings = Vec::new();
        let mut clock = Instant::now();
        let mut lap = |phase: &str, timings: &mut Vec<PhaseTiming>| {
            timings.push(PhaseTiming {
                phase: phase.to_owned(),
                ms: clock.elapsed().as_secs_f64() * 1e3,
            });
            clock = Instant::now();
        };
        shared.check()?;
        // The configuration, checked against today's catalogue.
        let catalogue = attributes::load(&self.pool).await?;
        let params = run
            .config
            .validate(&catalogue, "config.")
            .map_err(|errors| {
                let detail: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                Stop::Failed {
                    kind: FailureKind::InvalidConfiguration,
                    message: detail.join("; "),
                }
            })?;
        let names = params.preprocess.names();
        let positions: Vec<usize> = names
            .iter()
            .map(|n| catalogue.get(n).map(|a| a.position).expect("validated"))
            .collect();

        // Features derived from orders are brought up to date first.
        if crate::service::rfm::uses_rfm(&names) {
            shared.set(Phase::Rfm, 0.0);
            crate::service::rfm::refresh(&self.pool, None)
                .await
                .map_err(|e| Stop::Failed {
                    kind: FailureKind::Rfm,
                    message: format!("refreshing the RFM features failed: {e}"),
                })?;
            lap("rfm", &mut timings);
        }
        // Snapshot: one consistent read of every customer.
        shared.set(Phase::Snapshot, 0.0);
        let mut tx = store::begin_snapshot(&self.pool).await?;
        let Snapshot { ids, columns } = assignments::snapshot(&mut tx, &positions).await?;
        store::commit(tx).await?;
        lap("snapshot", &mut timings);
        let missing = FeatureCounts(
            names
                .iter()
                .zip(&columns)
                .map(|(n, c)| (n.clone(), c.iter().filter(|v| v.is_none()).count() as u64))
                .collect(),
        );
        runs::record_snapshot(
            &self.pool,
            run.run_id,
            ids.len() as i64,
            &RunSummary::snapshot(missing.clone()),
        )
        .await?;
        shared.check()?;

        // Train on the blocking pool; the heartbeat keeps going meanwhile.
        shared.set(Phase::Training, TRAIN_FROM);
        let columns = Columns {
            row_ids: ids,
            names: names.clone(),
            values: columns,
        };
        let observer = shared.clone();
        let (columns, result) = tokio::task::spawn_blocking(move || {
            let result = pipeline::run_observed(&columns, &params, &|_phase, f| {
                observer.set(Phase::Training, TRAIN_FROM + (TRAIN_TO - TRAIN_FROM) * f);
            });
            (columns, result)
        })
        .await
        .map_err(|e| Stop::Failed {
            kind: FailureKind::Internal,
            message: format!("training panicked: {e}"),
        })?;
        let result = result.map_err(|e| Stop::Failed {
            kind: FailureKind::Engine,
            message: e.to_string(),
        })?;
        lap("train", &mut timings);
        shared.check()?;

        // Results, matching and activation in one transaction.
        shared.set(Phase::Writing, TRAIN_TO);
        let mut tx = store::begin(&self.pool).await?;
        match runs::lock_held(&mut *tx, run.run_id, &self.name).await? {
            None => return Err(Stop::LeaseLost),
            Some(true) => return Err(Stop::Cancelled),
            Some(false) => {}
        }
        let segmentation = segmentations::find_for_update(&mut *tx, run.segmentation_id)
            .await?
            .ok_or(Stop::LeaseLost)?;
        let previous = match runs::active_run(&mut *tx, run.segmentation_id).await? {
            Some(previous) => Some((previous, runs::segments(&mut *tx, previous).await?)),
            None => None,
        };
        let previous_features = match &previous {
            Some((id, _)) => runs::find(&mut *tx, *id).await?.map(|r| r.config.features),
            None => None,
        };
        let segments = stable_segments(
            &mut tx,
            run,
            &result,
            previous
                .as_ref()
                .filter(|_| previous_features.as_ref() == Some(&names)),
        )
        .await?;
        let stable_of: Vec<i32> = segments.iter().map(|s| s.stable_id).collect();
        let ids = &columns.row_ids;
        let written = assignments::write(
            &mut tx,
            run.run_id,
            result
                .assignments
                .iter()
                .map(|&(row, segment, score)| Assignment {
                    external_id: &ids[row],
                    segment: segment.map(|s| stable_of[s]),
                    score: Some(score).filter(|v| v.is_finite()),
                }),
        )
        .await?;
        runs::insert_segments(&mut *tx, &segments).await?;
        if let Some(sample) = &result.chart {
            charts::insert(
                &mut *tx,
                &chart_row(run.run_id, &result, sample, &names, &stable_of),
            )
            .await?;
        }
        lap("write", &mut timings);
        let summary = summary(
            &result,
            &segments,
            previous.as_ref().map(|p| p.0),
            missing,
            timings,
        );
        runs::succeed(
            &mut *tx,
            run.run_id,
            &runs::Success {
                customers_snapshot: columns.rows() as i64,
                customers_used: written as i64,
                customers_dropped: result.rows_dropped as i64,
                values_imputed: result.values_imputed as i64,
                k: result.k as i32,
                k_rule: &result.k_rule,
                summary: &summary,
                model: &result.model,
            },
        )
        .await?;
        if segmentation.auto_activate {
            runs::activate(&mut *tx, run.segmentation_id, run.run_id).await?;
        }
        let committing = Instant::now();
        self.cache
            .changing(run.segmentation_id, store::commit(tx))
            .await?;
        // Not stored: the run is visible as succeeded from the commit on.
        tracing::debug!(run_id = %run.run_id, ms = committing.elapsed().as_secs_f64() * 1e3, "run committed");
        if let Err(e) = self.retain(run.segmentation_id).await {
            tracing::warn!(segmentation_id = %run.segmentation_id, error = %e, "retention failed");
        }
        Ok(())
    }

    /// Drops the assignments of all but the newest `keep_assignments` runs (never the
    /// active run's).
    async fn retain(&self, segmentation_id: Uuid) -> store::Result<()> {
        for run_id in
            runs::beyond_retention(&self.pool, segmentation_id, self.settings.keep_assignments)
                .await?
        {
            let mut tx = store::begin(&self.pool).await?;
            assignments::drop_partition(&mut tx, run_id).await?;
            self.cache
                .changing(segmentation_id, store::commit(tx))
                .await?;
            self.cache.forget_run(run_id);
            tracing::info!(%run_id, "dropped the assignments of an old run");
        }
        Ok(())
    }
}

/// The run's segments with their stable ids: a segment matched to one of the previous
/// active run's keeps its id and label; the others get new ids.
async fn stable_segments(
    tx: &mut store::Conn,
    run: &Run,
    result: &RunResult,
    previous: Option<&(Uuid, Vec<Segment>)>,
) -> store::Result<Vec<Segment>> {
    let profiles = &result.profiles.segments;
    let matches: Vec<Option<(usize, f64)>> = match previous {
        Some((_, old)) if !old.is_empty() => {
            let old_centroids: Vec<Vec<f64>> =
                old.iter().map(|s| s.profile.centroid.clone()).collect();
            let new_centroids: Vec<Vec<f64>> =
                profiles.iter().map(|p| p.centroid.clone()).collect();
            matching::match_segments(&new_centroids, &old_centroids, &result.preprocessor)
        }
        _ => vec![None; profiles.len()],
    };
    let unmatched = matches.iter().filter(|m| m.is_none()).count() as i32;
    let mut next = if unmatched > 0 {
        runs::next_stable_ids(&mut *tx, run.segmentation_id, unmatched).await?
    } else {
        0
    };
    Ok(profiles
        .iter()
        .zip(&matches)
        .map(|(p, m)| {
            let old = m.and_then(|(j, d)| previous.map(|(id, old)| (*id, &old[j], d)));
            let (stable_id, label, persona) = match old {
                Some((_, o, _)) => (o.stable_id, o.label.clone(), o.persona.clone()),
                None => {
                    next += 1;
                    (next - 1, p.label.clone(), p.persona.clone())
                }
            };
            Segment {
                run_id: run.run_id,
                segment: p.segment as i32,
                stable_id,
                label,
                persona,
                size: p.size as i64,
                share: p.share,
                profile: SegmentProfile {
                    centroid: p.centroid.clone(),
                    stats: p.stats.clone(),
                    lift: p.lift.clone(),
                    top_features: p.top_features.clone(),
                    computed_label: p.label.clone(),
                },
                matched_run_id: old.map(|(id, _, _)| id),
                matched_distance: old.map(|(_, _, d)| d),
            }
        })
        .collect())
}

/// The chart sample in stable segment ids.
fn chart_row(
    run_id: Uuid,
    result: &RunResult,
    sample: &ChartSample,
    features: &[String],
    stable_of: &[i32],
) -> ChartSampleRow {
    ChartSampleRow {
        run_id,
        customers: result.assignments.len() as i32,
        features: features.to_vec(),
        segment: sample
            .rows
            .iter()
            .map(|&i| result.assignments[i].1.map(|s| stable_of[s]))
            .collect(),
        values: sample.values.clone(),
        pc: sample
            .pca
            .as_ref()
            .map(|p| p.points.iter().flatten().copied().collect()),
        pc_explained: sample.pca.as_ref().map(|p| p.explained.to_vec()),
        pc_centres: sample.pca.as_ref().map(|p| {
            stable_of
                .iter()
                .copied()
                .zip(p.centres.iter().copied())
                .collect()
        }),
    }
}

fn summary(
    r: &RunResult,
    segments: &[Segment],
    previous: Option<Uuid>,
    missing: FeatureCounts,
    service_timings: Vec<PhaseTiming>,
) -> RunSummary {
    RunSummary {
        missing_values: missing,
        features: r.profiles.features.clone(),
        score: Some(match r.score {
            "probability" => ScoreKind::Probability,
            _ => ScoreKind::Distance,
        }),
        noise: Some(r.noise),
        n_iter: r.n_iter,
        converged: r.converged,
        metrics: Some(r.metrics),
        k_selection: r.k_selection.clone(),
        pca: r.pca.clone(),
        mixture: r.mixture,
        population: r.profiles.population.clone(),
        timings: service_timings,
        // The engine's phases inside "train".
        engine_timings: r
            .timings
            .iter()
            .map(|t| PhaseTiming {
                phase: t.phase.to_owned(),
                ms: t.ms,
            })
            .collect(),
        matching: Some(Matching {
            previous_run_id: previous,
            segments: segments
                .iter()
                .map(|s| SegmentMatch {
                    segment: s.segment,
                    stable_id: s.stable_id,
                    matched: s.matched_run_id.is_some(),
                    distance: s.matched_distance,
                })
                .collect(),
        }),
    }
}

/// Renews the lease every `heartbeat` and publishes progress, until aborted.
async fn heartbeat(
    pool: Pool,
    run_id: Uuid,
    worker: String,
    settings: JobSettings,
    shared: Arc<Shared>,
) {
    let mut tick = tokio::time::interval(settings.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (phase, progress) = *shared.progress.lock().expect("progress lock");
        match runs::heartbeat(
            &pool,
            run_id,
            &worker,
            settings.lease.as_secs_f64(),
            phase,
            progress,
        )
        .await
        {
            Ok(Lease::Held { cancel_requested }) => {
                shared
                    .cancel_requested
                    .store(cancel_requested, Ordering::Relaxed);
            }
            Ok(Lease::Lost) => {
                shared.lease_lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(%run_id, error = %e, "heartbeat failed"),
        }
    }
}

/// Gives the training's freed buffers (hundreds of MB for a million customers) back to the
/// operating system; glibc keeps freed heap memory in the process otherwise.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}
