//! One worker: claim → snapshot → train (blocking pool) → match segments → write results and
//! activate in one transaction. A heartbeat task keeps the lease and publishes progress.

use super::heartbeat::{Shared, heartbeat};
use super::results::{chart_row, stable_segments, summary, warm_start_outcome};
use super::stop::Stop;
use super::{JobSettings, schedule};
use crate::domain::run::Run;
use crate::domain::run::documents::{FeatureCounts, PhaseTiming, RunFailure, RunSummary};
use crate::domain::run::{FailureKind, Phase};
use crate::segmentation::pipeline::{self, RunParams, RunResult};
use crate::segmentation::preprocess::Columns;
use crate::service::lookup::LookupCache;
use crate::service::runs::Waker;
use crate::store::Pool;
use crate::store::assignments::{self, Assignment};
use crate::store::models;
use crate::store::results::{self, Lock, RunResults};
use crate::store::runs::{self, Unsuccessful};
use crate::store::{self, Constraint, attributes};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;
use uuid::Uuid;

pub struct Worker {
    pub name: String,
    pub pool: Pool,
    /// For the worker's session lock.
    pub direct: crate::store::ConnectOptions,
    /// For the snapshot.
    pub reads: store::replica::Reads,
    pub settings: JobSettings,
    pub cache: Arc<LookupCache>,
}

/// The wall time of each of the service's phases, in order.
#[derive(Debug)]
struct Timings(Vec<PhaseTiming>, Instant);

impl Default for Timings {
    fn default() -> Self {
        Self(Vec::new(), Instant::now())
    }
}

impl Timings {
    /// Ends `phase` now (it began when the previous one ended).
    fn lap(&mut self, phase: &str) {
        self.0.push(PhaseTiming {
            phase: phase.to_owned(),
            ms: self.1.elapsed().as_secs_f64() * 1e3,
        });
        self.1 = Instant::now();
    }
}

/// Where a run's columns are in the customer rows (1-based): the numeric ones (features and
/// weight, in [`PreprocessParams::columns`] order) and the categorical ones by name.
///
/// [`PreprocessParams::columns`]: crate::segmentation::preprocess::PreprocessParams::columns
struct Positions {
    numeric: Vec<usize>,
    categorical: Vec<(String, usize)>,
}

/// A run asked to start from the active run's centroids: the run it got them from (`None`:
/// there was no active run with a model).
struct WarmFrom(Option<Uuid>);

/// What the snapshot read: the feature columns and the missing values per feature.
struct ReadSnapshot {
    columns: Columns,
    missing: FeatureCounts,
}

/// Trains on the blocking pool (the heartbeat keeps going meanwhile), inside the run's span;
/// gives the columns back with the result.
async fn train(
    columns: Columns,
    params: RunParams,
    shared: &Arc<Shared>,
) -> Result<(Columns, RunResult), Stop> {
    let observer = shared.clone();
    let span = tracing::Span::current();
    let (columns, result) = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let result = pipeline::run_observed(&columns, &params, &|_phase, f| {
            observer.set(Phase::Training, TRAIN_FROM + (TRAIN_TO - TRAIN_FROM) * f);
        });
        (columns, result)
    })
    .await
    .map_err(|e| Stop::failed(FailureKind::Internal, format!("training panicked: {e}")))?;
    let result = result.map_err(|e| {
        Stop::Failed(RunFailure {
            kind: FailureKind::Engine,
            message: e.to_string(),
            customer: e.row().map(str::to_owned),
        })
    })?;
    Ok((columns, result))
}

/// How often an idle worker checks that the report views follow the active runs.
const REPORT_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a worker tries to give back a run a database fault interrupted.
const FAULT_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Share of the whole run done when the engine reports `fraction` of its own work.
const TRAIN_FROM: f64 = 0.15;
const TRAIN_TO: f64 = 0.85;

impl Worker {
    pub async fn run(self, waker: Waker, mut stopped: watch::Receiver<bool>) {
        tracing::info!(worker = %self.name, "run worker started");
        let lease = self.settings.lease.as_secs_f64();
        // Stopped when told so, or when the `Jobs` handle is gone.
        let stop = |rx: &watch::Receiver<bool>| *rx.borrow() || rx.has_changed().is_err();
        let mut identity: Option<runs::WorkerIdentity> = None;
        let mut report_check = Instant::now();
        loop {
            if stop(&stopped) {
                break;
            }
            // No run is claimed without the identity lock that tells other replicas this
            // worker lives (lost with its session when PostgreSQL restarts: taken again).
            if !self.hold_identity(&mut identity).await {
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.poll) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            if let Err(e) = self.housekeeping(&mut report_check).await {
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

    /// Whether this worker holds its identity lock, taking it when it does not.
    async fn hold_identity(&self, identity: &mut Option<runs::WorkerIdentity>) -> bool {
        if let Some(held) = identity.as_mut()
            && held.alive().await
        {
            return true;
        }
        *identity = match runs::WorkerIdentity::take(&self.direct, &self.name).await {
            Ok(Some(held)) => Some(held),
            Ok(None) => {
                tracing::warn!(worker = %self.name, "the worker's identity lock is held by an older session");
                None
            }
            Err(e) => {
                tracing::warn!(worker = %self.name, error = %e, "taking the worker's identity lock failed");
                None
            }
        };
        identity.is_some()
    }

    /// Gives a run back to the queue, retrying while the database is unavailable (an outage,
    /// a restart, a pool that timed out on a loaded machine) until the lease would have
    /// lapsed: then any replica recovers it. A stop signal ends the retries early when given.
    async fn release_within_lease(
        &self,
        run_id: uuid::Uuid,
        why: runs::Release<'_>,
        mut stopped: Option<&mut watch::Receiver<bool>>,
    ) -> Result<(), store::Error> {
        let deadline = Instant::now() + self.settings.lease;
        loop {
            match runs::release(&self.pool, run_id, &self.name, why).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    // Another worker or a recovery changed the run meanwhile.
                    tracing::warn!("the run was not this worker's to give back any more");
                    return Ok(());
                }
                Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                    tracing::warn!(error = %e, "giving the run back failed; trying again");
                    match stopped.as_deref_mut() {
                        Some(stopped) => tokio::select! {
                            _ = tokio::time::sleep(FAULT_RETRY) => {}
                            _ = stopped.changed() => return Err(e),
                        },
                        None => tokio::time::sleep(FAULT_RETRY).await,
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Re-queues (or fails) runs of dead workers, queues scheduled runs that are due, and now
    /// and then regenerates report views a change left behind.
    async fn housekeeping(&self, report_check: &mut Instant) -> anyhow::Result<()> {
        for (run_id, status) in
            runs::recover_expired(&self.pool, self.settings.max_attempts).await?
        {
            tracing::warn!(%run_id, %status, "recovered a run whose worker stopped");
        }
        schedule::enqueue_due(&self.pool).await?;
        if Instant::now() >= *report_check {
            // Catches up a regeneration a dashboard's long query held up.
            *report_check = Instant::now() + REPORT_CHECK;
            crate::service::report::sync(&self.pool).await;
        }
        Ok(())
    }

    /// Runs a claimed run to its end, inside a span that names it: every log line of the
    /// run, training included, carries its `run_id` and `segmentation_id`.
    #[tracing::instrument(name = "run", skip_all, fields(run_id = %run.run_id, segmentation_id = %run.segmentation_id, worker = %self.name))]
    async fn execute(&self, run: Run, stopped: &mut watch::Receiver<bool>) {
        let run_id = run.run_id;
        tracing::info!(attempt = run.attempts, "run started");
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
        let ended = match &outcome {
            Ok(()) => "succeeded",
            Err(Stop::Failed(_)) => "failed",
            Err(Stop::Cancelled) => "cancelled",
            Err(Stop::LeaseLost) => "lease_lost",
            Err(Stop::DatabaseFault(_)) => "database_fault",
            Err(Stop::ShuttingDown) => "released",
        };
        metrics::counter!("segstore_runs_total", "outcome" => ended).increment(1);
        let recorded = match outcome {
            Ok(()) => {
                tracing::info!(seconds, "run succeeded");
                Ok(())
            }
            Err(Stop::Failed(failure)) => {
                // The log never names a customer: an erasure could not take it back.
                let message = failure.message_without_customer("a customer: see the run");
                tracing::warn!(kind = %failure.kind, %message, "run failed");
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
                tracing::info!("run cancelled");
                runs::finish_unsuccessful(&self.pool, run_id, &self.name, Unsuccessful::Cancelled)
                    .await
                    .map(drop)
            }
            Err(Stop::LeaseLost) => {
                tracing::warn!("lost the run's lease; another worker owns it");
                Ok(())
            }
            Err(Stop::ShuttingDown) => {
                tracing::info!("shutting down: the run goes back to the queue");
                // The process is stopping anyway: a busy database is waited for (within the
                // lease), not given up on at the first timeout.
                self.release_within_lease(run_id, runs::Release::ShuttingDown, None)
                    .await
            }
            Err(Stop::DatabaseFault(fault)) => {
                tracing::warn!(%fault, "a database fault interrupted the run: it goes back to the queue");
                self.release_within_lease(
                    run_id,
                    runs::Release::DatabaseFault(&fault),
                    Some(stopped),
                )
                .await
            }
        };
        if let Err(e) = recorded {
            // The lease will lapse and the run be recovered.
            tracing::error!(error = %e, "could not record the run's outcome");
        }
    }

    /// The run's steps: check the configuration → refresh RFM features (when used) →
    /// snapshot → train → write the results and activate (one transaction) → tell the lookup
    /// cache (at the commit) → the report views → retention.
    async fn train_and_store(&self, run: &Run, shared: &Arc<Shared>) -> Result<(), Stop> {
        let mut timings = Timings::default();
        shared.check()?;
        let (params, positions, warm) = self.parameters(run).await?;
        let names = params.preprocess.columns();
        if crate::service::rfm::uses_rfm(&names) {
            shared.set(Phase::Rfm, 0.0);
            self.refresh_rfm().await?;
            timings.lap("rfm");
        }
        shared.set(Phase::Snapshot, 0.0);
        let snapshot = self.snapshot(run, &names, &positions).await?;
        timings.lap("snapshot");
        shared.check()?;
        shared.set(Phase::Training, TRAIN_FROM);
        let (columns, result) = train(snapshot.columns, params, shared).await?;
        timings.lap("train");
        shared.check()?;
        shared.set(Phase::Writing, TRAIN_TO);
        self.write(run, &columns, &result, snapshot.missing, timings, warm)
            .await?;
        // An activated run: the report views now read it.
        crate::service::report::sync(&self.pool).await;
        if let Err(e) = self.retain(run.segmentation_id).await {
            tracing::warn!(segmentation_id = %run.segmentation_id, error = %e, "retention failed");
        }
        Ok(())
    }

    /// The engine's parameters: the run's configuration checked against today's catalogue,
    /// and where its features (and weight) are in the customer rows; for a warm start, the
    /// active run's centroids.
    async fn parameters(
        &self,
        run: &Run,
    ) -> Result<(RunParams, Positions, Option<WarmFrom>), Stop> {
        let catalogue = attributes::load(&self.pool).await?;
        let mut params = run
            .config
            .validate(&catalogue, "config.")
            .map_err(|errors| {
                let detail: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                Stop::failed(FailureKind::InvalidConfiguration, detail.join("; "))
            })?;
        let position = |n: &String| catalogue.get(n).map(|a| a.position).expect("validated");
        let positions = Positions {
            numeric: params.preprocess.columns().iter().map(position).collect(),
            categorical: params
                .preprocess
                .categorical
                .iter()
                .map(|n| (n.clone(), position(n)))
                .collect(),
        };
        let warm = if run.config.algorithm.warm_start() {
            let active = models::active_model(&self.pool, run.segmentation_id).await?;
            params.warm_start = active
                .as_ref()
                .map(|(_, model)| pipeline::WarmStart::from_model(model));
            Some(WarmFrom(active.map(|(id, _)| id)))
        } else {
            None
        };
        Ok((params, positions, warm))
    }

    /// Features derived from orders are brought up to date first.
    async fn refresh_rfm(&self) -> Result<(), Stop> {
        crate::service::rfm::refresh(&self.pool, None)
            .await
            .map(drop)
            .map_err(|e| {
                Stop::failed(
                    FailureKind::Rfm,
                    format!("refreshing the RFM features failed: {e}"),
                )
            })
    }

    /// One consistent read of every customer's features; what it read is recorded on the run
    /// (kept if the run then fails, to explain why).
    async fn snapshot(
        &self,
        run: &Run,
        names: &[String],
        positions: &Positions,
    ) -> Result<ReadSnapshot, Stop> {
        let mut tx = store::begin_snapshot(&self.reads.pool().await).await?;
        let columns =
            assignments::snapshot(&mut tx, names, &positions.numeric, &positions.categorical)
                .await?;
        store::commit(tx).await?;
        let missing = FeatureCounts(
            names
                .iter()
                .enumerate()
                .map(|(c, n)| (n.clone(), columns.missing(c) as u64))
                .chain(columns.categories.iter().map(|c| {
                    let missing = c.codes.iter().filter(|v| v.is_none()).count();
                    (c.name.clone(), missing as u64)
                }))
                .collect(),
        );
        runs::record_snapshot(
            &self.pool,
            run.run_id,
            columns.rows() as i64,
            &RunSummary::snapshot(missing.clone()),
        )
        .await?;
        Ok(ReadSnapshot { columns, missing })
    }

    /// Matches the segments to the active run's, then writes the results and activates in
    /// one transaction; this replica's lookups see the change at the commit.
    async fn write(
        &self,
        run: &Run,
        columns: &Columns,
        result: &RunResult,
        missing: FeatureCounts,
        timings: Timings,
        warm: Option<WarmFrom>,
    ) -> Result<(), Stop> {
        for phase in &timings.0 {
            metrics::histogram!("segstore_run_phase_duration_seconds", "phase" => phase.phase.clone())
                .record(phase.ms / 1e3);
        }
        let mut tx = store::begin(&self.pool).await?;
        let (auto_activate, previous) = match results::lock(&mut tx, run, &self.name).await? {
            Lock::LeaseLost => return Err(Stop::LeaseLost),
            Lock::Cancelled => return Err(Stop::Cancelled),
            Lock::Held {
                auto_activate,
                drift_policy,
                previous,
            } => (auto_activate, (drift_policy, previous)),
        };
        let (drift_policy, previous) = previous;
        // Segments of other features are not matched: they start new ids.
        let matched = previous
            .as_ref()
            .filter(|p| p.features == result.profiles.features);
        let segments = stable_segments(&mut tx, run, result, matched).await?;
        let stable_of: Vec<i32> = segments.iter().map(|s| s.stable_id).collect();
        let ids = &columns.row_ids;
        let assignments = result
            .assignments
            .iter()
            .map(|(row, segment, score)| Assignment {
                external_id: &ids[row],
                segment: segment.map(|s| stable_of[s]),
                score: Some(score).filter(|v| v.is_finite()),
            });
        results::write(
            &mut tx,
            RunResults {
                run,
                assignments,
                segments: &segments,
                chart: result
                    .chart
                    .as_ref()
                    .map(|sample| chart_row(run.run_id, result, sample, columns, &stable_of)),
                customers_snapshot: columns.rows() as i64,
                customers_dropped: result.rows_dropped as i64,
                values_imputed: result.values_imputed as i64,
                k: result.k as i32,
                k_rule: &result.k_rule,
                summary: RunSummary {
                    warm_start: warm.map(|WarmFrom(from)| warm_start_outcome(from, result)),
                    bins: super::drift::bins(columns),
                    ..summary(
                        result,
                        &segments,
                        previous.as_ref().map(|p| p.run_id),
                        missing,
                        timings.0,
                    )
                },
                model: &result.model,
                activate: auto_activate,
                drift: previous
                    .as_ref()
                    .map(|p| super::drift::measure(columns, result, &segments, p)),
                drift_policy,
            },
        )
        .await?;
        let committing = Instant::now();
        self.cache
            .changing(run.segmentation_id, store::commit(tx))
            .await?;
        // Not stored: the run is visible as succeeded from the commit on.
        tracing::debug!(
            ms = committing.elapsed().as_secs_f64() * 1e3,
            "run committed"
        );
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

/// Gives the training's freed buffers (hundreds of MB for a million customers) back to the
/// operating system; glibc keeps freed heap memory in the process otherwise.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}
