//! Order lines in: a streamed CSV import (Online Retail's header detected, other exports
//! mapped by query parameters) and JSON batches. Both stage lines with binary COPY and upsert
//! them in one transaction: a file with a bad line writes nothing.

use super::pump::{RecordSink, pump};
pub use crate::domain::order::OrderMerge;
use crate::domain::order::{self, DateOrder, line_amount, parse_order_id, parse_timestamp};
use crate::domain::{ExternalId, Invalid};
use crate::error::{Error, FieldError, MAX_REPORTED_ERRORS, Result};
use crate::ingest::csv::{Record, RecordReader};
pub use crate::ingest::orders::{OrderImportOptions, Role};
use crate::ingest::orders::{OrderRecord, OrderRecords, Parsed};
use crate::service::IngestLimits;
use crate::service::detach;
use crate::store::Pool;
use crate::store::orders::{self, DuplicateLines, OrderEncoder};
use bytes::Bytes;
use futures_util::Stream;
use std::collections::HashMap;

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct OrderImportOutcome {
    /// The header used for each role found.
    pub columns: Vec<(Role, String)>,
    /// Data lines read.
    pub lines: u64,
    pub stored: OrderMerge,
    /// Lines without a customer id: not stored.
    pub skipped_missing_customer: u64,
    /// Stored lines the RFM features leave out: cancellations (order id starting with `C`),
    /// quantity ≤ 0, unit price ≤ 0.
    pub cancellations: u64,
    pub non_positive_quantity: u64,
    pub non_positive_price: u64,
}

/// Stages lines, numbering each within its order, and counts outcomes.
#[derive(Default)]
struct Stager {
    encoder: OrderEncoder,
    positions: HashMap<String, i32>,
    outcome: OrderImportOutcome,
    errors: Vec<FieldError>,
    bad_lines: u64,
    /// Some line carried its own line id (so two lines may claim the same one).
    explicit_line_ids: bool,
}

impl Stager {
    fn stage(
        &mut self,
        line: u64,
        parsed: std::result::Result<Parsed, (String, Invalid)>,
        order_id_hint: Option<&str>,
    ) {
        self.outcome.lines += 1;
        // Every line of an order takes a position, stored or not: re-imports number alike.
        let position = order_id_hint.map(|id| {
            let p = self.positions.entry(id.trim().to_owned()).or_insert(0);
            *p += 1;
            *p
        });
        match parsed {
            Err((field, e)) => {
                self.bad_lines += 1;
                if self.errors.len() < MAX_REPORTED_ERRORS {
                    self.errors.push(FieldError::line(line, Some(field), e.0));
                }
            }
            Ok(Parsed::NoCustomer) => self.outcome.skipped_missing_customer += 1,
            Ok(Parsed::Line(o)) => {
                self.explicit_line_ids |= o.line_no.is_some();
                let line_no = o.line_no.or(position).unwrap_or(1);
                self.outcome.cancellations += u64::from(o.order_id.starts_with('C'));
                self.outcome.non_positive_quantity += u64::from(o.quantity <= 0.0);
                self.outcome.non_positive_price +=
                    u64::from(o.unit_price.is_some_and(|p| p <= 0.0));
                self.encoder.push(line, line_no, &o);
            }
        }
    }

    fn error(&self) -> Error {
        let first = &self.errors[0];
        Error::invalid_many(
            format!(
                "{} invalid line{}; nothing was imported. First at line {}: {}: {}",
                self.bad_lines,
                if self.bad_lines == 1 { "" } else { "s" },
                first.line.unwrap_or(0),
                first.field.as_deref().unwrap_or(""),
                first.message
            ),
            self.errors.clone(),
        )
    }
}

fn duplicates_error(d: DuplicateLines) -> Error {
    let errors = d
        .into_iter()
        .map(|(order, line_no, lines)| {
            FieldError::repeated("line", format!("order `{order}` line {line_no}"), &lines)
        })
        .collect();
    Error::invalid_many(
        "the same order line is given more than once; nothing was imported",
        errors,
    )
}

/// Imports a CSV of order lines. `body` yields the request's chunks as they arrive.
#[tracing::instrument(skip_all)]
pub async fn import<S>(
    pool: &Pool,
    options: OrderImportOptions,
    limits: IngestLimits,
    body: S,
) -> Result<OrderImportOutcome>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let pool = pool.clone();
    detach::streamed(body, move |body| import_body(pool, options, limits, body)).await
}

async fn import_body(
    pool: Pool,
    options: OrderImportOptions,
    limits: IngestLimits,
    mut body: detach::Body,
) -> Result<OrderImportOutcome> {
    let mut reader = RecordReader::with_limits(limits.csv);
    let mut sink = OrderSink {
        records: OrderRecords::new(options),
        stager: Stager::default(),
    };
    let mut tx = crate::store::begin(&pool).await?;
    let copy = orders::begin_copy(&mut tx).await?;
    pump(copy, &mut body, false, &mut reader, &mut sink).await?;
    let mut stager = sink.stager;
    stager.outcome.stored = orders::merge(&mut tx, stager.encoder.rows(), stager.explicit_line_ids)
        .await?
        .map_err(duplicates_error)?;
    crate::store::commit(tx).await?;
    metrics::counter!("segstore_rows_imported_total", "kind" => "order_lines")
        .increment(stager.encoder.rows());
    Ok(stager.outcome)
}

/// The order mapping's lines, staged for the upsert.
struct OrderSink {
    records: OrderRecords,
    stager: Stager,
}

impl RecordSink for OrderSink {
    type Rows = OrderEncoder;

    fn record(&mut self, record: Record<'_>) -> Result<()> {
        let stager = &mut self.stager;
        self.records.read(record, &mut |r| match r {
            OrderRecord::Header(used) => stager.outcome.columns = used,
            OrderRecord::Line {
                line,
                parsed,
                order,
            } => stager.stage(line, parsed, order),
            OrderRecord::Width {
                line,
                expected,
                found,
            } => {
                stager.outcome.lines += 1;
                stager.bad_lines += 1;
                if stager.errors.len() < MAX_REPORTED_ERRORS {
                    stager.errors.push(FieldError::line(
                        line,
                        None,
                        format!("expected {expected} fields, found {found}"),
                    ));
                }
            }
        })
    }

    fn rows(&mut self) -> &mut OrderEncoder {
        &mut self.stager.encoder
    }

    fn clean(&self) -> bool {
        self.stager.errors.is_empty()
    }

    fn verdict(&self) -> Result<()> {
        if !self.records.has_header() {
            return Err(Error::invalid(
                "body",
                "the CSV body is empty: it needs a header line",
            ));
        }
        match self.stager.errors.is_empty() {
            true => Ok(()),
            false => Err(self.stager.error()),
        }
    }
}

/// One order line of a JSON batch.
#[derive(Debug, Clone)]
pub struct OrderInput {
    pub order_id: String,
    pub line_no: Option<i64>,
    pub customer_id: String,
    pub ordered_at: String,
    pub product: Option<String>,
    pub description: Option<String>,
    pub quantity: f64,
    pub unit_price: Option<f64>,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub country: Option<String>,
}

/// Upserts a JSON batch (all or nothing); lines without `line_no` are numbered by their
/// position among their order's lines in the batch.
pub async fn upsert(pool: &Pool, batch: Vec<OrderInput>) -> Result<OrderMerge> {
    let pool = pool.clone();
    detach::detached(async move { upsert_batch(&pool, batch).await }).await
}

async fn upsert_batch(pool: &Pool, batch: Vec<OrderInput>) -> Result<OrderMerge> {
    if batch.is_empty() {
        return Err(Error::invalid("orders", "give at least one order line"));
    }
    let mut stager = Stager::default();
    for (i, o) in batch.iter().enumerate() {
        let field = |f: &str| format!("orders[{i}].{f}");
        let parsed = (|| -> std::result::Result<Parsed, (String, Invalid)> {
            let order_id = parse_order_id(&o.order_id).map_err(|e| (field("order_id"), e))?;
            let customer =
                ExternalId::parse(o.customer_id.trim()).map_err(|e| (field("customer_id"), e))?;
            let ordered_at = parse_timestamp(&o.ordered_at, DateOrder::default())
                .map_err(|e| (field("ordered_at"), e))?;
            let finite = |v: f64, f: &str| {
                if v.is_finite() {
                    Ok(v)
                } else {
                    Err((field(f), Invalid(format!("{v} is not a finite number"))))
                }
            };
            let quantity = finite(o.quantity, "quantity")?;
            let line_no = o
                .line_no
                .map(|n| {
                    i32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                        (
                            field("line_no"),
                            Invalid(format!("{n} is not a line number (an integer ≥ 1)")),
                        )
                    })
                })
                .transpose()?;
            let amount = line_amount(quantity, o.unit_price, o.amount)
                .map_err(|e| (field("unit_price"), e))?;
            Ok(Parsed::Line(Box::new(order::OrderLine {
                order_id,
                line_no,
                customer,
                ordered_at,
                product: o.product.clone(),
                description: o.description.clone(),
                quantity,
                unit_price: o.unit_price,
                amount,
                currency: o.currency.clone(),
                country: o.country.clone(),
            })))
        })();
        let line = i as u64;
        match parsed {
            Err((f, e)) => {
                stager.bad_lines += 1;
                if stager.errors.len() < MAX_REPORTED_ERRORS {
                    stager.errors.push(FieldError::field(f, e.0));
                }
            }
            ok => stager.stage(line, ok, Some(&o.order_id)),
        }
    }
    if !stager.errors.is_empty() {
        return Err(Error::invalid_fields(stager.errors));
    }
    let mut tx = crate::store::begin(pool).await?;
    let copy = orders::begin_copy(&mut tx).await?;
    copy.finish_with(&mut stager.encoder).await?;
    let merged = orders::merge(&mut tx, stager.encoder.rows(), stager.explicit_line_ids)
        .await?
        .map_err(duplicates_error)?;
    crate::store::commit(tx).await?;
    metrics::counter!("segstore_rows_imported_total", "kind" => "order_lines")
        .increment(stager.encoder.rows());
    Ok(merged)
}
