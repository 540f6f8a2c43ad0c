//! Push-style CSV parsing for streamed request bodies, and header normalisation.
//!
//! [`RecordReader`] takes the body chunk by chunk as it arrives (no buffering of the whole
//! body) and hands out complete records with the line they start on. It handles quoted
//! fields with embedded commas, quotes and newlines, CRLF or LF line ends, a UTF-8 byte order
//! mark and a missing final newline; blank lines are skipped.

/// One parsed record: its fields as raw bytes and the (1-based) line it starts on.
pub struct Record<'a> {
    pub line: u64,
    data: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Record<'a> {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn field(&self, i: usize) -> &'a [u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    pub fn fields(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(|i| self.field(i))
    }

    /// A record from a blank line: one empty field.
    fn is_blank(&self) -> bool {
        self.ends.len() == 1 && self.ends[0] == 0
    }
}

/// How long a field and a whole line (all its fields) may be, in bytes. Each import reads
/// within these bounds, so a body without a newline or an unterminated quote costs at most
/// one line's worth of memory before it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvLimits {
    pub max_field_bytes: usize,
    pub max_line_bytes: usize,
}

impl Default for CsvLimits {
    fn default() -> Self {
        Self {
            max_field_bytes: 1 << 20,
            max_line_bytes: 4 << 20,
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvError {
    /// A field is longer than the limit (a quote that never closes ends up here too).
    FieldTooLong {
        line: u64,
        field: usize,
        limit: usize,
    },
    LineTooLong {
        line: u64,
        limit: usize,
    },
    /// PostgreSQL text cannot hold the NUL character.
    Nul {
        line: u64,
        field: usize,
    },
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsvError::FieldTooLong { line, field, limit } => write!(
                f,
                "line {line}: field {} is longer than {limit} bytes (an unclosed quote reads to the end of the file)",
                field + 1
            ),
            CsvError::LineTooLong { line, limit } => {
                write!(f, "line {line} is longer than {limit} bytes")
            }
            CsvError::Nul { line, field } => write!(
                f,
                "line {line}: field {} contains a NUL character (byte 0), which text cannot hold",
                field + 1
            ),
        }
    }
}

impl std::error::Error for CsvError {}

impl CsvError {
    pub fn line(&self) -> u64 {
        match self {
            CsvError::FieldTooLong { line, .. }
            | CsvError::LineTooLong { line, .. }
            | CsvError::Nul { line, .. } => *line,
        }
    }
}

pub struct RecordReader {
    core: csv_core::Reader,
    limits: CsvLimits,
    /// The line the record being read starts on.
    start_line: u64,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    done: bool,
}

impl Default for RecordReader {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordReader {
    pub fn new() -> Self {
        Self::with_limits(CsvLimits::default())
    }

    pub fn with_limits(limits: CsvLimits) -> Self {
        Self::with_capacity(4096.min(limits.max_line_bytes + 1), 32, limits)
    }

    fn with_capacity(out: usize, ends: usize, limits: CsvLimits) -> Self {
        Self {
            core: csv_core::Reader::new(),
            limits,
            start_line: 1,
            out: vec![0; out.max(1)],
            out_len: 0,
            ends: vec![0; ends.max(1)],
            ends_len: 0,
            done: false,
        }
    }

    /// Parses a chunk, calling `on_record` for each record it completes. A record split across
    /// chunks is completed by a later call. Returns early with the callback's error.
    pub fn feed<E: From<CsvError>>(
        &mut self,
        mut input: &[u8],
        on_record: &mut impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !input.is_empty() {
            let consumed = self.step(input, on_record)?;
            input = &input[consumed..];
        }
        Ok(())
    }

    /// Signals the end of the body: completes a last record without a final newline.
    pub fn finish<E: From<CsvError>>(
        &mut self,
        on_record: &mut impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !self.done {
            self.step(&[], on_record)?;
        }
        Ok(())
    }

    fn step<E: From<CsvError>>(
        &mut self,
        input: &[u8],
        on_record: &mut impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        use csv_core::ReadRecordResult as R;
        let (result, nin, nout, nend) = self.core.read_record(
            input,
            &mut self.out[self.out_len..],
            &mut self.ends[self.ends_len..],
        );
        self.out_len += nout;
        self.ends_len += nend;
        // The field being read, and the line: within bounds before the buffer grows further.
        let field_start = self.ends_len.checked_sub(1).map_or(0, |i| self.ends[i]);
        if self.out_len - field_start > self.limits.max_field_bytes {
            return Err(CsvError::FieldTooLong {
                line: self.start_line,
                field: self.ends_len,
                limit: self.limits.max_field_bytes,
            }
            .into());
        }
        if self.out_len > self.limits.max_line_bytes {
            return Err(CsvError::LineTooLong {
                line: self.start_line,
                limit: self.limits.max_line_bytes,
            }
            .into());
        }
        match result {
            R::InputEmpty => {}
            R::OutputFull => {
                let len = self.out.len();
                let cap = self.limits.max_line_bytes.max(self.limits.max_field_bytes) + 1;
                self.out.resize((len * 2).min(cap).max(len + 1), 0);
            }
            R::OutputEndsFull => {
                let len = self.ends.len();
                self.ends.resize(len * 2, 0);
            }
            R::Record => {
                // `line()` counts the `\n`s consumed so far. A `\n` terminator is consumed with
                // its record, a `\r\n` one only up to the `\r` (the `\n` goes with the next
                // record); quoted fields may span lines.
                let data = &self.out[..self.out_len];
                let embedded = data.iter().filter(|&&b| b == b'\n').count() as u64;
                let terminator = u64::from(nin > 0 && input[nin - 1] == b'\n');
                let line = self
                    .core
                    .line()
                    .saturating_sub(embedded + terminator)
                    .max(1);
                // The next record starts after this one's terminator.
                self.start_line = self.core.line() + 1 - terminator;
                let ends = &self.ends[..self.ends_len];
                let long = (0..ends.len()).find(|&i| {
                    ends[i] - if i == 0 { 0 } else { ends[i - 1] } > self.limits.max_field_bytes
                });
                if let Some(field) = long {
                    self.out_len = 0;
                    self.ends_len = 0;
                    return Err(CsvError::FieldTooLong {
                        line,
                        field,
                        limit: self.limits.max_field_bytes,
                    }
                    .into());
                }
                if let Some(nul) = memchr_nul(data) {
                    let field = ends.iter().position(|&end| nul < end).unwrap_or(0);
                    self.out_len = 0;
                    self.ends_len = 0;
                    return Err(CsvError::Nul { line, field }.into());
                }
                let record = Record { line, data, ends };
                let result = if record.is_blank() {
                    Ok(())
                } else {
                    on_record(record)
                };
                self.out_len = 0;
                self.ends_len = 0;
                result?;
            }
            R::End => self.done = true,
        }
        Ok(nin)
    }
}

impl From<CsvError> for crate::error::Error {
    fn from(e: CsvError) -> Self {
        let field = match &e {
            CsvError::FieldTooLong { field, .. } | CsvError::Nul { field, .. } => {
                Some(format!("field {}", field + 1))
            }
            CsvError::LineTooLong { .. } => None,
        };
        let line = e.line();
        let message = e.to_string();
        crate::error::Error::invalid_many(
            format!("{message}; nothing was imported"),
            vec![crate::error::FieldError::line(line, field, message)],
        )
    }
}

fn memchr_nul(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == 0)
}

/// A value as one CSV field: quoted (with quotes doubled) when it holds a comma, a quote or
/// a line break.
pub fn field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Turns a spreadsheet header into an attribute name: `Annual Income (k$)` → `annual_income_k`,
/// `Spending Score (1-100)` → `spending_score`, `CustomerID` → `customer_id`,
/// `Genre` → `gender`. Units in parentheses are kept when they contain a letter and dropped
/// when they are only numbers (a range or a scale). `None` when nothing usable remains.
pub fn normalize_header(raw: &str) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    let mut rest = raw.trim();
    while !rest.is_empty() {
        let (segment, tail, in_parens) = match rest.find('(') {
            Some(0) => {
                let close = rest.find(')').unwrap_or(rest.len());
                (&rest[1..close], rest.get(close + 1..).unwrap_or(""), true)
            }
            Some(i) => (&rest[..i], &rest[i..], false),
            None => (rest, "", false),
        };
        if !in_parens || segment.chars().any(|c| c.is_alphabetic()) {
            words.extend(split_words(segment));
        }
        rest = tail;
    }
    if words.is_empty() {
        return None;
    }
    let mut name = words.join("_");
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "col_");
    }
    name.truncate(crate::domain::AttributeName::MAX_LEN);
    let name = name.trim_end_matches('_').to_owned();
    Some(match name.as_str() {
        "genre" | "sex" => "gender".to_owned(),
        _ => name,
    })
}

/// Splits on anything that is not an ASCII letter or digit, and at camel-case boundaries
/// (`CustomerID` → customer, id; `HTMLParser` → html, parser).
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let boundary = i > 0
                && c.is_ascii_uppercase()
                && (chars[i - 1].is_ascii_lowercase()
                    || chars[i - 1].is_ascii_digit()
                    || (chars[i - 1].is_ascii_uppercase()
                        && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())));
            if boundary && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            word.push(c.to_ascii_lowercase());
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    words
}

pub use crate::domain::{MISSING_TOKENS, is_missing};

/// Headers taken as the customer id column, in order of preference (normalised).
pub const ID_COLUMNS: &[&str] = &["customer_id", "customerid", "id", "client_id", "customer"];

/// Headers as a message lists them: `` `a`, `b` ``, each cut short, at most
/// [`QUOTED_HEADERS`] of them.
pub fn quoted_list(header: &[String]) -> String {
    let mut list = header
        .iter()
        .take(QUOTED_HEADERS)
        .map(|h| crate::error::quote(h))
        .collect::<Vec<_>>()
        .join(", ");
    if header.len() > QUOTED_HEADERS {
        list.push_str(&format!(" and {} more", header.len() - QUOTED_HEADERS));
    }
    list
}

/// Headers an error message lists.
pub const QUOTED_HEADERS: usize = 20;

#[cfg(test)]
mod tests;
