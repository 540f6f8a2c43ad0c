//! The customer CSV's mapping: the header's columns onto the customer id and attributes
//! (kinds inferred from the first rows held back, or forced), and each line into the row
//! the store stages, with errors that name the line and column.

use super::csv::{ID_COLUMNS, Record, is_missing, normalize_header, quoted_list};
use crate::domain::Update;
use crate::domain::{AttributeKind, AttributeName, ExternalId, NumericValue};
use crate::error::{Error, FieldError, MAX_REPORTED_ERRORS, Result, quote};

/// Rows read before column kinds are decided.
pub const HEAD_ROWS: usize = 10_000;

/// How a customer CSV is read.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The id column's header (as written in the file, or normalised).
    pub id_column: Option<String>,
    /// Columns to store as categorical even when their values look numeric (headers or
    /// attribute names), e.g. zip codes.
    pub categorical: Vec<String>,
}

/// A column imported as an attribute.
#[derive(Debug, Clone)]
pub struct ImportedColumn {
    pub header: String,
    pub attribute: String,
    pub kind: AttributeKind,
}

/// The header and the rows held back to decide column kinds.
#[derive(Default)]
pub struct HeldBack {
    pub header: Option<(u64, Vec<String>)>,
    pub rows: Vec<(u64, Vec<String>)>,
}

impl HeldBack {
    /// Keeps a record: the first is the header, the others rows.
    pub fn take(&mut self, record: Record<'_>) -> Result<()> {
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

/// What one column of the file is.
#[derive(Debug)]
pub enum Column {
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
pub struct Layout {
    pub id_header: String,
    pub columns: Vec<Column>,
}

impl Layout {
    /// The layout of a file with this header: the id column (named, or found among
    /// [`ID_COLUMNS`]) and each other column's attribute, of the kind the catalogue gives it
    /// (`known`) or, for a new one, forced or inferred from the held-back `head` rows.
    pub fn plan(
        (header_line, header): &(u64, Vec<String>),
        options: &ImportOptions,
        known: impl Fn(&str) -> Option<AttributeKind>,
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
            let existing = known(name.as_str());
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

    /// The attributes the file's columns need, with their kinds.
    pub fn wanted(&self) -> Vec<(AttributeName, AttributeKind)> {
        self.columns
            .iter()
            .filter_map(|c| match c {
                Column::Attribute { name, kind, .. } => Some((name.clone(), *kind)),
                Column::Id => None,
            })
            .collect()
    }

    /// The columns imported as attributes, as the import's answer lists them.
    pub fn imported(&self) -> Vec<ImportedColumn> {
        self.columns
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

/// A row as the store stages it: its file line, the customer, and what it does to each
/// numeric and categorical attribute (by catalogue position).
pub struct CustomerRow<'a> {
    pub line: u64,
    pub id: &'a ExternalId,
    pub numeric: &'a [Update<f64>],
    pub categorical: &'a [Update<&'a str>],
}

/// Turns records into customer rows, collecting the first bad lines. Once a line is bad no
/// row is handed on (the file will be refused), but every line is still checked.
pub struct CustomerRows {
    layout: Layout,
    /// Per column: its position in the numeric or categorical array (0-based).
    positions: Vec<usize>,
    numeric: Vec<Update<f64>>,
    categorical_width: usize,
    errors: Vec<FieldError>,
    bad_rows: u64,
}

impl CustomerRows {
    /// `position` gives a registered attribute's 1-based position among those of its kind;
    /// the widths are the catalogue's numeric and categorical widths.
    pub fn new(
        layout: Layout,
        position: impl Fn(&AttributeName) -> usize,
        numeric_width: usize,
        categorical_width: usize,
    ) -> Self {
        let positions = layout
            .columns
            .iter()
            .map(|c| match c {
                Column::Attribute { name, .. } => position(name) - 1,
                Column::Id => 0,
            })
            .collect();
        Self {
            layout,
            positions,
            numeric: vec![Update::Keep; numeric_width],
            categorical_width,
            errors: Vec::new(),
            bad_rows: 0,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Whether every line so far was good.
    pub fn clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// Reads a record, handing its row to `out` when the file is still good.
    pub fn read_record(&mut self, record: &Record<'_>, out: &mut impl FnMut(CustomerRow<'_>)) {
        let fields: Vec<&[u8]> = record.fields().collect();
        self.read(record.line, &fields, out);
    }

    fn fail(&mut self, error: FieldError) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(error);
        }
    }

    /// Reads a line's fields, handing its row to `out` when the file is still good.
    pub fn read(&mut self, line: u64, fields: &[&[u8]], out: &mut impl FnMut(CustomerRow<'_>)) {
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
        let mut categorical: Vec<Update<&str>> = vec![Update::Keep; self.categorical_width];
        self.numeric.iter_mut().for_each(|s| *s = Update::Keep);
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
                            AttributeKind::Numeric => self.numeric[p] = Update::Clear,
                            AttributeKind::Categorical => categorical[p] = Update::Clear,
                        }
                        continue;
                    }
                    match kind {
                        AttributeKind::Numeric => match NumericValue::parse(text) {
                            Ok(v) => self.numeric[p] = Update::Set(v.get()),
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
                        AttributeKind::Categorical => categorical[p] = Update::Set(text),
                    }
                }
            }
        }
        match (row_ok, id) {
            (true, Some(id)) if self.errors.is_empty() => out(CustomerRow {
                line,
                id: &id,
                numeric: &self.numeric,
                categorical: &categorical,
            }),
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

    /// The error that refuses the file: how many rows were bad, and the first of them.
    pub fn error(&self) -> Error {
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
