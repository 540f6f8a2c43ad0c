//! Run assignments: one partition of `assignments` per run, loaded with binary `COPY`,
//! indexed after the load and attached in the run's result transaction; reads by key, by
//! page, as streamed CSV, and run-to-run comparisons.

use super::Result;
use super::copy::{self, CopyBuffer, CopyDecoder, CopyIn};
use crate::domain::run::{HistoryEntry, ScoreKind};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::postgres::PgPoolCopyExt;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// The partition holding a run's assignments.
/// The channel every change to a segmentation's lookups is announced on (its id as the
/// payload), by triggers (migration 0010).
pub const LOOKUPS_CHANNEL: &str = "segstore_lookups";

pub fn partition(run_id: Uuid) -> String {
    format!("assignments_{}", run_id.simple())
}

/// One row of a run's result.
#[derive(Debug, Clone, Copy)]
pub struct Assignment<'a> {
    pub external_id: &'a str,
    pub segment: Option<i32>,
    pub score: Option<f64>,
}

/// Loads a run's assignments into a new partition and attaches it, in the caller's
/// transaction: nothing is visible before it commits.
#[tracing::instrument(level = "debug", skip(tx, rows), fields(rows = rows.len()))]
pub async fn write<'a>(
    tx: &mut PgConnection,
    run_id: Uuid,
    rows: impl ExactSizeIterator<Item = Assignment<'a>>,
) -> Result<u64> {
    let table = partition(run_id);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (LIKE assignments INCLUDING DEFAULTS)"
    )))
    .execute(&mut *tx)
    .await?;
    let mut copy = CopyIn::start(
        &mut *tx,
        &format!("COPY {table} (run_id, external_id, segment, score) FROM STDIN (FORMAT binary)"),
    )
    .await?;
    let mut out = CopyBuffer::default();
    let run = run_id.as_bytes();
    for row in rows {
        let buf = out.row(4);
        copy::field(buf, run);
        copy::text(buf, Some(row.external_id));
        copy::int4(buf, row.segment);
        copy::float(buf, row.score);
        copy.send_ready(&mut out).await?;
    }
    let written = out.rows();
    copy.finish_with(&mut out).await?;
    super::partitions::attach(
        tx,
        "assignments",
        &table,
        "run_id, external_id",
        "run_id",
        &format!("'{run_id}'"),
    )
    .await?;
    Ok(written)
}

/// Drops a run's assignments (retention); the run keeps its metadata and profiles.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn drop_partition(tx: &mut PgConnection, run_id: Uuid) -> Result<()> {
    let table = partition(run_id);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE runs SET has_assignments = false WHERE run_id = $1")
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub external_id: String,
    pub segment: Option<i32>,
    pub score: Option<f64>,
}

/// A keyset page by external id; `segment` filters (`Some(None)`: noise).
pub async fn page(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    segment: Option<Option<i32>>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT external_id, segment, score FROM assignments
         WHERE run_id = $1
           AND (NOT $2 OR segment IS NOT DISTINCT FROM $3)
           AND ($4::text IS NULL OR external_id > $4)
         ORDER BY external_id LIMIT $5",
    )
    .bind(run_id)
    .bind(segment.is_some())
    .bind(segment.flatten())
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// The whole result as CSV (header included), streamed by PostgreSQL in external-id order.
pub async fn csv(
    pool: &super::Pool,
    run_id: Uuid,
    segment: Option<Option<i32>>,
    score: ScoreKind,
) -> Result<BoxStream<'static, Result<bytes::Bytes>>> {
    let filter = match segment {
        None => String::new(),
        Some(None) => " AND a.segment IS NULL".to_owned(),
        Some(Some(s)) => format!(" AND a.segment = {s}"),
    };
    // The column is named after what the score is (a fixed word, never client input).
    let score_column = score.as_str();
    let customer_id = super::formula_safe("a.external_id");
    let segment_label = super::formula_safe("s.label");
    pool.copy_out_raw(&format!(
        "COPY (SELECT {customer_id} AS customer_id, a.segment AS segment_id,
                      {segment_label} AS segment_label, a.score AS {score_column}
               FROM assignments a
               LEFT JOIN run_segments s ON s.run_id = a.run_id AND s.stable_id = a.segment
               WHERE a.run_id = '{run_id}'{filter}
               ORDER BY a.external_id)
         TO STDOUT (FORMAT csv, HEADER)"
    ))
    .await
    .map(|stream| futures_util::TryStreamExt::map_err(stream, super::Error::from).boxed())
    .map_err(Into::into)
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for HistoryEntry {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> sqlx::Result<Self> {
        use sqlx::Row;
        Ok(Self {
            run_id: row.try_get("run_id")?,
            finished_at: row.try_get("finished_at")?,
            active: row.try_get("active")?,
            segment: row.try_get("segment")?,
            score: row.try_get("score")?,
            label: row.try_get("label")?,
            persona: row.try_get("persona")?,
        })
    }
}

/// A customer's assignment in each run of the segmentation that still has its assignments,
/// newest first.
pub async fn history(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    external_id: &str,
) -> Result<Vec<HistoryEntry>> {
    sqlx::query_as(
        "SELECT r.run_id, r.finished_at, COALESCE(r.run_id = s.active_run_id, false) AS active,
                a.segment, a.score, g.label, g.persona
         FROM segmentations s
         JOIN runs r ON r.segmentation_id = s.segmentation_id AND r.has_assignments
         JOIN assignments a ON a.run_id = r.run_id AND a.external_id = $2
         LEFT JOIN run_segments g ON g.run_id = r.run_id AND g.stable_id = a.segment
         WHERE s.segmentation_id = $1
         ORDER BY r.seq DESC",
    )
    .bind(segmentation_id)
    .bind(external_id)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// Customers present in both runs, by (segment in a, segment in b).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransitionRow {
    pub from_segment: Option<i32>,
    pub to_segment: Option<i32>,
    pub customers: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MoverRow {
    pub external_id: String,
    pub from_segment: Option<i32>,
    pub to_segment: Option<i32>,
}

/// Customers whose segment differs between the runs, by external id; `from`/`to` filter
/// (`Some(None)`: noise).
pub async fn movers(
    db: impl PgExecutor<'_>,
    a: Uuid,
    b: Uuid,
    from: Option<Option<i32>>,
    to: Option<Option<i32>>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<MoverRow>> {
    sqlx::query_as(
        "SELECT x.external_id, x.segment AS from_segment, y.segment AS to_segment
         FROM assignments x JOIN assignments y
           ON y.run_id = $2 AND y.external_id = x.external_id
         WHERE x.run_id = $1 AND x.segment IS DISTINCT FROM y.segment
           AND (NOT $3 OR x.segment IS NOT DISTINCT FROM $4)
           AND (NOT $5 OR y.segment IS NOT DISTINCT FROM $6)
           AND ($7::text IS NULL OR x.external_id > $7)
         ORDER BY x.external_id LIMIT $8",
    )
    .bind(a)
    .bind(b)
    .bind(from.is_some())
    .bind(from.flatten())
    .bind(to.is_some())
    .bind(to.flatten())
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// Reads a run's whole partition (binary COPY, in key order), handing each row to `row`:
/// (external id, segment, score). An error `row` returns ends the read.
#[tracing::instrument(level = "debug", skip(pool, row))]
pub async fn load(
    pool: &super::Pool,
    run_id: Uuid,
    mut row: impl FnMut(&str, Option<i32>, Option<f64>) -> anyhow::Result<()>,
) -> Result<()> {
    let table = partition(run_id);
    let mut conn = pool.acquire().await?;
    let mut stream = conn
        .copy_out_raw(&format!(
            "COPY (SELECT external_id, segment, score FROM {table} ORDER BY external_id)
             TO STDOUT (FORMAT binary)"
        ))
        .await?;
    let mut decoder = CopyDecoder::new(3);
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?, |f| {
            let id = std::str::from_utf8(f[0].ok_or_else(|| anyhow::anyhow!("NULL id"))?)?;
            let segment = f[1]
                .map(|b| b.try_into().map(i32::from_be_bytes))
                .transpose()?;
            let score = f[2]
                .map(|b| b.try_into().map(f64::from_be_bytes))
                .transpose()?;
            Ok(row(id, segment, score)?)
        })?;
    }
    decoder.finish()?;
    Ok(())
}

/// A customer's assignments in several runs at once (one index probe per run's partition,
/// one round trip), for a lookup the cache cannot answer yet: (run, segment, score).
pub async fn find_in_runs(
    db: impl PgExecutor<'_>,
    run_ids: &[Uuid],
    external_id: &str,
) -> Result<Vec<(Uuid, Option<i32>, Option<f64>)>> {
    sqlx::query_as(
        "SELECT run_id, segment, score FROM assignments
         WHERE run_id = ANY($1) AND external_id = $2",
    )
    .bind(run_ids)
    .bind(external_id)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}
