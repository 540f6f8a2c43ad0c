//! While a run trains, its worker's heartbeat renews the lease, publishes the phase and
//! progress, and learns of a cancel or of a lost lease; the run checks both between phases.

use super::JobSettings;
use crate::service::Db;
use crate::service::runs::Progress;
use crate::store::queue::{self, Lease};
use std::sync::Arc;
use uuid::Uuid;

/// Renews the lease every `heartbeat` and publishes progress, until aborted.
pub(super) async fn heartbeat(
    db: Db,
    run_id: Uuid,
    worker: String,
    settings: JobSettings,
    progress: Arc<Progress>,
) {
    let mut tick = tokio::time::interval(settings.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (phase, fraction) = progress.get();
        match queue::heartbeat(
            &db.pool,
            run_id,
            &worker,
            settings.lease.as_secs_f64(),
            phase,
            fraction,
        )
        .await
        {
            Ok(Lease::Held { cancel_requested }) => {
                progress.set_cancel_requested(cancel_requested);
            }
            Ok(Lease::Lost) => {
                progress.lose_lease();
                return;
            }
            Err(e) => tracing::warn!(%run_id, error = %e, "heartbeat failed"),
        }
    }
}
