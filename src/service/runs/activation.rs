//! Activating a run: the active-run switch with its recorded changes, announced to webhooks
//! in the same transaction. A run's settlement and `POST /v1/runs/{id}/activate` (which also
//! rolls back to an earlier run) both go through [`switch`].

use super::{RunId, get};
use crate::domain::activation::Cause;
use crate::domain::run::{Run, RunStatus};
use crate::domain::webhook::EventType;
use crate::domain::webhook::payload::ActivationEvent;
use crate::error::{Error, Result};
use crate::service::lookup::LookupCache;
use crate::store::activations::{self, ActivationRow};
use crate::store::{self, Conn, Pool, outbox, segmentations};
use uuid::Uuid;

/// Makes `run_id` its segmentation's active run and announces it (`segmentation.activated`
/// and the membership changes, when there are any), in the caller's transaction. The caller
/// holds the segmentation's row lock. Activating the active run again changes nothing.
pub(super) async fn switch(
    tx: &mut Conn,
    segmentation_id: Uuid,
    run_id: Uuid,
    cause: Cause,
) -> store::Result<Option<ActivationRow>> {
    let Some(row) = activations::activate(tx, segmentation_id, run_id, cause).await? else {
        return Ok(None);
    };
    let data = serde_json::to_value(event(&row)).expect("an activation event serialises");
    outbox::emit(
        tx,
        EventType::SegmentationActivated,
        Some(segmentation_id),
        &data,
    )
    .await?;
    let total = row.entered + row.moved + row.left;
    if total > 0 {
        outbox::emit_changes(tx, segmentation_id, total, &data).await?;
    }
    Ok(Some(row))
}

/// The activation as webhooks announce it.
fn event(row: &ActivationRow) -> ActivationEvent {
    ActivationEvent {
        segmentation_id: row.segmentation_id,
        activation: row.activation,
        run_id: row.run_id,
        previous_run_id: row.previous_run_id,
        cause: row.cause,
        activated_at: row.activated_at,
        entered: row.entered,
        moved: row.moved,
        left: row.left,
    }
}

/// Makes a succeeded run its segmentation's active run (a newer one, or an earlier one to
/// roll back to).
#[tracing::instrument(skip(pool, cache), fields(%run_id))]
pub async fn activate(pool: &Pool, cache: &LookupCache, run_id: RunId) -> Result<Run> {
    let id = run_id.uuid();
    let mut tx = store::begin(pool).await?;
    let run = crate::store::runs::find(&mut *tx, id)
        .await?
        .ok_or_else(|| run_id.not_found())?;
    if run.status != RunStatus::Succeeded || !run.has_assignments {
        return Err(Error::Conflict(format!(
            "run {id} is {}{}; only a succeeded run with its assignments can be activated",
            run.status,
            if run.status == RunStatus::Succeeded {
                " but its assignments were dropped by retention"
            } else {
                ""
            }
        )));
    }
    segmentations::find_for_update(&mut *tx, run.segmentation_id).await?;
    switch(&mut tx, run.segmentation_id, id, Cause::Api).await?;
    cache
        .changing(run.segmentation_id, store::commit(tx))
        .await?;
    crate::service::report::sync(pool).await;
    get(pool, run_id).await
}
