//! CSV files written in Rust (a run's segment tables, `customers.csv`): RFC 4180 quoting by
//! `csv-core`, numbers in their shortest round-trip form (`ryu`; whole numbers without a
//! fraction), and text cells made safe for spreadsheets.

/// Rows of a CSV file, in memory.
pub struct CsvRows {
    out: Vec<u8>,
    writer: csv_core::Writer,
    /// Whether the current row has a field yet.
    started: bool,
}

impl Default for CsvRows {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvRows {
    pub fn new() -> Self {
        Self::with_capacity(4096)
    }

    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            out: Vec::with_capacity(bytes),
            // `\n` ends a record, as PostgreSQL's `COPY … (FORMAT csv)` does.
            writer: csv_core::WriterBuilder::new()
                .terminator(csv_core::Terminator::Any(b'\n'))
                .build(),
            started: false,
        }
    }

    /// Writes one field; `csv-core` decides its quoting from the whole of it.
    fn raw(&mut self, input: &[u8]) {
        let mut at = self.out.len();
        // Room for the worst case: every byte a doubled quote, two quotes and a delimiter.
        self.out.resize(at + 2 * input.len() + 8, 0);
        if self.started {
            let (_, n) = self.writer.delimiter(&mut self.out[at..]);
            at += n;
        }
        let (result, read, n) = self.writer.field(input, &mut self.out[at..]);
        debug_assert!(matches!(result, csv_core::WriteResult::InputEmpty) && read == input.len());
        at += n;
        self.out.truncate(at);
        self.started = true;
    }

    /// Writes a field that never needs quoting (a number), past `csv-core`'s scan.
    fn unquoted(&mut self, bytes: &[u8]) {
        if self.started {
            // Through the writer: it closes a quoted field before the delimiter.
            let at = self.out.len();
            self.out.resize(at + 2, 0);
            let (_, n) = self.writer.delimiter(&mut self.out[at..]);
            self.out.truncate(at + n);
        }
        self.out.extend_from_slice(bytes);
        self.started = true;
    }

    /// A text cell: one that a spreadsheet would read as a formula (it starts with `=`, `+`,
    /// `-`, `@`, a tab or a carriage return) gets a leading `'`, as the streamed exports do.
    pub fn text(&mut self, value: &str) -> &mut Self {
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            self.raw(format!("'{value}").as_bytes());
        } else {
            self.raw(value.as_bytes());
        }
        self
    }

    /// A cell that is empty when there is no value.
    pub fn optional_text(&mut self, value: Option<&str>) -> &mut Self {
        self.text(value.unwrap_or(""))
    }

    /// A number; empty when it is not finite or absent. Whole numbers are written without a
    /// fraction (`58`, not `58.0`), others in their shortest round-trip form.
    pub fn number(&mut self, value: Option<f64>) -> &mut Self {
        match value.filter(|v| v.is_finite()) {
            Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => {
                self.unquoted(itoa::Buffer::new().format(v as i64).as_bytes())
            }
            Some(v) => self.unquoted(ryu::Buffer::new().format_finite(v).as_bytes()),
            None => self.unquoted(b""),
        }
        self
    }

    pub fn integer(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.unquoted(itoa::Buffer::new().format(v).as_bytes()),
            None => self.unquoted(b""),
        }
        self
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Ends the row (closing a quoted last field).
    pub fn end(&mut self) -> &mut Self {
        let at = self.out.len();
        self.out.resize(at + 8, 0);
        let (_, n) = self.writer.terminator(&mut self.out[at..]);
        self.out.truncate(at + n);
        self.started = false;
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_needs_it_and_defuses_formulas() {
        let mut rows = CsvRows::new();
        rows.text("plain")
            .text("a,b")
            .text("say \"hi\"")
            .text("=SUM(A1)")
            .text("-3")
            .number(Some(-3.5))
            .number(Some(f64::NAN))
            .number(Some(58.0))
            .number(Some(0.1))
            .integer(Some(7))
            .optional_text(None)
            .end();
        rows.text("two\nlines").end();
        assert_eq!(
            String::from_utf8(rows.into_bytes()).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",'=SUM(A1),'-3,-3.5,,58,0.1,7,\n\"two\nlines\"\n"
        );
    }

    #[test]
    fn a_long_field_is_written_whole() {
        let long = "x,".repeat(1000);
        let mut rows = CsvRows::new();
        rows.text(&long).number(Some(1.5)).text("x,y").end();
        let text = String::from_utf8(rows.into_bytes()).unwrap();
        assert_eq!(text, format!("\"{long}\",1.5,\"x,y\"\n"));
    }
}
