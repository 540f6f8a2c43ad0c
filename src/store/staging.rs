//! The bulk write path shared by the JSON batch and the CSV import.
//!
//! Rows are streamed with `COPY ... FROM STDIN` into a transaction-scoped temporary table, then
//! merged into `customers` by one set-based `INSERT ... SELECT ... ON CONFLICT` statement.
//! Nothing is written per row, and the caller's transaction makes the whole batch atomic.
//!
//! Each staged row carries, per attribute position, the new value and whether it was written,
//! so a batch only touches the attributes it names: attributes it does not mention keep their
//! stored values; attributes it sets to missing are cleared.

use crate::domain::{AttributeKind, ExternalId};
use crate::store::Catalogue;
use sqlx::PgConnection;
use sqlx::postgres::PgCopyIn;
use std::fmt::Write as _;

/// What a row does to one attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot<T> {
    /// Not mentioned: the stored value stays.
    Keep,
    /// Cleared: the stored value is removed.
    Clear,
    Set(T),
}

/// Encodes rows in PostgreSQL's COPY text format and remembers which positions the batch wrote.
#[derive(Debug)]
pub struct StagingEncoder {
    buf: Vec<u8>,
    rows: u64,
    numeric_written: Vec<u64>,
    categorical_written: Vec<u64>,
}

impl StagingEncoder {
    pub fn new(numeric_width: usize, categorical_width: usize) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            rows: 0,
            numeric_written: vec![0; numeric_width],
            categorical_written: vec![0; categorical_width],
        }
    }

    /// Appends one row; `numeric` and `categorical` are indexed by position - 1.
    pub fn push(
        &mut self,
        line: u64,
        id: &ExternalId,
        numeric: &[Slot<f64>],
        categorical: &[Slot<&str>],
    ) {
        debug_assert!(numeric.len() <= self.numeric_written.len());
        debug_assert!(categorical.len() <= self.categorical_written.len());
        let buf = &mut self.buf;
        write_u64(buf, line);
        buf.push(b'\t');
        escape_copy_text(buf, id.as_str());
        buf.push(b'\t');
        encode_array(buf, numeric, |buf, v| {
            // `{:?}` prints the shortest representation that round-trips (e.g. `1e300`, `0.1`).
            let mut s = String::new();
            let _ = write!(s, "{v:?}");
            buf.extend_from_slice(s.as_bytes());
        });
        buf.push(b'\t');
        encode_mask(buf, numeric, &mut self.numeric_written);
        buf.push(b'\t');
        encode_array(buf, categorical, |buf, v| {
            // Array element quoting first, then COPY text escaping of the result.
            let mut quoted = String::with_capacity(v.len() + 2);
            quoted.push('"');
            for c in v.chars() {
                if c == '"' || c == '\\' {
                    quoted.push('\\');
                }
                quoted.push(c);
            }
            quoted.push('"');
            escape_copy_text(buf, &quoted);
        });
        buf.push(b'\t');
        encode_mask(buf, categorical, &mut self.categorical_written);
        buf.push(b'\n');
        self.rows += 1;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether enough is buffered to be worth a round trip.
    pub fn chunk_ready(&self) -> bool {
        self.buf.len() >= CHUNK_BYTES
    }

    pub fn take_chunk(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096))
    }

    fn usage(&self, kind: AttributeKind, position: usize) -> Usage {
        let written = match kind {
            AttributeKind::Numeric => &self.numeric_written,
            AttributeKind::Categorical => &self.categorical_written,
        };
        match written.get(position - 1).copied().unwrap_or(0) {
            0 => Usage::Never,
            n if n == self.rows => Usage::Always,
            _ => Usage::Sometimes,
        }
    }
}

const CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Usage {
    Never,
    Sometimes,
    Always,
}

fn write_u64(buf: &mut Vec<u8>, v: u64) {
    let mut s = String::new();
    let _ = write!(s, "{v}");
    buf.extend_from_slice(s.as_bytes());
}

fn encode_array<T: Copy>(
    buf: &mut Vec<u8>,
    slots: &[Slot<T>],
    mut element: impl FnMut(&mut Vec<u8>, T),
) {
    buf.push(b'{');
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        match slot {
            Slot::Set(v) => element(buf, *v),
            Slot::Keep | Slot::Clear => buf.extend_from_slice(b"NULL"),
        }
    }
    buf.push(b'}');
}

fn encode_mask<T>(buf: &mut Vec<u8>, slots: &[Slot<T>], written: &mut [u64]) {
    buf.push(b'{');
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        if matches!(slot, Slot::Keep) {
            buf.push(b'f');
        } else {
            buf.push(b't');
            written[i] += 1;
        }
    }
    buf.push(b'}');
}

/// COPY text format: backslash, tab, newline and carriage return are escaped.
fn escape_copy_text(buf: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

/// Creates the staging table (dropped at commit or rollback) and opens the COPY into it.
pub async fn begin_copy(tx: &mut PgConnection) -> sqlx::Result<PgCopyIn<&mut PgConnection>> {
    sqlx::query(
        "CREATE TEMPORARY TABLE customer_batch (
             line        bigint NOT NULL,
             external_id text COLLATE \"C\" NOT NULL,
             num         float8[] NOT NULL,
             num_set     bool[] NOT NULL,
             cat         text[] NOT NULL,
             cat_set     bool[] NOT NULL
         ) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    tx.copy_in_raw("COPY customer_batch (line, external_id, num, num_set, cat, cat_set) FROM STDIN")
        .await
}

/// Counts of a merged batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeOutcome {
    pub received: u64,
    pub inserted: u64,
    pub updated: u64,
    /// Present already with exactly the values sent.
    pub unchanged: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The same customer id appears more than once: (id, lines or positions).
    #[error("duplicate customer ids in one batch")]
    Duplicates(Vec<(String, Vec<i64>)>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Merges the staged rows into `customers`. Call after the COPY finished, in the same
/// transaction. Writers are serialised from here to commit (readers are not blocked), and the
/// catalogue is re-read under that lock so attributes added meanwhile are preserved.
pub async fn merge(
    tx: &mut PgConnection,
    encoder: &StagingEncoder,
) -> Result<MergeOutcome, MergeError> {
    sqlx::query("ANALYZE customer_batch")
        .execute(&mut *tx)
        .await?;
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let catalogue = super::attributes::load(&mut *tx).await?;
    let sql = merge_sql(&catalogue, encoder);
    sqlx::query("SAVEPOINT merge").execute(&mut *tx).await?;
    let counts: Result<(i64, i64), sqlx::Error> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *tx)
        .await;
    let (inserted, updated) = match counts {
        Ok(counts) => counts,
        // "ON CONFLICT DO UPDATE command cannot affect row a second time"
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("21000") => {
            sqlx::query("ROLLBACK TO SAVEPOINT merge")
                .execute(&mut *tx)
                .await?;
            let duplicates = sqlx::query_as(
                "SELECT external_id, array_agg(line ORDER BY line)
                 FROM customer_batch GROUP BY external_id HAVING count(*) > 1
                 ORDER BY min(line) LIMIT 100",
            )
            .fetch_all(&mut *tx)
            .await?;
            return Err(MergeError::Duplicates(duplicates));
        }
        Err(e) => return Err(e.into()),
    };
    let received = encoder.rows();
    let (inserted, updated) = (inserted as u64, updated as u64);
    Ok(MergeOutcome {
        received,
        inserted,
        updated,
        unchanged: received - inserted - updated,
    })
}

/// One statement: left-join the staged rows to the stored customers, build each customer's new
/// arrays position by position, and upsert them. Positions the batch always writes take the
/// staged value, positions it never writes keep the stored one, and the rest decide per row.
fn merge_sql(catalogue: &Catalogue, encoder: &StagingEncoder) -> String {
    let merged_array = |kind: AttributeKind, values: &str, set: &str, stored: &str, ty: &str| {
        let width = catalogue.width(kind);
        let elements: Vec<String> = (1..=width)
            .map(|p| match encoder.usage(kind, p) {
                Usage::Always => format!("b.{values}[{p}]"),
                Usage::Never => format!("c.{stored}[{p}]"),
                Usage::Sometimes => {
                    format!("CASE WHEN b.{set}[{p}] THEN b.{values}[{p}] ELSE c.{stored}[{p}] END")
                }
            })
            .collect();
        format!("ARRAY[{}]::{ty}[]", elements.join(", "))
    };
    let numeric = merged_array(
        AttributeKind::Numeric,
        "num",
        "num_set",
        "numeric_values",
        "float8",
    );
    let categorical = merged_array(
        AttributeKind::Categorical,
        "cat",
        "cat_set",
        "categorical_values",
        "text",
    );
    format!(
        "WITH merged AS (
             SELECT b.external_id, {numeric} AS nv, {categorical} AS cv
             FROM customer_batch b LEFT JOIN customers c ON c.external_id = b.external_id
         ), written AS (
             INSERT INTO customers AS t (external_id, numeric_values, categorical_values)
             SELECT external_id, nv, cv FROM merged
             ON CONFLICT (external_id) DO UPDATE
                 SET numeric_values = EXCLUDED.numeric_values,
                     categorical_values = EXCLUDED.categorical_values
                 WHERE t.numeric_values IS DISTINCT FROM EXCLUDED.numeric_values
                    OR t.categorical_values IS DISTINCT FROM EXCLUDED.categorical_values
             RETURNING (xmax = 0) AS inserted
         )
         SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ExternalId {
        ExternalId::parse(s).unwrap()
    }

    #[test]
    fn encodes_copy_text_with_escapes_and_masks() {
        let mut enc = StagingEncoder::new(3, 2);
        enc.push(
            7,
            &id("a\\b"),
            &[Slot::Set(1.5), Slot::Clear, Slot::Keep],
            &[Slot::Set("say \"hi\"\tnow"), Slot::Keep],
        );
        let text = String::from_utf8(enc.take_chunk()).unwrap();
        assert_eq!(
            text,
            "7\ta\\\\b\t{1.5,NULL,NULL}\t{t,t,f}\t{\"say \\\\\"hi\\\\\"\\tnow\",NULL}\t{t,f}\n"
        );
        assert_eq!(enc.usage(AttributeKind::Numeric, 1), Usage::Always);
        assert_eq!(enc.usage(AttributeKind::Numeric, 3), Usage::Never);
    }

    #[test]
    fn floats_round_trip_in_shortest_form() {
        let mut enc = StagingEncoder::new(3, 0);
        enc.push(
            1,
            &id("x"),
            &[Slot::Set(0.1), Slot::Set(1e300), Slot::Set(-15.0)],
            &[],
        );
        let text = String::from_utf8(enc.take_chunk()).unwrap();
        assert!(text.contains("{0.1,1e300,-15.0}"), "{text}");
    }

    #[test]
    fn usage_distinguishes_sometimes() {
        let mut enc = StagingEncoder::new(1, 0);
        enc.push(1, &id("x"), &[Slot::Set(1.0)], &[]);
        enc.push(2, &id("y"), &[Slot::Keep], &[]);
        assert_eq!(enc.usage(AttributeKind::Numeric, 1), Usage::Sometimes);
    }
}
