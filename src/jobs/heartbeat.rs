//! While a run trains, its worker's heartbeat renews the lease, publishes the phase and
//! progress, and learns of a cancel or of a lost lease; the run checks both between phases.

use super::JobSettings;
use super::stop::Stop;
use crate::domain::run::Phase;
use crate::store::Pool;
use crate::store::queue::{self, Lease};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// What the heartbeat publishes and learns.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) progress: Mutex<(Phase, f32)>,
    pub(super) cancel_requested: AtomicBool,
    pub(super) lease_lost: AtomicBool,
}

impl Shared {
    pub(super) fn set(&self, phase: Phase, fraction: f64) {
        *self.progress.lock().expect("progress lock") = (phase, fraction.clamp(0.0, 1.0) as f32);
    }

    pub(super) fn check(&self) -> Result<(), Stop> {
        if self.lease_lost.load(Ordering::Relaxed) {
            Err(Stop::LeaseLost)
        } else if self.cancel_requested.load(Ordering::Relaxed) {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Renews the lease every `heartbeat` and publishes progress, until aborted.
pub(super) async fn heartbeat(
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
        match queue::heartbeat(
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
