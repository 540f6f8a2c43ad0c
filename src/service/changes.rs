//! The change feed: customers who entered, moved between or left a segmentation's segments
//! at each activation, in activation order, resumable from an opaque cursor.

use crate::domain::SegmentationId;
use crate::domain::activation::Position;
use crate::error::{Error, Result};
use crate::ingest::csv::field;
use crate::store::Pool;
use crate::store::activations::{self, ActivationRow, ChangeRow};
use crate::store::segmentations;
use std::fmt::Write;

/// What the feed is asked for.
#[derive(Debug, Clone, Copy)]
pub struct FeedQuery {
    pub after: Position,
    /// Only changes into or out of this stable segment id.
    pub segment: Option<i32>,
    pub limit: u32,
}

/// A page of the feed.
#[derive(Debug)]
pub struct ChangePage {
    pub changes: Vec<ChangeRow>,
    /// Where the next page starts: after the last change given, or where this page was
    /// asked from when it is empty. A client stores it and passes it as `after`.
    pub next: Position,
    /// More changes follow now.
    pub has_more: bool,
}

/// The cursor a client passes as `after`; absent or empty: from the first change.
pub fn parse_after(after: Option<&str>) -> Result<Position> {
    match after.filter(|a| !a.is_empty()) {
        None => Ok(Position::START),
        Some(cursor) => Position::parse_cursor(cursor).map_err(|e| Error::invalid("after", e.0)),
    }
}

/// A page of the segmentation's changes after `query.after`.
#[tracing::instrument(skip(pool), fields(%segmentation_id))]
pub async fn page(
    pool: &Pool,
    segmentation_id: SegmentationId,
    query: FeedQuery,
) -> Result<ChangePage> {
    let id = segmentation_id.uuid();
    segmentations::find(pool, id)
        .await?
        .ok_or_else(|| segmentation_id.not_found())?;
    let mut changes = activations::changes(
        pool,
        id,
        query.after,
        query.segment,
        i64::from(query.limit) + 1,
    )
    .await?;
    let has_more = changes.len() > query.limit as usize;
    changes.truncate(query.limit as usize);
    let next = changes.last().map_or(query.after, ChangeRow::position);
    Ok(ChangePage {
        changes,
        next,
        has_more,
    })
}

/// The page as CSV, one change per line.
pub fn csv(page: &ChangePage) -> String {
    let mut out = String::from(
        "activation,customer_id,change,from_segment,from_label,to_segment,to_label,\
         run_id,previous_run_id,activated_at\n",
    );
    let id = |s: Option<i32>| s.map(|s| s.to_string()).unwrap_or_default();
    fn label(l: &Option<String>) -> std::borrow::Cow<'_, str> {
        l.as_deref().map(field).unwrap_or_default()
    }
    for c in &page.changes {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            c.activation,
            field(&c.external_id),
            c.change().as_str(),
            id(c.from_segment),
            label(&c.from_label),
            id(c.to_segment),
            label(&c.to_label),
            c.run_id,
            c.previous_run_id.map(|r| r.to_string()).unwrap_or_default(),
            c.activated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        );
    }
    out
}

/// The segmentation's latest activations, newest first.
pub async fn activations(
    pool: &Pool,
    segmentation_id: SegmentationId,
    limit: u32,
) -> Result<Vec<ActivationRow>> {
    let id = segmentation_id.uuid();
    segmentations::find(pool, id)
        .await?
        .ok_or_else(|| segmentation_id.not_found())?;
    Ok(activations::list(pool, id, i64::from(limit)).await?)
}
