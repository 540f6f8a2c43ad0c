//! Streaming CSV import of customers.
//!
//! The body is parsed as it arrives. The first rows (up to [`HEAD_ROWS`]) are held back to
//! decide each new column's kind (numeric when every value there is a number, see
//! `ingest::customers`); from then on the pump (`service::pump`) encodes rows straight into a
//! `COPY` stream, so memory stays flat however large the file. The merge into `customers` is one set-based statement at the end, in the same
//! transaction as the `COPY`: a file with any bad row writes nothing, and the answer lists the
//! first bad lines.

use super::pump::{RecordSink, pump};
use crate::domain::AttributeKind;
use crate::error::{Error, FieldError, Result};
use crate::ingest::csv::{Record, RecordReader};
use crate::ingest::customers::{Column, CustomerRow, CustomerRows, HeldBack, Layout};
pub use crate::ingest::customers::{HEAD_ROWS, ImportOptions, ImportedColumn};
use crate::service::IngestLimits;
use crate::service::customers::{catalogue_full, new_attributes};
use crate::service::detach;
use crate::store::Pool;
use crate::store::attributes;
use crate::store::staging::{self, StagingEncoder};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// The customer mapping's rows, staged for the merge.
struct CustomerSink {
    rows: CustomerRows,
    encoder: StagingEncoder,
}

impl CustomerSink {
    fn read(&mut self, line: u64, fields: &[&[u8]]) {
        let encoder = &mut self.encoder;
        self.rows.read(line, fields, &mut |r: CustomerRow<'_>| {
            encoder.push(r.line, r.id, r.numeric, r.categorical)
        });
    }
}

impl RecordSink for CustomerSink {
    type Rows = StagingEncoder;

    fn record(&mut self, record: Record<'_>) -> Result<()> {
        let fields: Vec<&[u8]> = record.fields().collect();
        self.read(record.line, &fields);
        Ok(())
    }

    fn rows(&mut self) -> &mut StagingEncoder {
        &mut self.encoder
    }

    fn clean(&self) -> bool {
        self.rows.clean()
    }

    fn verdict(&self) -> Result<()> {
        match self.rows.clean() {
            true => Ok(()),
            false => Err(self.rows.error()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub id_column: String,
    pub columns: Vec<ImportedColumn>,
    pub write: crate::service::customers::WriteOutcome,
}

/// Imports a CSV body. `body` yields the request's chunks as they arrive.
#[tracing::instrument(skip_all)]
pub async fn import<S>(
    pool: &Pool,
    options: ImportOptions,
    limits: IngestLimits,
    body: S,
) -> Result<ImportOutcome>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let pool = pool.clone();
    detach::streamed(body, move |body| import_body(pool, options, limits, body)).await
}

async fn import_body(
    pool: Pool,
    options: ImportOptions,
    limits: IngestLimits,
    mut body: detach::Body,
) -> Result<ImportOutcome> {
    let mut reader = RecordReader::with_limits(limits.csv);
    let mut head = HeldBack::default();

    // Phase 1: the header and the first rows (the chunk that completes them may carry more).
    let mut ended = false;
    while head.rows.len() < HEAD_ROWS {
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk?;
                reader.feed(&chunk, &mut |r: Record<'_>| head.take(r))?;
            }
            None => {
                reader.finish(&mut |r: Record<'_>| head.take(r))?;
                ended = true;
                break;
            }
        }
    }
    let header = head
        .header
        .take()
        .ok_or_else(|| Error::invalid("body", "the CSV body is empty: it needs a header line"))?;

    if ended && head.rows.is_empty() {
        // Columns without a value would become attributes nobody has.
        return Err(Error::invalid(
            "body",
            "the CSV has a header but no data lines; nothing was imported",
        ));
    }
    let mut tx = crate::store::begin(&pool).await?;
    let known = attributes::load(&mut *tx).await?;
    let layout = Layout::plan(
        &header,
        &options,
        |name| known.get(name).map(|a| a.kind),
        &head.rows,
    )?;
    let predicted: Vec<FieldError> = layout
        .columns
        .iter()
        .filter_map(|c| match c {
            Column::Attribute {
                header: column,
                name,
                ..
            } => crate::service::customers::not_writable(name.as_str())
                .map(|why| FieldError::line(header.0, Some(column.clone()), why)),
            Column::Id => None,
        })
        .collect();
    if let Some(first) = predicted.first() {
        return Err(Error::invalid_many(
            format!("the CSV header cannot be used: {}", first.message),
            predicted,
        ));
    }
    let catalogue = attributes::register(&mut tx, &layout.wanted(), limits.max_attributes)
        .await?
        .map_err(catalogue_full)?;
    let (numeric_width, categorical_width) = (
        catalogue.width(AttributeKind::Numeric),
        catalogue.width(AttributeKind::Categorical),
    );
    let position = |name: &crate::domain::AttributeName| {
        catalogue.get(name.as_str()).expect("registered").position
    };
    let mut sink = CustomerSink {
        rows: CustomerRows::new(layout, position, numeric_width, categorical_width),
        encoder: StagingEncoder::new(numeric_width, categorical_width),
    };

    // Phase 2: every row through the COPY stream, the held-back ones first.
    let copy = staging::begin_copy(&mut tx).await?;
    for (line, fields) in head.rows.drain(..) {
        let fields: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
        sink.read(line, &fields);
    }
    pump(copy, &mut body, ended, &mut reader, &mut sink).await?;
    let merged = staging::merge(&mut tx, &sink.encoder).await?;
    crate::store::commit(tx).await?;
    metrics::counter!("segstore_rows_imported_total", "kind" => "customers")
        .increment(merged.received);
    let new_attributes = new_attributes(&known, &catalogue);
    if !new_attributes.is_empty() {
        crate::service::report::sync(&pool).await;
    }

    let layout = sink.rows.layout();
    Ok(ImportOutcome {
        id_column: layout.id_header.clone(),
        columns: layout.imported(),
        write: crate::service::customers::WriteOutcome {
            received: merged.received,
            inserted: merged.inserted,
            updated: merged.updated,
            unchanged: merged.unchanged,
            new_attributes,
        },
    })
}
