//! Flat exports: `customers.csv`'s rows, one per customer with every attribute and its segment
//! in each given run, read by binary `COPY … TO STDOUT` in external-id order and decoded as
//! they stream, a batch per chunk (the caller formats).

use super::copy::CopyDecoder;
use super::{Attribute, Result};
use crate::domain::AttributeKind;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::postgres::PgPoolCopyExt;
use std::fmt::Write;
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
    let kinds: Vec<AttributeKind> = attributes.iter().map(|a| a.kind).collect();
    let mut customers = pool.copy_out_raw(&customers_sql(attributes)).await?;
    let assignments = match assignments_sql(runs) {
        Some(sql) => Some(pool.copy_out_raw(&sql).await?),
        None => None,
    };
    let runs = runs.len();
    Ok(async_stream::try_stream! {
        let mut decoder = CopyDecoder::new(1 + kinds.len());
        let mut segments = assignments.map(|stream| Assignments::new(stream, runs));
        while let Some(chunk) = customers.next().await {
            let chunk = chunk?;
            let mut batch = CustomerBatch::default();
            decoder.feed(&chunk, |row| decode(row, &kinds, &mut batch))?;
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

fn decode(row: &[Option<&[u8]>], kinds: &[AttributeKind], batch: &mut CustomerBatch) -> Result<()> {
    let text = |f: Option<&[u8]>| -> Result<Option<String>> {
        f.map(|b| std::str::from_utf8(b).map(str::to_owned))
            .transpose()
            .map_err(|e| decode_error(&e.to_string()))
    };
    let id = text(row[0])?.ok_or_else(|| decode_error("NULL external id"))?;
    batch.ids.push(id);
    for (kind, field) in kinds.iter().zip(&row[1..]) {
        match kind {
            AttributeKind::Numeric => batch.numbers.push(
                field
                    .map(|b| b.try_into().map(f64::from_be_bytes))
                    .transpose()
                    .map_err(|_| decode_error("a float8 of 8 bytes"))?,
            ),
            AttributeKind::Categorical => batch.texts.push(text(*field)?),
        }
    }
    Ok(())
}

/// The customers: every value interpolated is a position, never client text.
fn customers_sql(attributes: &[Attribute]) -> String {
    let mut select = String::from("c.external_id");
    for a in attributes {
        let source = match a.kind {
            AttributeKind::Numeric => "numeric_values",
            AttributeKind::Categorical => "categorical_values",
        };
        write!(select, ", c.{source}[{}]", a.position).expect("writing to a String");
    }
    format!(
        "COPY (SELECT {select} FROM customers c ORDER BY c.external_id) TO STDOUT (FORMAT binary)"
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
    use crate::domain::AttributeName;

    #[test]
    fn the_statements_read_positions_and_each_run_in_id_order() {
        let attributes = [
            Attribute {
                name: AttributeName::from_trusted("age".into()),
                kind: AttributeKind::Numeric,
                position: 2,
            },
            Attribute {
                name: AttributeName::from_trusted("city".into()),
                kind: AttributeKind::Categorical,
                position: 1,
            },
        ];
        let sql = customers_sql(&attributes);
        assert!(
            sql.contains("SELECT c.external_id, c.numeric_values[2], c.categorical_values[1] FROM"),
            "{sql}"
        );
        assert!(sql.contains("ORDER BY c.external_id"), "{sql}");
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
