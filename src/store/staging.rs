//! The bulk write path shared by the JSON batch and the CSV import.
//!
//! Rows are streamed with `COPY ... FROM STDIN (FORMAT binary)` into a transaction-scoped
//! temporary table, then merged into `customers` by one set-based `MERGE` statement.
//! Nothing is written per row, and the caller's transaction makes the whole batch atomic.
//!
//! Each staged row carries, per attribute position, the new value and whether it was written,
//! so a batch only touches the attributes it names: attributes it does not mention keep their
//! stored values; attributes it sets to missing are cleared.

use super::Result;
use super::copy::CopyIn;
pub use crate::domain::Update;
use crate::domain::{AttributeKind, ExternalId};
use crate::store::Catalogue;
use crate::store::copy::{CopyBuffer, field};
use sqlx::PgConnection;

/// Encodes rows in PostgreSQL's binary COPY format (no text parsing of numbers or arrays on
/// the server) and remembers which positions the batch wrote.
#[derive(Debug)]
pub struct StagingEncoder {
    out: CopyBuffer,
    numeric_written: Vec<u64>,
    categorical_written: Vec<u64>,
}

/// Type OIDs of array elements.
const FLOAT8_OID: u32 = 701;
const TEXT_OID: u32 = 25;
const BOOL_OID: u32 = 16;

impl StagingEncoder {
    pub fn new(numeric_width: usize, categorical_width: usize) -> Self {
        Self {
            out: CopyBuffer::default(),
            numeric_written: vec![0; numeric_width],
            categorical_written: vec![0; categorical_width],
        }
    }

    /// Appends one row; `numeric` and `categorical` are indexed by position - 1.
    pub fn push(
        &mut self,
        line: u64,
        id: &ExternalId,
        numeric: &[Update<f64>],
        categorical: &[Update<&str>],
    ) {
        debug_assert!(numeric.len() <= self.numeric_written.len());
        debug_assert!(categorical.len() <= self.categorical_written.len());
        let buf = self.out.row(6);
        field(buf, &line.to_be_bytes());
        field(buf, id.as_str().as_bytes());
        array(buf, FLOAT8_OID, numeric, |buf, v| {
            field(buf, &v.to_be_bytes())
        });
        mask(buf, numeric, &mut self.numeric_written);
        array(buf, TEXT_OID, categorical, |buf, v| {
            field(buf, v.as_bytes())
        });
        mask(buf, categorical, &mut self.categorical_written);
    }

    pub fn rows(&self) -> u64 {
        self.out.rows()
    }

    fn usage(&self, kind: AttributeKind, position: usize) -> Usage {
        let written = match kind {
            AttributeKind::Numeric => &self.numeric_written,
            AttributeKind::Categorical => &self.categorical_written,
        };
        match written.get(position - 1).copied().unwrap_or(0) {
            0 => Usage::Never,
            n if n == self.out.rows() => Usage::Always,
            _ => Usage::Sometimes,
        }
    }
}

impl super::copy::Encoded for StagingEncoder {
    fn buffer(&mut self) -> &mut CopyBuffer {
        &mut self.out
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Usage {
    Never,
    Sometimes,
    Always,
}

/// Writes a field of `length` bytes whose content `write` appends, patching the length after.
fn sized(buf: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = buf.len();
    buf.extend_from_slice(&0i32.to_be_bytes());
    write(buf);
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// A one-dimensional array (lower bound 1); `Keep` and `Clear` are NULL elements.
fn array<T: Copy>(
    buf: &mut Vec<u8>,
    element_oid: u32,
    slots: &[Update<T>],
    mut element: impl FnMut(&mut Vec<u8>, T),
) {
    sized(buf, |buf| {
        let has_null = slots.iter().any(|s| !matches!(s, Update::Set(_)));
        let ndim: i32 = if slots.is_empty() { 0 } else { 1 };
        buf.extend_from_slice(&ndim.to_be_bytes());
        buf.extend_from_slice(&i32::from(has_null).to_be_bytes());
        buf.extend_from_slice(&element_oid.to_be_bytes());
        if ndim == 1 {
            buf.extend_from_slice(&(slots.len() as i32).to_be_bytes());
            buf.extend_from_slice(&1i32.to_be_bytes());
        }
        for slot in slots {
            match slot {
                Update::Set(v) => element(buf, *v),
                Update::Keep | Update::Clear => buf.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    });
}

/// The "written" mask: true for `Set` and `Clear`.
fn mask<T>(buf: &mut Vec<u8>, slots: &[Update<T>], written: &mut [u64]) {
    let flags: Vec<Update<bool>> = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let w = !matches!(slot, Update::Keep);
            written[i] += u64::from(w);
            Update::Set(w)
        })
        .collect();
    array(buf, BOOL_OID, &flags, |buf, v| field(buf, &[u8::from(v)]));
}

/// Creates the staging table (dropped at commit or rollback) and opens the COPY into it.
pub async fn begin_copy(tx: &mut PgConnection) -> Result<CopyIn<'_>> {
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
    CopyIn::start(
        tx,
        "COPY customer_batch (line, external_id, num, num_set, cat, cat_set) \
         FROM STDIN (FORMAT binary)",
    )
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

/// Merges the staged rows into `customers`. Call after the COPY finished, in the same
/// transaction. Writers are serialised from here to commit (readers are not blocked), which
/// makes a plain `MERGE` safe (no speculative `ON CONFLICT` insertion, about twice as fast on
/// large batches); the catalogue is re-read under that lock so attributes added meanwhile are
/// preserved. A customer id staged twice makes PostgreSQL refuse the `MERGE` (a stored customer
/// matched twice) or the insert (a new customer inserted twice); the lines are then looked up
/// and returned as [`Error::Duplicates`](super::Error::Duplicates).
pub async fn merge(tx: &mut PgConnection, encoder: &StagingEncoder) -> Result<MergeOutcome> {
    // No ANALYZE: the planner sizes the unanalysed staging table from its page count, which
    // is enough to choose between an index lookup (small batch) and a hash join (large one).
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let catalogue = super::attributes::load(&mut *tx).await?;
    let matched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM customer_batch b
         WHERE EXISTS (SELECT 1 FROM customers c WHERE c.external_id = b.external_id)",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("SAVEPOINT merge").execute(&mut *tx).await?;
    let merged = sqlx::query(sqlx::AssertSqlSafe(merge_sql(&catalogue, encoder)))
        .execute(&mut *tx)
        .await;
    let affected = match merged {
        Ok(done) => done.rows_affected(),
        // 21000: "MERGE command cannot affect row a second time"; 23505: unique violation.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("21000") | Some("23505")) =>
        {
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
            if duplicates.is_empty() {
                return Err(sqlx::Error::Database(e).into());
            }
            return Err(super::Error::Duplicates(duplicates));
        }
        Err(e) => return Err(e.into()),
    };
    let received = encoder.rows();
    let matched = matched as u64;
    let inserted = received - matched;
    let updated = affected - inserted;
    Ok(MergeOutcome {
        received,
        inserted,
        updated,
        unchanged: matched - updated,
    })
}

/// One `MERGE`: a stored customer gets new arrays built position by position (positions the
/// batch always writes take the staged value, positions it never writes keep the stored one,
/// the rest decide per row) and is rewritten only if they differ; a new customer is inserted
/// with the staged arrays as they are.
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
        "MERGE INTO customers c
         USING customer_batch b ON c.external_id = b.external_id
         WHEN MATCHED AND ({numeric} IS DISTINCT FROM c.numeric_values
                           OR {categorical} IS DISTINCT FROM c.categorical_values) THEN
             UPDATE SET numeric_values = {numeric}, categorical_values = {categorical}
         WHEN NOT MATCHED THEN
             INSERT (external_id, numeric_values, categorical_values)
             VALUES (b.external_id, b.num, b.cat)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ExternalId {
        ExternalId::parse(s).unwrap()
    }

    #[test]
    fn encodes_binary_copy_tuples() {
        let mut enc = StagingEncoder::new(2, 1);
        let header = enc.out.bytes().len();
        assert_eq!(&enc.out.bytes()[..11], super::super::copy::SIGNATURE);
        enc.push(
            7,
            &id("a"),
            &[Update::Set(1.5), Update::Clear],
            &[Update::Keep],
        );
        let bytes = crate::store::copy::Encoded::buffer(&mut enc).take_last_chunk();
        let t = &bytes[header..];
        let mut expected: Vec<u8> = vec![0, 6];
        expected.extend([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7]); // line
        expected.extend([0, 0, 0, 1, b'a']); // external_id
        // float8[] {1.5, NULL}: ndim, has_null, oid, len, lbound, elements
        expected.extend(36i32.to_be_bytes());
        expected.extend([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 2, 189, 0, 0, 0, 2, 0, 0, 0, 1]);
        expected.extend([0, 0, 0, 8]);
        expected.extend(1.5f64.to_be_bytes());
        expected.extend((-1i32).to_be_bytes());
        // bool[] {t, t}
        expected.extend(30i32.to_be_bytes());
        expected.extend([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0, 1]);
        expected.extend([0, 0, 0, 1, 1, 0, 0, 0, 1, 1]);
        // text[] {NULL}
        expected.extend(24i32.to_be_bytes());
        expected.extend([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 25, 0, 0, 0, 1, 0, 0, 0, 1]);
        expected.extend((-1i32).to_be_bytes());
        // bool[] {f}
        expected.extend(25i32.to_be_bytes());
        expected.extend([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 1]);
        expected.extend([0, 0, 0, 1, 0]);
        expected.extend([0xff, 0xff]); // end of data
        assert_eq!(t, &expected[..]);
        assert_eq!(enc.usage(AttributeKind::Numeric, 1), Usage::Always);
        assert_eq!(enc.usage(AttributeKind::Numeric, 2), Usage::Always);
        assert_eq!(enc.usage(AttributeKind::Categorical, 1), Usage::Never);
    }

    #[test]
    fn empty_arrays_have_no_dimensions() {
        let mut buf = Vec::new();
        array::<f64>(&mut buf, FLOAT8_OID, &[], |_, _| {});
        assert_eq!(buf, [0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 189]);
    }

    #[test]
    fn usage_distinguishes_sometimes() {
        let mut enc = StagingEncoder::new(1, 0);
        enc.push(1, &id("x"), &[Update::Set(1.0)], &[]);
        enc.push(2, &id("y"), &[Update::Keep], &[]);
        assert_eq!(enc.usage(AttributeKind::Numeric, 1), Usage::Sometimes);
    }
}
