//! Where an erased customer's id is redacted rather than deleted: the failures of runs that
//! named it, the outbox events that announced those failures (and the answers their
//! endpoints gave), and the audit entries that reference it.

use super::{Conn, Result};

/// A failure's `customer` and its mention in the message (`mention` becomes `instead`).
pub async fn redact_run_failures(
    tx: &mut Conn,
    customer: &str,
    mention: &str,
    instead: &str,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE runs
            SET error = jsonb_set(error - 'customer', '{message}',
                                  to_jsonb(replace(error->>'message', $2, $3)))
          WHERE error->>'customer' = $1",
    )
    .bind(customer)
    .bind(mention)
    .bind(instead)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// The same in the outbox's `run.failed` events; what their endpoints answered (which may
/// echo the payload) is dropped.
pub async fn redact_outbox(
    tx: &mut Conn,
    customer: &str,
    mention: &str,
    instead: &str,
) -> Result<u64> {
    let done = sqlx::query(
        "WITH named AS (
             UPDATE webhook_events
                SET data = jsonb_set(data, '{error}',
                                     ((data->'error') - 'customer')
                                     || jsonb_build_object('message',
                                            replace(data->'error'->>'message', $2, $3)))
              WHERE data->'error'->>'customer' = $1
             RETURNING event_id)
         UPDATE webhook_attempts a SET response_excerpt = NULL
           FROM webhook_deliveries d
          WHERE d.event_id IN (SELECT event_id FROM named)
            AND a.delivery_id = d.delivery_id",
    )
    .bind(customer)
    .bind(mention)
    .bind(instead)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// Audit entries whose targets hold `reference` get `instead` there.
pub async fn redact_audit(tx: &mut Conn, reference: &str, instead: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE audit_log a
            SET targets = (SELECT jsonb_object_agg(k, CASE WHEN v = to_jsonb($1::text)
                                                           THEN to_jsonb($2::text) ELSE v END)
                             FROM jsonb_each(a.targets) AS t(k, v))
          WHERE a.targets @> jsonb_build_object('id', $1::text)
             OR a.targets @> jsonb_build_object('customer_id', $1::text)",
    )
    .bind(reference)
    .bind(instead)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}
