//! Activations and the membership changes they record: set-based, in the transaction that
//! switches the active run, so a change is recorded exactly when the switch commits.
//!
//! A change compares the two runs' assignment partitions by stable segment id (a merge full
//! join on their primary keys); customers whose segment did not change produce nothing.
//! DBSCAN noise counts as "in no segment": a customer who becomes noise has left.

use super::assignments::partition;
use super::copy::{self, CopyDecoder};
use super::{Conn, Result};
use crate::domain::activation::{Cause, Change, Position};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// A recorded activation.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationRow {
    pub segmentation_id: Uuid,
    pub activation: i64,
    pub run_id: Uuid,
    pub previous_run_id: Option<Uuid>,
    pub cause: Cause,
    pub activated_at: DateTime<Utc>,
    pub entered: i64,
    pub moved: i64,
    pub left: i64,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for ActivationRow {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> sqlx::Result<Self> {
        let cause: String = row.try_get("cause")?;
        Ok(Self {
            segmentation_id: row.try_get("segmentation_id")?,
            activation: row.try_get("activation")?,
            run_id: row.try_get("run_id")?,
            previous_run_id: row.try_get("previous_run_id")?,
            cause: cause.parse().map_err(|e| sqlx::Error::ColumnDecode {
                index: "cause".into(),
                source: Box::new(e),
            })?,
            activated_at: row.try_get("activated_at")?,
            entered: row.try_get("entered")?,
            moved: row.try_get("moved")?,
            left: row.try_get("left")?,
        })
    }
}

const COLUMNS: &str = "segmentation_id, activation, run_id, previous_run_id, cause, activated_at,
                       entered, moved, \"left\"";

/// Makes `run_id` the segmentation's active run and records the changes against the run it
/// replaces. The caller holds the segmentation's row lock (`segmentations::find_for_update`)
/// and has checked that the run succeeded with its assignments. Activating the run that is
/// active already changes nothing and records nothing (`None`). Announcing it is the
/// caller's (`service::runs::activation`).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn activate(
    tx: &mut Conn,
    segmentation_id: Uuid,
    run_id: Uuid,
    cause: Cause,
) -> Result<Option<ActivationRow>> {
    let (previous, activation): (Option<Uuid>, i64) = sqlx::query_as(
        "WITH old AS (SELECT active_run_id FROM segmentations WHERE segmentation_id = $1)
         UPDATE segmentations s
            SET active_run_id = $2,
                activations = s.activations + CASE WHEN old.active_run_id = $2 THEN 0 ELSE 1 END
           FROM old
          WHERE s.segmentation_id = $1
         RETURNING old.active_run_id, s.activations",
    )
    .bind(segmentation_id)
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    if previous == Some(run_id) {
        return Ok(None);
    }
    let new = partition(run_id);
    // Both sides in customer id order ("C" collation, the primary keys' order): a merge join
    // whose output is already in the order `ord` numbers.
    let changes = match previous {
        Some(previous) => format!(
            "SELECT external_id, p.segment AS from_segment, n.segment AS to_segment
               FROM (SELECT external_id, segment FROM {new} WHERE segment IS NOT NULL) n
               FULL JOIN (SELECT external_id, segment FROM {old} WHERE segment IS NOT NULL) p
                 USING (external_id)
              WHERE n.segment IS DISTINCT FROM p.segment",
            old = partition(previous)
        ),
        None => format!(
            "SELECT external_id, NULL::integer AS from_segment, segment AS to_segment
               FROM {new} WHERE segment IS NOT NULL"
        ),
    };
    let sql = format!(
        "WITH written AS (
             INSERT INTO membership_changes
                 (segmentation_id, activation, ord, external_id, from_segment, to_segment)
             SELECT $1, $2, row_number() OVER (ORDER BY external_id), external_id,
                    from_segment, to_segment
               FROM ({changes}) c
             RETURNING from_segment, to_segment
         )
         INSERT INTO activations ({COLUMNS})
         SELECT $1, $2, $3, $4, $5, now(),
                count(*) FILTER (WHERE from_segment IS NULL),
                count(*) FILTER (WHERE from_segment IS NOT NULL AND to_segment IS NOT NULL),
                count(*) FILTER (WHERE to_segment IS NULL)
           FROM written
         RETURNING {COLUMNS}"
    );
    let row: ActivationRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(segmentation_id)
        .bind(activation)
        .bind(run_id)
        .bind(previous)
        .bind(cause.as_str())
        .fetch_one(&mut *tx)
        .await?;
    Ok(Some(row))
}

/// A segmentation's activations, newest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    limit: i64,
) -> Result<Vec<ActivationRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM activations WHERE segmentation_id = $1
         ORDER BY activation DESC LIMIT $2"
    )))
    .bind(segmentation_id)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// One change as the feed gives it: the change, its activation's runs and time, and the
/// labels of both segments in their runs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangeRow {
    pub activation: i64,
    pub ord: i32,
    pub external_id: String,
    pub from_segment: Option<i32>,
    pub to_segment: Option<i32>,
    pub from_label: Option<String>,
    pub to_label: Option<String>,
    pub run_id: Uuid,
    pub previous_run_id: Option<Uuid>,
    pub activated_at: DateTime<Utc>,
}

impl ChangeRow {
    pub fn change(&self) -> Change {
        Change::of(self.from_segment, self.to_segment)
    }

    pub fn position(&self) -> Position {
        Position {
            activation: self.activation,
            ord: self.ord,
        }
    }
}

/// Changes with their activation and both segments' labels.
const CHANGES: &str = "SELECT c.activation, c.ord, c.external_id, c.from_segment, c.to_segment,
                fs.label AS from_label, ts.label AS to_label,
                a.run_id, a.previous_run_id, a.activated_at
           FROM membership_changes c
           JOIN activations a
             ON a.segmentation_id = c.segmentation_id AND a.activation = c.activation
           LEFT JOIN run_segments fs
             ON fs.run_id = a.previous_run_id AND fs.stable_id = c.from_segment
           LEFT JOIN run_segments ts ON ts.run_id = a.run_id AND ts.stable_id = c.to_segment";

/// Up to `limit` changes after `after`, in activation order (then customer id), optionally
/// only those into or out of `segment`.
pub async fn changes(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    after: Position,
    segment: Option<i32>,
    limit: i64,
) -> Result<Vec<ChangeRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CHANGES}
          WHERE c.segmentation_id = $1
            AND (c.segmentation_id, c.activation, c.ord) > ($1, $2, $3)
            AND ($4::integer IS NULL OR c.from_segment = $4 OR c.to_segment = $4)
          ORDER BY c.activation, c.ord
          LIMIT $5"
    )))
    .bind(segmentation_id)
    .bind(after.activation)
    .bind(after.ord)
    .bind(segment)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Changes `first`..=`last` of one activation (a webhook delivery's batch).
pub async fn changes_of_activation(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    activation: i64,
    first: i32,
    last: i32,
) -> Result<Vec<ChangeRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CHANGES} WHERE c.segmentation_id = $1 AND c.activation = $2 AND c.ord BETWEEN $3 AND $4
          ORDER BY c.ord"
    )))
    .bind(segmentation_id)
    .bind(activation)
    .bind(first)
    .bind(last)
    .fetch_all(db)
    .await?)
}

/// When a customer's latest change happened (their current segment's start), if any.
pub async fn since(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    external_id: &str,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT a.activated_at
           FROM membership_changes c
           JOIN activations a
             ON a.segmentation_id = c.segmentation_id AND a.activation = c.activation
          WHERE c.segmentation_id = $1 AND c.external_id = $2
          ORDER BY c.activation DESC
          LIMIT 1",
    )
    .bind(segmentation_id)
    .bind(external_id)
    .fetch_optional(db)
    .await?)
}

/// A customer's change time when no change is recorded for them.
pub const NO_CHANGE: i64 = i64::MIN;

/// Every customer's latest change time up to activation `upto`, as microseconds since the
/// epoch ([`NO_CHANGE`]: none), at the places `position` gives among `rows` customers: what
/// lookups serve while the run of activation `upto` is active.
///
/// Neither grouped nor joined in SQL: each activation's changes stream out in its primary
/// key's order (`COPY`, binary), the activations in turn, and a later change overwrites an
/// earlier one. A grouped merge with the run's partition took 17 s at 10M customers with
/// fresh statistics and 43 s without them (hash aggregates spilled to disk).
pub async fn latest_change_micros(
    pool: &super::Pool,
    segmentation_id: Uuid,
    upto: i64,
    rows: usize,
    position: impl Fn(&str) -> Option<usize>,
) -> Result<Vec<i64>> {
    // Through the pool, not the connection below: behind a transaction pooler a statement
    // prepared by name on a bare connection may meet its name on the server session
    // ("prepared statement already exists"); the pool runs it unnamed there.
    let times: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT activation, activated_at FROM activations
          WHERE segmentation_id = $1 AND activation <= $2 ORDER BY activation",
    )
    .bind(segmentation_id)
    .bind(upto)
    .fetch_all(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let time_of = |activation: i64| {
        times
            .binary_search_by_key(&activation, |t| t.0)
            .map(|i| times[i].1.timestamp_micros())
            .map_err(|_| copy::decode(format!("a change of unknown activation {activation}")))
    };
    // Typed values (a `Uuid`, an integer) written into the statement: `COPY` takes no
    // parameters.
    let mut stream = conn
        .copy_out_raw(&format!(
            "COPY (SELECT activation, external_id FROM membership_changes
                    WHERE segmentation_id = '{segmentation_id}' AND activation <= {upto}
                    ORDER BY activation, ord)
             TO STDOUT (FORMAT binary)"
        ))
        .await?;
    let mut micros = vec![NO_CHANGE; rows];
    let mut decoder = CopyDecoder::new(2);
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?, |f| {
            let activation = i64::from_be_bytes(
                f[0].ok_or_else(|| copy::decode("NULL activation"))?
                    .try_into()
                    .map_err(|_| copy::decode("an activation of the wrong size"))?,
            );
            let id = std::str::from_utf8(f[1].ok_or_else(|| copy::decode("NULL id"))?)
                .map_err(|e| copy::decode(e.to_string()))?;
            if let Some(i) = position(id) {
                micros[i] = time_of(activation)?;
            }
            Ok(())
        })?;
    }
    decoder.finish()?;
    Ok(micros)
}

/// Forgets a customer's changes in every segmentation (erasure).
pub async fn erase_customer(tx: &mut Conn, external_id: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM membership_changes
          WHERE (segmentation_id, external_id) IN (SELECT segmentation_id, $1 FROM segmentations)",
    )
    .bind(external_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Deletes a segmentation's changes (its activations go with it by cascade).
pub async fn delete_segmentation(tx: &mut Conn, segmentation_id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM membership_changes WHERE segmentation_id = $1")
        .bind(segmentation_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
