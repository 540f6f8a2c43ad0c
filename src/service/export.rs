//! Flat exports for BI tools and spreadsheets: `customers.csv`, one row per customer with
//! every attribute as a column and each segmentation's active segment id and label.
//!
//! Steps: the catalogue and the segmentations with an active run give the columns and each
//! run's labels; PostgreSQL streams the rows as binary `COPY` (scan and joins); each chunk is
//! written as CSV here, numbers by `ryu`, as it arrives.

use crate::domain::AttributeKind;
use crate::error::Result;
use crate::service::csv::CsvRows;
use crate::service::report::attribute_column;
use crate::store::export::CustomerBatch;
use crate::store::{self, Pool, attributes, export, segmentations, segments};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::collections::HashMap;

/// What a column of `customers.csv` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text (the customer id, a categorical attribute, a segment label).
    Text,
    /// A decimal number (a numeric attribute).
    Number,
    /// An integer (a segment id).
    Integer,
}

/// A column of `customers.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
}

/// `customers.csv`: its columns, and its rows as CSV (no header), streamed.
pub struct CustomersCsv {
    pub columns: Vec<Column>,
    pub rows: BoxStream<'static, store::Result<bytes::Bytes>>,
}

/// Every customer in id order: `customer_id`, every attribute of the catalogue (creation
/// order), then for each segmentation with an active run (by name) `<name> segment_id` and
/// `<name> segment_label`. Attribute names hold no space, so no name can collide (an attribute
/// named `customer_id` is the column `attribute.customer_id`).
#[tracing::instrument(skip_all)]
pub async fn customers_csv(pool: &Pool) -> Result<CustomersCsv> {
    let catalogue = attributes::load(pool).await?;
    let active: Vec<_> = segmentations::list(pool)
        .await?
        .into_iter()
        .filter_map(|s| Some((s.name, s.active_run_id?)))
        .collect();
    let attributes: Vec<_> = catalogue.iter().cloned().collect();
    let mut columns = vec![Column {
        name: "customer_id".into(),
        kind: ColumnType::Text,
    }];
    columns.extend(attributes.iter().map(|a| Column {
        name: attribute_column(a.name.as_str(), &["customer_id"]).into_owned(),
        kind: match a.kind {
            AttributeKind::Numeric => ColumnType::Number,
            AttributeKind::Categorical => ColumnType::Text,
        },
    }));
    let mut labels = Vec::with_capacity(active.len());
    for (name, run) in &active {
        columns.push(Column {
            name: format!("{name} segment_id"),
            kind: ColumnType::Integer,
        });
        columns.push(Column {
            name: format!("{name} segment_label"),
            kind: ColumnType::Text,
        });
        let by_id: HashMap<i32, String> = segments::segments(pool, *run)
            .await?
            .into_iter()
            .map(|s| (s.stable_id, s.label))
            .collect();
        labels.push(by_id);
    }
    let runs: Vec<_> = active.iter().map(|(_, run)| *run).collect();
    let kinds: Vec<AttributeKind> = attributes.iter().map(|a| a.kind).collect();
    let rows = export::customers(pool, &attributes, &runs)
        .await?
        .map(move |batch| batch.map(|b| bytes::Bytes::from(write_rows(&b, &kinds, &labels))))
        .boxed();
    Ok(CustomersCsv { columns, rows })
}

/// A batch of rows as CSV, in the columns' order.
fn write_rows(
    batch: &CustomerBatch,
    kinds: &[AttributeKind],
    labels: &[HashMap<i32, String>],
) -> Vec<u8> {
    let rows = batch.ids.len();
    let numeric = kinds
        .iter()
        .filter(|k| **k == AttributeKind::Numeric)
        .count();
    let categorical = kinds.len() - numeric;
    let mut out = CsvRows::with_capacity(rows * (16 + 12 * kinds.len() + 40 * labels.len()));
    for (r, id) in batch.ids.iter().enumerate() {
        out.text(id);
        let (mut n, mut t) = (r * numeric, r * categorical);
        for kind in kinds {
            match kind {
                AttributeKind::Numeric => {
                    out.number(batch.numbers[n]);
                    n += 1;
                }
                AttributeKind::Categorical => {
                    out.optional_text(batch.texts[t].as_deref());
                    t += 1;
                }
            }
        }
        for (i, run_labels) in labels.iter().enumerate() {
            let segment = batch.segments[r * labels.len() + i];
            out.integer(segment.map(i64::from))
                .optional_text(segment.and_then(|s| run_labels.get(&s)).map(String::as_str));
        }
        out.end();
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_interleave_the_kinds_in_catalogue_order() {
        let batch = CustomerBatch {
            ids: vec!["0001".into(), "=2".into()],
            numbers: vec![Some(19.0), None],
            texts: vec![Some("Male".into()), Some("-x".into())],
            segments: vec![Some(3), None],
        };
        let labels = vec![HashMap::from([(3, "High, spending".to_owned())])];
        let kinds = [AttributeKind::Categorical, AttributeKind::Numeric];
        let csv = String::from_utf8(write_rows(&batch, &kinds, &labels)).unwrap();
        assert_eq!(csv, "0001,Male,19,3,\"High, spending\"\n'=2,'-x,,,\n");
    }
}
