//! Cron schedules (five fields, UTC): a segmentation's runs are queued when due, exactly once
//! per occurrence whatever the number of replicas (the occurrence is the run's idempotency
//! key, and due segmentations are claimed with `FOR UPDATE SKIP LOCKED`).

use crate::domain::run::Trigger;
use crate::domain::schedule::Schedule;
use crate::store::Pool;
use crate::store::{runs, segmentations};
use chrono::Utc;

/// Queues a run for every segmentation whose schedule is due, and moves its next time on.
/// Returns how many runs were queued.
pub async fn enqueue_due(pool: &Pool) -> anyhow::Result<usize> {
    let mut tx = crate::store::begin(pool).await?;
    let due = segmentations::due(&mut *tx).await?;
    let now = Utc::now();
    let mut queued = 0;
    for s in due {
        let next = Schedule::parse(&s.schedule)
            .ok()
            .and_then(|c| c.next_after(now));
        // One run per occurrence; none while another is still pending.
        let key = format!("schedule:{}", s.next_run_at.to_rfc3339());
        if runs::pending(&mut *tx, s.segmentation_id).await?.is_none()
            && runs::find_by_key(&mut *tx, s.segmentation_id, &key)
                .await?
                .is_none()
        {
            runs::insert(
                &mut *tx,
                &runs::NewRun {
                    run_id: uuid::Uuid::new_v4(),
                    segmentation_id: s.segmentation_id,
                    segmentation_version: s.version,
                    config: &s.config,
                    trigger: Trigger::Schedule,
                    idempotency_key: Some(&key),
                },
            )
            .await?;
            queued += 1;
            tracing::info!(segmentation_id = %s.segmentation_id, occurrence = %s.next_run_at, "scheduled run queued");
        }
        segmentations::set_next_run(&mut *tx, s.segmentation_id, next).await?;
    }
    crate::store::commit(tx).await?;
    Ok(queued)
}
