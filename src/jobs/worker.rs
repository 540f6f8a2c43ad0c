//! A run worker's loop: its identity lock, housekeeping, claiming a run, and recording how
//! the run ended (succeeded, failed, cancelled, or given back to the queue).

use super::JobSettings;
use super::heartbeat::heartbeat;
use crate::domain::run::Run;
use crate::service::Db;
use crate::service::runs::{Progress, Runner, Stop, Waker, schedule};
use crate::store::queue::{self, Claim, Unsuccessful};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

pub struct Worker {
    pub name: String,
    /// The queue's connections (the pool; a session of its own for the identity lock).
    pub db: Db,
    pub runner: Runner,
    pub settings: JobSettings,
}

/// How often an idle worker checks that the report views follow the active runs.
const REPORT_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a worker tries to give back a run a database fault interrupted.
const FAULT_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

impl Worker {
    pub async fn run(self, waker: Waker, mut stopped: watch::Receiver<bool>) {
        tracing::info!(worker = %self.name, "run worker started");
        let lease = self.settings.lease.as_secs_f64();
        // Stopped when told so, or when the `Jobs` handle is gone.
        let stop = |rx: &watch::Receiver<bool>| *rx.borrow() || rx.has_changed().is_err();
        let mut identity: Option<queue::WorkerIdentity> = None;
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
            match queue::claim(&self.db.pool, &self.name, lease).await {
                Ok(Claim::Run(run)) => {
                    self.execute(*run, &mut stopped).await;
                    continue;
                }
                Ok(Claim::Empty) => {}
                Ok(Claim::Contended) => continue,
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
    async fn hold_identity(&self, identity: &mut Option<queue::WorkerIdentity>) -> bool {
        if let Some(held) = identity.as_mut()
            && held.alive().await
        {
            return true;
        }
        *identity = match queue::WorkerIdentity::take(&self.db.direct, &self.name).await {
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
        why: queue::Release<'_>,
        mut stopped: Option<&mut watch::Receiver<bool>>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.settings.lease;
        loop {
            match queue::release(&self.db.pool, run_id, &self.name, why).await {
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
                            _ = stopped.changed() => return Err(e.into()),
                        },
                        None => tokio::time::sleep(FAULT_RETRY).await,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Re-queues (or fails) runs of dead workers, queues scheduled runs that are due, and now
    /// and then regenerates report views a change left behind.
    async fn housekeeping(&self, report_check: &mut Instant) -> anyhow::Result<()> {
        for (run_id, status) in
            queue::recover_expired(&self.db.pool, self.settings.max_attempts).await?
        {
            tracing::warn!(%run_id, %status, "recovered a run whose worker stopped");
        }
        schedule::enqueue_due(&self.db.pool).await?;
        if Instant::now() >= *report_check {
            // Catches up a regeneration a dashboard's long query held up.
            *report_check = Instant::now() + REPORT_CHECK;
            crate::service::report::sync(&self.db.pool).await;
        }
        Ok(())
    }

    /// Runs a claimed run to its end, inside a span that names it: every log line of the
    /// run, training included, carries its `run_id` and `segmentation_id`.
    #[tracing::instrument(name = "run", skip_all, fields(run_id = %run.run_id, segmentation_id = %run.segmentation_id, worker = %self.name))]
    async fn execute(&self, run: Run, stopped: &mut watch::Receiver<bool>) {
        let run_id = run.run_id;
        tracing::info!(attempt = run.attempts, "run started");
        let progress = Arc::new(Progress::new(run.cancel_requested));
        let heartbeat = tokio::spawn(heartbeat(
            self.db.clone(),
            run_id,
            self.name.clone(),
            self.settings.clone(),
            progress.clone(),
        ));
        let started = Instant::now();
        let outcome = {
            let work = self.runner.execute(&run, &self.name, &progress);
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
        let recorded: anyhow::Result<()> = match outcome {
            Ok(()) => {
                tracing::info!(seconds, "run succeeded");
                Ok(())
            }
            Err(Stop::Failed(failure)) => {
                // The log never names a customer: an erasure could not take it back.
                let message = failure.message_without_customer("a customer: see the run");
                tracing::warn!(kind = %failure.kind, %message, "run failed");
                queue::finish_unsuccessful(
                    &self.db.pool,
                    run_id,
                    &self.name,
                    Unsuccessful::Failed(&failure),
                )
                .await
                .map(drop)
                .map_err(Into::into)
            }
            Err(Stop::Cancelled) => {
                tracing::info!("run cancelled");
                queue::finish_unsuccessful(
                    &self.db.pool,
                    run_id,
                    &self.name,
                    Unsuccessful::Cancelled,
                )
                .await
                .map(drop)
                .map_err(Into::into)
            }
            Err(Stop::LeaseLost) => {
                tracing::warn!("lost the run's lease; another worker owns it");
                Ok(())
            }
            Err(Stop::ShuttingDown) => {
                tracing::info!("shutting down: the run goes back to the queue");
                // The process is stopping anyway: a busy database is waited for (within the
                // lease), not given up on at the first timeout.
                self.release_within_lease(run_id, queue::Release::ShuttingDown, None)
                    .await
            }
            Err(Stop::DatabaseFault(fault)) => {
                tracing::warn!(%fault, "a database fault interrupted the run: it goes back to the queue");
                self.release_within_lease(
                    run_id,
                    queue::Release::DatabaseFault(&fault),
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
