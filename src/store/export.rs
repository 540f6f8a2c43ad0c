//! Flat exports: `customers.csv`'s rows, one per customer with every attribute and its segment
//! in each given run, read by binary `COPY … TO STDOUT` in external-id order and decoded as
//! they stream, a batch per chunk (the caller formats).

use super::copy::CopyDecoder;
use super::{Attribute, Result};
use crate::domain::AttributeKind;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::postgres::PgPoolCopyExt;
use uuid::Uuid;

/// Rows of customers, as decoded from one chunk of the stream.
#[derive(Debug, Default)]
pub struct CustomerBatch {
    pub ids: Vec<String>,
    /// Row-major: each row's numeric attributes, in the order given (`None`: missing).
    pub numbers: Vec<Option<f64>>,
    /// Row-major: each row's categorical attributes, in the order given.
    pub texts: Vec<Option<String>>,
    /// Row-major, one per run: the stable segment id (`None`: not segmented, or noise).
    pub segments: Vec<Option<i32>>,
}

/// Every customer in external-id order: `attributes` (in the order given) and its segment in
/// each of `runs`.
///
/// Two binary `COPY`s stream side by side, each on its own connection, both in external-id
/// order: the customers, and the runs' assignments (merged by PostgreSQL across the runs'
/// partitions). They are merged here, as a merge join would, so PostgreSQL scans the two on
/// two cores and joins nothing: the export reads at the speed of the customer scan alone. An
/// assignment whose customer is gone by then (erased between the two reads) is skipped.
pub async fn customers(
    pool: &super::Pool,
    attributes: &[Attribute],
    runs: &[Uuid],
) -> Result<BoxStream<'static, Result<CustomerBatch>>> {
    let wanted: Vec<Field> = attributes.iter().map(Field::of).collect();
    let clv = wanted.iter().any(|f| matches!(f, Field::Clv(_)));
    let mut customers = pool.copy_out_raw(&customers_sql(clv)).await?;
    let assignments = match assignments_sql(runs) {
        Some(sql) => Some(pool.copy_out_raw(&sql).await?),
        None => None,
    };
    let runs = runs.len();
    Ok(async_stream::try_stream! {
        let mut decoder = CopyDecoder::new(if clv { 3 + super::clv::COLUMNS.len() } else { 3 });
        let mut arrays = ArraySpans::default();
        let mut segments = assignments.map(|stream| Assignments::new(stream, runs));
        while let Some(chunk) = customers.next().await {
            let chunk = chunk?;
            let mut batch = CustomerBatch::default();
            decoder.feed(&chunk, |row| decode(row, &wanted, &mut arrays, &mut batch))?;
            if batch.ids.is_empty() {
                continue;
            }
            batch.segments = vec![None; batch.ids.len() * runs];
            if let Some(segments) = segments.as_mut() {
                for (i, id) in batch.ids.iter().enumerate() {
                    segments.fill(id, &mut batch.segments[i * runs..(i + 1) * runs]).await?;
                }
            }
            yield batch;
        }
        decoder.finish()?;
    }
    .boxed())
}

/// The runs' assignments as they stream in, ahead of the customer being written.
struct Assignments {
    stream: BoxStream<'static, sqlx::Result<bytes::Bytes>>,
    decoder: CopyDecoder,
    /// Decoded, not yet matched: (external id, run index, segment), in id order.
    queue: std::collections::VecDeque<(String, usize, Option<i32>)>,
    runs: usize,
    ended: bool,
}

impl Assignments {
    fn new(stream: BoxStream<'static, sqlx::Result<bytes::Bytes>>, runs: usize) -> Self {
        Self {
            stream,
            decoder: CopyDecoder::new(3),
            queue: std::collections::VecDeque::new(),
            runs,
            ended: false,
        }
    }

    /// Sets `row[r]` to the customer `id`'s segment in run `r`, reading on as needed; drops
    /// the assignments of ids before it.
    async fn fill(&mut self, id: &str, row: &mut [Option<i32>]) -> Result<()> {
        loop {
            while let Some((next, run, segment)) = self.queue.front() {
                match next.as_bytes().cmp(id.as_bytes()) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => row[*run] = *segment,
                    std::cmp::Ordering::Greater => return Ok(()),
                }
                self.queue.pop_front();
            }
            if self.ended {
                return Ok(());
            }
            match self.stream.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    let (queue, runs) = (&mut self.queue, self.runs);
                    self.decoder.feed(&chunk, |row| {
                        let id =
                            std::str::from_utf8(row[0].ok_or_else(|| decode_error("NULL id"))?)
                                .map_err(|e| decode_error(&e.to_string()))?;
                        let run = row[1]
                            .and_then(|b| b.try_into().ok().map(i32::from_be_bytes))
                            .and_then(|r| usize::try_from(r).ok())
                            .filter(|r| *r < runs)
                            .ok_or_else(|| decode_error("a run index"))?;
                        let segment = int4(row[2])?;
                        queue.push_back((id.to_owned(), run, segment));
                        Ok(())
                    })?;
                }
                None => {
                    self.decoder.finish()?;
                    self.ended = true;
                }
            }
        }
    }
}

fn decode_error(what: &str) -> super::Error {
    super::copy::decode(what.to_owned())
}

fn int4(field: Option<&[u8]>) -> Result<Option<i32>> {
    field
        .map(|b| b.try_into().map(i32::from_be_bytes))
        .transpose()
        .map_err(|_| decode_error("an int4 of 4 bytes"))
}

/// Where each element of a row's two arrays lies in its bytes, reused from row to row.
#[derive(Debug, Default)]
struct ArraySpans {
    numeric: Vec<Option<(usize, usize)>>,
    categorical: Vec<Option<(usize, usize)>>,
}

/// The spans of a one-dimensional array in PostgreSQL's binary form (`array_send`: number
/// of dimensions, NULL flag, element type, then per dimension its length and lower bound,
/// then per element its length, -1 for NULL, and its bytes), into `spans`; its lower bound.
/// A NULL or empty array has no elements.
fn array_spans(field: Option<&[u8]>, spans: &mut Vec<Option<(usize, usize)>>) -> Result<i64> {
    spans.clear();
    let Some(bytes) = field else {
        return Ok(1);
    };
    let int = |at: usize| -> Result<i32> {
        bytes
            .get(at..at + 4)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| decode_error("a truncated array"))
    };
    match int(0)? {
        0 => return Ok(1),
        1 => {}
        _ => return Err(decode_error("an array of one dimension")),
    }
    let (len, lower) = (int(12)?, int(16)?);
    let mut at = 20;
    for _ in 0..len {
        let n = int(at)?;
        at += 4;
        if n < 0 {
            spans.push(None);
        } else {
            let n = n as usize;
            if at + n > bytes.len() {
                return Err(decode_error("a truncated array element"));
            }
            spans.push(Some((at, n)));
            at += n;
        }
    }
    Ok(i64::from(lower))
}

/// The element at 1-based `position` of an array whose spans and lower bound are given
/// (`None`: NULL, or beyond its end: an attribute the customer never had).
fn element<'a>(
    bytes: Option<&'a [u8]>,
    spans: &[Option<(usize, usize)>],
    lower: i64,
    position: usize,
) -> Option<&'a [u8]> {
    let index = usize::try_from(position as i64 - lower).ok()?;
    let (at, n) = (*spans.get(index)?)?;
    bytes.map(|b| &b[at..at + n])
}

/// Where an exported attribute is read from in a row of [`customers_sql`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    /// At this 1-based position of the numeric array.
    Numeric(usize),
    /// At this 1-based position of the categorical array.
    Categorical(usize),
    /// The k-th predicted-value figure, after the arrays.
    Clv(usize),
}

impl Field {
    fn of(a: &Attribute) -> Self {
        match (a.kind, super::clv::index(a.name.as_str())) {
            (AttributeKind::Numeric, Some(k)) => Self::Clv(k),
            (AttributeKind::Numeric, None) => Self::Numeric(a.position),
            (AttributeKind::Categorical, _) => Self::Categorical(a.position),
        }
    }
}

fn float8(field: Option<&[u8]>) -> Result<Option<f64>> {
    field
        .map(|b| b.try_into().map(f64::from_be_bytes))
        .transpose()
        .map_err(|_| decode_error("a float8 of 8 bytes"))
}

fn decode(
    row: &[Option<&[u8]>],
    wanted: &[Field],
    arrays: &mut ArraySpans,
    batch: &mut CustomerBatch,
) -> Result<()> {
    let text = |f: Option<&[u8]>| -> Result<Option<String>> {
        f.map(|b| std::str::from_utf8(b).map(str::to_owned))
            .transpose()
            .map_err(|e| decode_error(&e.to_string()))
    };
    let id = text(row[0])?.ok_or_else(|| decode_error("NULL external id"))?;
    batch.ids.push(id);
    let numeric_lower = array_spans(row[1], &mut arrays.numeric)?;
    let categorical_lower = array_spans(row[2], &mut arrays.categorical)?;
    for &field in wanted {
        match field {
            Field::Numeric(position) => batch.numbers.push(float8(element(
                row[1],
                &arrays.numeric,
                numeric_lower,
                position,
            ))?),
            Field::Clv(k) => batch.numbers.push(float8(row[3 + k])?),
            Field::Categorical(position) => batch.texts.push(text(element(
                row[2],
                &arrays.categorical,
                categorical_lower,
                position,
            ))?),
        }
    }
    Ok(())
}

/// The customers with their two arrays whole: PostgreSQL sends each array as one value
/// (subscripting every attribute in SQL cost it a fifth more time, BENCHMARKS.md), and the
/// attributes are picked out here by position; with `clv`, then their four predicted-value
/// figures (joined only when one is exported).
fn customers_sql(clv: bool) -> String {
    let (figures, join) = match clv {
        true => (
            super::clv::COLUMNS.map(|c| format!(", v.{c}")).concat(),
            super::clv::JOIN,
        ),
        false => (String::new(), ""),
    };
    format!(
        "COPY (SELECT c.external_id, c.numeric_values, c.categorical_values{figures} \
         FROM customers c {join} ORDER BY c.external_id) TO STDOUT (FORMAT binary)"
    )
}

/// The runs' assignments as (external id, run index, segment), in external-id order: one
/// ordered scan per run's partition, merged by PostgreSQL. `None` without runs.
fn assignments_sql(runs: &[Uuid]) -> Option<String> {
    let parts: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            format!(
                "SELECT external_id, {i}::int4 AS run, segment FROM assignments \
                 WHERE run_id = '{run}'"
            )
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "COPY (SELECT external_id, run, segment FROM ({}) a ORDER BY external_id) \
             TO STDOUT (FORMAT binary)",
            parts.join(" UNION ALL ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary array as `array_send` writes it: one dimension, elements (`None`: NULL).
    fn array(lower: i32, elements: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(1i32.to_be_bytes());
        b.extend(i32::from(elements.iter().any(Option::is_none)).to_be_bytes());
        b.extend(701u32.to_be_bytes());
        b.extend((elements.len() as i32).to_be_bytes());
        b.extend(lower.to_be_bytes());
        for e in elements {
            match e {
                Some(e) => {
                    b.extend((e.len() as i32).to_be_bytes());
                    b.extend(*e);
                }
                None => b.extend((-1i32).to_be_bytes()),
            }
        }
        b
    }

    #[test]
    fn attributes_are_picked_from_the_arrays_by_position() {
        let (one, three) = (1.5f64.to_be_bytes(), 3.0f64.to_be_bytes());
        let numbers = array(1, &[Some(&one), None, Some(&three)]);
        let texts = array(1, &[Some(b"Paris")]);
        // An attribute beyond the array's end (added after the customer was written) is
        // missing, as a NULL element is.
        let wanted = [
            Field::Numeric(3),
            Field::Categorical(1),
            Field::Numeric(2),
            Field::Numeric(4),
            Field::Categorical(2),
            Field::Numeric(1),
        ];
        let mut batch = CustomerBatch::default();
        let mut arrays = ArraySpans::default();
        let row = [Some(&b"C1"[..]), Some(&numbers[..]), Some(&texts[..])];
        decode(&row, &wanted, &mut arrays, &mut batch).unwrap();
        // A customer without any attribute of a kind: NULL, or an empty array.
        let empty = 0i32
            .to_be_bytes()
            .iter()
            .chain(&[0u8; 8])
            .copied()
            .collect::<Vec<u8>>();
        let row = [Some(&b"C2"[..]), None, Some(&empty[..])];
        decode(&row, &wanted, &mut arrays, &mut batch).unwrap();
        assert_eq!(batch.ids, ["C1", "C2"]);
        assert_eq!(
            batch.numbers,
            [Some(3.0), None, None, Some(1.5), None, None, None, None]
        );
        assert_eq!(batch.texts, [Some("Paris".to_owned()), None, None, None]);
        // A lower bound other than 1 is honoured; a truncated array is an error.
        let shifted = array(0, &[Some(&one), Some(&three)]);
        let mut batch = CustomerBatch::default();
        let row = [Some(&b"C3"[..]), Some(&shifted[..]), None];
        decode(&row, &[Field::Numeric(1)], &mut arrays, &mut batch).unwrap();
        assert_eq!(batch.numbers, [Some(3.0)]);
        let row = [Some(&b"C4"[..]), Some(&numbers[..numbers.len() - 2]), None];
        assert!(decode(&row, &wanted, &mut arrays, &mut batch).is_err());
    }

    #[test]
    fn predicted_value_figures_follow_the_arrays() {
        let numbers = array(1, &[Some(&2.0f64.to_be_bytes())]);
        let (alive, value) = (0.25f64.to_be_bytes(), 90.5f64.to_be_bytes());
        let mut batch = CustomerBatch::default();
        let mut arrays = ArraySpans::default();
        let wanted = [
            Field::Clv(3),
            Field::Numeric(1),
            Field::Clv(0),
            Field::Clv(1),
        ];
        let row = [
            Some(&b"C1"[..]),
            Some(&numbers[..]),
            None,
            Some(&alive[..]),
            None,
            None,
            Some(&value[..]),
        ];
        decode(&row, &wanted, &mut arrays, &mut batch).unwrap();
        assert_eq!(batch.numbers, [Some(90.5), Some(2.0), Some(0.25), None]);
        let value = Attribute {
            name: crate::domain::AttributeName::from_trusted("clv_value".into()),
            kind: AttributeKind::Numeric,
            position: 9,
        };
        assert_eq!(Field::of(&value), Field::Clv(3));
    }

    #[test]
    fn the_statements_read_each_run_in_id_order() {
        for clv in [false, true] {
            assert!(customers_sql(clv).contains("ORDER BY c.external_id"));
        }
        assert!(customers_sql(true).contains(", v.p_alive, v.expected_orders"));
        assert!(!customers_sql(false).contains("customer_clv"));
        assert_eq!(assignments_sql(&[]), None);
        let (a, b) = (Uuid::nil(), Uuid::max());
        let sql = assignments_sql(&[a, b]).unwrap();
        assert!(sql.contains(&format!(
            "0::int4 AS run, segment FROM assignments WHERE run_id = '{a}'"
        )));
        assert!(sql.contains(&format!(
            "1::int4 AS run, segment FROM assignments WHERE run_id = '{b}'"
        )));
        assert!(sql.contains("ORDER BY external_id"), "{sql}");
    }
}
