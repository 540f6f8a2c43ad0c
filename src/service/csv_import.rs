//! Streaming CSV import of customers.
//!
//! The body is parsed as it arrives. The first rows (up to [`HEAD_ROWS`]) are held back to
//! decide each new column's kind (numeric when every value there is a number); from then on
//! rows are encoded straight into a `COPY` stream, so memory stays flat however large the
//! file. The merge into `customers` is one set-based statement at the end, in the same
//! transaction as the `COPY`: a file with any bad row writes nothing, and the answer lists the
//! first bad lines.

use crate::domain::{AttributeKind, AttributeName, ExternalId, NumericValue};
use crate::error::{Error, FieldError, MAX_REPORTED_ERRORS, Result, quote};
use crate::ingest::csv::{
    ID_COLUMNS, Record, RecordReader, is_missing, normalize_header, quoted_list,
};
use crate::service::IngestLimits;
use crate::service::customers::{catalogue_full, new_attributes};
use crate::service::detach;
use crate::store::Pool;
use crate::store::staging::{self, Slot, StagingEncoder};
use crate::store::{Catalogue, attributes};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// Rows read before column kinds are decided.
pub const HEAD_ROWS: usize = 10_000;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The id column's header (as written in the file, or normalised).
    pub id_column: Option<String>,
    /// Columns to store as categorical even when their values look numeric (headers or
    /// attribute names), e.g. zip codes.
    pub categorical: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ImportedColumn {
    pub header: String,
    pub attribute: String,
    pub kind: AttributeKind,
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
    let mut head = Head::default();

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
    let layout = Layout::plan(&header, &options, &known, &head.rows)?;
    let catalogue = attributes::register(&mut tx, &layout.wanted(), limits.max_attributes)
        .await?
        .map_err(catalogue_full)?;
    let mut writer = RowWriter::new(layout, &catalogue);

    // Phase 2: every row through the COPY stream.
    let mut copy = staging::begin_copy(&mut tx).await?;
    let fed = async {
        for (line, fields) in head.rows.drain(..) {
            let fields: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
            writer.write(line, &fields);
        }
        if !ended {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                reader.feed(&chunk, &mut |r: Record<'_>| writer.write_record(&r))?;
                if writer.errors.is_empty() {
                    copy.send_ready(&mut writer.encoder).await?;
                }
            }
            reader.finish(&mut |r: Record<'_>| writer.write_record(&r))?;
        }
        Ok(())
    }
    .await;
    let fed = fed.and_then(|()| match writer.errors.is_empty() {
        true => Ok(()),
        false => Err(writer.error()),
    });
    copy.end(fed, &mut writer.encoder).await?;
    let merged = staging::merge(&mut tx, &writer.encoder).await?;
    crate::store::commit(tx).await?;
    metrics::counter!("segstore_rows_imported_total", "kind" => "customers")
        .increment(merged.received);
    let new_attributes = new_attributes(&known, &catalogue);
    if !new_attributes.is_empty() {
        crate::service::report::sync(&pool).await;
    }

    let columns = writer
        .layout
        .columns
        .iter()
        .filter_map(|c| match c {
            Column::Attribute {
                header, name, kind, ..
            } => Some(ImportedColumn {
                header: header.clone(),
                attribute: name.to_string(),
                kind: *kind,
            }),
            Column::Id => None,
        })
        .collect();
    Ok(ImportOutcome {
        id_column: writer.layout.id_header.clone(),
        columns,
        write: crate::service::customers::WriteOutcome {
            received: merged.received,
            inserted: merged.inserted,
            updated: merged.updated,
            unchanged: merged.unchanged,
            new_attributes,
        },
    })
}

/// The header and the rows held back to decide column kinds.
#[derive(Default)]
struct Head {
    header: Option<(u64, Vec<String>)>,
    rows: Vec<(u64, Vec<String>)>,
}

impl Head {
    fn take(&mut self, record: Record<'_>) -> Result<()> {
        let fields = record
            .fields()
            .enumerate()
            .map(|(i, f)| {
                String::from_utf8(f.to_vec()).map_err(|_| {
                    Error::invalid_many(
                        format!("line {}: not valid UTF-8", record.line),
                        vec![FieldError::line(
                            record.line,
                            Some(format!("column {}", i + 1)),
                            "not valid UTF-8",
                        )],
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if self.header.is_none() {
            self.header = Some((record.line, fields));
        } else {
            self.rows.push((record.line, fields));
        }
        Ok(())
    }
}

#[derive(Debug)]
enum Column {
    Id,
    Attribute {
        header: String,
        name: AttributeName,
        kind: AttributeKind,
        /// Not in the catalogue before this import (its kind was inferred or forced).
        new: bool,
    },
}

/// How the file's columns map onto the customer id and attributes.
#[derive(Debug)]
struct Layout {
    id_header: String,
    columns: Vec<Column>,
}

impl Layout {
    fn plan(
        (header_line, header): &(u64, Vec<String>),
        options: &ImportOptions,
        known: &Catalogue,
        head: &[(u64, Vec<String>)],
    ) -> Result<Self> {
        let normalized: Vec<Option<String>> = header.iter().map(|h| normalize_header(h)).collect();
        let id_index = match &options.id_column {
            Some(wanted) => header
                .iter()
                .zip(&normalized)
                .position(|(raw, norm)| raw.trim() == wanted || norm.as_deref() == Some(wanted))
                .ok_or_else(|| {
                    Error::invalid(
                        "id_column",
                        format!(
                            "the header has no column {}; its columns are {}",
                            quote(wanted),
                            quoted_list(header)
                        ),
                    )
                })?,
            None => ID_COLUMNS
                .iter()
                .find_map(|id| normalized.iter().position(|n| n.as_deref() == Some(*id)))
                .ok_or_else(|| {
                    Error::invalid(
                        "id_column",
                        format!(
                            "no customer id column found (looked for CustomerID, customer_id, id); \
                             name it with ?id_column=; the header's columns are {}",
                            quoted_list(header)
                        ),
                    )
                })?,
        };
        let mut errors = Vec::new();
        let mut columns = Vec::with_capacity(header.len());
        for (i, (raw, norm)) in header.iter().zip(&normalized).enumerate() {
            if i == id_index {
                columns.push(Column::Id);
                continue;
            }
            let name = match norm.as_deref().map(AttributeName::parse) {
                Some(Ok(name)) => name,
                Some(Err(e)) => {
                    errors.push(FieldError::line(*header_line, Some(raw.clone()), e.0));
                    continue;
                }
                None => {
                    errors.push(FieldError::line(
                        *header_line,
                        Some(format!("column {}", i + 1)),
                        format!(
                            "header {} has no letters or digits to name an attribute",
                            quote(raw)
                        ),
                    ));
                    continue;
                }
            };
            if let Some(Column::Attribute { header: other, .. }) = columns
                .iter()
                .find(|c| matches!(c, Column::Attribute { name: n, .. } if *n == name))
            {
                errors.push(FieldError::line(
                    *header_line,
                    Some(raw.clone()),
                    format!(
                        "{} and {} both become attribute `{name}`",
                        quote(raw),
                        quote(other)
                    ),
                ));
                continue;
            }
            let forced = options
                .categorical
                .iter()
                .any(|c| c.trim() == raw.trim() || *c == name.as_str());
            let existing = known.get(name.as_str()).map(|a| a.kind);
            let kind = match existing {
                Some(kind) => kind,
                None if forced => AttributeKind::Categorical,
                None => infer_kind(
                    head.iter()
                        .take(HEAD_ROWS)
                        .filter_map(|(_, row)| row.get(i)),
                ),
            };
            columns.push(Column::Attribute {
                header: raw.clone(),
                name,
                kind,
                new: existing.is_none(),
            });
        }
        if !errors.is_empty() {
            return Err(Error::invalid_many(
                format!("the CSV header cannot be used: {}", errors[0].message),
                errors,
            ));
        }
        Ok(Self {
            id_header: header[id_index].clone(),
            columns,
        })
    }

    fn wanted(&self) -> Vec<(AttributeName, AttributeKind)> {
        self.columns
            .iter()
            .filter_map(|c| match c {
                Column::Attribute { name, kind, .. } => Some((name.clone(), *kind)),
                Column::Id => None,
            })
            .collect()
    }
}

/// Numeric when at least one value is present and every present value is a finite number.
fn infer_kind<'a>(values: impl Iterator<Item = &'a String>) -> AttributeKind {
    let mut seen = false;
    for v in values.filter(|v| !is_missing(v)) {
        if NumericValue::parse(v).is_err() {
            return AttributeKind::Categorical;
        }
        seen = true;
    }
    if seen {
        AttributeKind::Numeric
    } else {
        AttributeKind::Categorical
    }
}

/// Turns records into staged rows, collecting the first bad lines.
struct RowWriter {
    layout: Layout,
    /// Per column: its position in the numeric or categorical array (0-based).
    positions: Vec<usize>,
    encoder: StagingEncoder,
    numeric: Vec<Slot<f64>>,
    categorical_width: usize,
    errors: Vec<FieldError>,
    bad_rows: u64,
}

impl RowWriter {
    fn new(layout: Layout, catalogue: &Catalogue) -> Self {
        let positions = layout
            .columns
            .iter()
            .map(|c| match c {
                Column::Attribute { name, .. } => {
                    catalogue.get(name.as_str()).expect("registered").position - 1
                }
                Column::Id => 0,
            })
            .collect();
        let numeric_width = catalogue.width(AttributeKind::Numeric);
        let categorical_width = catalogue.width(AttributeKind::Categorical);
        Self {
            layout,
            positions,
            encoder: StagingEncoder::new(numeric_width, categorical_width),
            numeric: vec![Slot::Keep; numeric_width],
            categorical_width,
            errors: Vec::new(),
            bad_rows: 0,
        }
    }

    fn write_record(&mut self, record: &Record<'_>) -> Result<()> {
        let fields: Vec<&[u8]> = record.fields().collect();
        self.write(record.line, &fields);
        Ok(())
    }

    fn fail(&mut self, error: FieldError) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(error);
        }
    }

    fn write(&mut self, line: u64, fields: &[&[u8]]) {
        let expected = self.layout.columns.len();
        if fields.len() != expected {
            self.bad_rows += 1;
            self.fail(FieldError::line(
                line,
                None,
                format!("expected {expected} fields, found {}", fields.len()),
            ));
            return;
        }
        let mut id = None;
        let mut categorical: Vec<Slot<&str>> = vec![Slot::Keep; self.categorical_width];
        self.numeric.iter_mut().for_each(|s| *s = Slot::Keep);
        let mut row_ok = true;
        for (i, raw) in fields.iter().enumerate() {
            let Ok(text) = std::str::from_utf8(raw) else {
                row_ok = false;
                self.fail(FieldError::line(
                    line,
                    Some(self.column_label(i)),
                    "not valid UTF-8",
                ));
                continue;
            };
            match &self.layout.columns[i] {
                Column::Id => match ExternalId::parse(text) {
                    Ok(parsed) => id = Some(parsed),
                    Err(e) => {
                        row_ok = false;
                        let label = self.layout.id_header.clone();
                        self.fail(FieldError::line(line, Some(label), e.0));
                    }
                },
                Column::Attribute { kind, new, .. } => {
                    let (kind, new) = (*kind, *new);
                    let p = self.positions[i];
                    if is_missing(text) {
                        match kind {
                            AttributeKind::Numeric => self.numeric[p] = Slot::Clear,
                            AttributeKind::Categorical => categorical[p] = Slot::Clear,
                        }
                        continue;
                    }
                    match kind {
                        AttributeKind::Numeric => match NumericValue::parse(text) {
                            Ok(v) => self.numeric[p] = Slot::Set(v.get()),
                            Err(e) => {
                                row_ok = false;
                                let label = self.column_label(i);
                                let why = if new {
                                    format!(
                                        "column `{label}` is numeric; pass ?categorical={label} to store it as text"
                                    )
                                } else {
                                    format!("column `{label}` holds a numeric attribute")
                                };
                                self.fail(FieldError::line(
                                    line,
                                    Some(label),
                                    format!("{} ({why})", e.0),
                                ));
                            }
                        },
                        AttributeKind::Categorical => categorical[p] = Slot::Set(text),
                    }
                }
            }
        }
        match (row_ok, id) {
            (true, Some(id)) if self.errors.is_empty() => {
                self.encoder.push(line, &id, &self.numeric, &categorical);
            }
            (true, Some(_)) => {}
            _ => self.bad_rows += 1,
        }
    }

    fn column_label(&self, i: usize) -> String {
        match &self.layout.columns[i] {
            Column::Attribute { header, .. } => header.clone(),
            Column::Id => self.layout.id_header.clone(),
        }
    }

    fn error(&self) -> Error {
        let lines: Vec<String> = self
            .errors
            .iter()
            .filter_map(|e| e.line)
            .take(10)
            .map(|l| l.to_string())
            .collect();
        Error::invalid_many(
            format!(
                "{} invalid row{}; nothing was imported. First at line{} {}: {}",
                self.bad_rows,
                if self.bad_rows == 1 { "" } else { "s" },
                if lines.len() > 1 { "s" } else { "" },
                lines.join(", "),
                self.errors.first().map_or("", |e| e.message.as_str())
            ),
            self.errors.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_inferred_from_present_values() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            infer_kind(v(&["1", "2.5", "", "NA"]).iter()),
            AttributeKind::Numeric
        );
        assert_eq!(
            infer_kind(v(&["1", "x"]).iter()),
            AttributeKind::Categorical
        );
        assert_eq!(infer_kind(v(&["", ""]).iter()), AttributeKind::Categorical);
        assert_eq!(infer_kind(v(&["inf"]).iter()), AttributeKind::Categorical);
    }
}
