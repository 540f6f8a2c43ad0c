//! Each customer's purchase days: the counted order lines ([`COUNTED`]) per UTC calendar day,
//! with the day's total, what predicted value is fitted on. Read from the lines, by one binary
//! `COPY` that PostgreSQL's output bounds (10M lines: ~3.5 s); kept in `purchase_days`, one
//! packed row per customer (1M customers: ~0.4 s to read), beside the customers whose lines
//! changed since (`purchase_days_stale`, marked by the order imports). A refresh reads the kept
//! days of the others and the lines of these, then keeps what it read.

use super::copy::{self, CopyBuffer, CopyDecoder, CopyIn};
use super::orders::COUNTED;
use super::{Conn, Result};
use chrono::NaiveDate;
use futures_util::StreamExt;
use segstore_engine::clv::summary::Days;
use std::collections::HashMap;

/// Customers' purchase days with their totals.
#[derive(Debug, Default)]
pub struct PurchaseDays {
    /// External ids, by the customer indices of `days`.
    pub ids: Vec<String>,
    pub days: Days,
}

impl PurchaseDays {
    /// Appends the customers of `other`, none of whom is in `self`.
    pub fn extend(&mut self, other: PurchaseDays) {
        self.ids.extend(other.ids);
        self.days.days.extend(other.days.days);
    }
}

/// 2000-01-01, PostgreSQL's epoch: day numbers count from it.
pub fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date")
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Whose lines a read takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Every customer's.
    All,
    /// Those of the customers marked stale.
    Stale,
}

/// The customers marked stale and the customers with kept days.
pub async fn counts(conn: &mut Conn) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM purchase_days_stale), (SELECT count(*) FROM purchase_days)",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The counted lines of `which` customers, streamed by one binary `COPY ... TO STDOUT` and
/// gathered as they come into each customer's purchase days (day numbers from [`epoch`]):
/// memory grows with customers and purchase days, not with lines, and PostgreSQL does no
/// sorting or grouping.
pub async fn read_lines(conn: &mut Conn, which: Lines) -> Result<PurchaseDays> {
    let whose = match which {
        Lines::All => "",
        Lines::Stale => " AND external_id IN (SELECT external_id FROM purchase_days_stale)",
    };
    let sql = format!(
        "COPY (SELECT external_id, ordered_at, amount FROM order_lines
               WHERE {COUNTED}{whose}) TO STDOUT (FORMAT binary)"
    );
    let mut stream = conn.copy_out_raw(&sql).await?;
    let mut decoder = CopyDecoder::new(3);
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out = PurchaseDays::default();
    let mut last: Option<usize> = None;
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?, |fields| {
            let (Some(id), Some(at), Some(amount)) = (fields[0], fields[1], fields[2]) else {
                return Err(anyhow::anyhow!("a NULL in a counted order line").into());
            };
            // The lines of an order come together: most name the customer the last one did.
            let customer = match last {
                Some(c) if out.ids[c].as_bytes() == id => c,
                _ => {
                    let id = std::str::from_utf8(id)?;
                    let c = match index.get(id) {
                        Some(&c) => c,
                        None => {
                            out.ids.push(id.to_owned());
                            index.insert(id.to_owned(), out.ids.len() - 1);
                            out.ids.len() - 1
                        }
                    };
                    last = Some(c);
                    c
                }
            };
            let micros = i64::from_be_bytes(at.try_into()?);
            let amount = f64::from_be_bytes(amount.try_into()?);
            out.days
                .add(customer, micros.div_euclid(MICROS_PER_DAY), amount);
            Ok(())
        })?;
    }
    decoder.finish()?;
    Ok(out)
}

/// One kept day: its number (`int4`) and total (`float8`), little-endian.
const PACKED: usize = 12;

/// The kept purchase days of the customers not marked stale.
pub async fn read_kept(conn: &mut Conn) -> Result<PurchaseDays> {
    let mut stream = conn
        .copy_out_raw(
            "COPY (SELECT external_id, days FROM purchase_days p
                   WHERE NOT EXISTS (SELECT 1 FROM purchase_days_stale s
                                     WHERE s.external_id = p.external_id))
             TO STDOUT (FORMAT binary)",
        )
        .await?;
    let mut decoder = CopyDecoder::new(2);
    let mut out = PurchaseDays::default();
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?, |fields| {
            let (Some(id), Some(packed)) = (fields[0], fields[1]) else {
                return Err(anyhow::anyhow!("a NULL in purchase_days").into());
            };
            if packed.is_empty() || packed.len() % PACKED != 0 {
                return Err(anyhow::anyhow!("purchase_days of {} bytes", packed.len()).into());
            }
            let days = packed
                .chunks_exact(PACKED)
                .map(|d| {
                    let (day, total) = d.split_at(4);
                    (
                        i32::from_le_bytes(day.try_into().expect("4")) as i64,
                        f64::from_le_bytes(total.try_into().expect("8")),
                    )
                })
                .collect();
            out.ids.push(std::str::from_utf8(id)?.to_owned());
            out.days.days.push(days);
            Ok(())
        })?;
    }
    decoder.finish()?;
    Ok(out)
}

/// Keeps the purchase days `read` from the lines of `which` customers in place of those kept
/// for them (all, or the stale ones'), and clears the stale marks. Call holding
/// [`super::clv::lock`], which the imports that mark customers wait for.
pub async fn keep(tx: &mut Conn, read: &PurchaseDays, which: Lines) -> Result<()> {
    match which {
        // Emptied and loaded with its key dropped, then indexed by one sort.
        Lines::All => {
            for statement in [
                "TRUNCATE purchase_days",
                "ALTER TABLE purchase_days DROP CONSTRAINT purchase_days_pkey",
            ] {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
        }
        Lines::Stale => {
            sqlx::query(
                "DELETE FROM purchase_days
                 WHERE external_id IN (SELECT external_id FROM purchase_days_stale)",
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    let mut copy = CopyIn::start(
        &mut *tx,
        "COPY purchase_days (external_id, days) FROM STDIN (FORMAT binary)",
    )
    .await?;
    let mut out = CopyBuffer::default();
    let mut packed = Vec::new();
    for (id, days) in read.ids.iter().zip(&read.days.days) {
        packed.clear();
        for &(day, total) in days {
            let day = i32::try_from(day).map_err(|_| anyhow::anyhow!("day {day} out of range"))?;
            packed.extend_from_slice(&day.to_le_bytes());
            packed.extend_from_slice(&total.to_le_bytes());
        }
        let buf = out.row(2);
        copy::text(buf, Some(id));
        copy::field(buf, &packed);
        copy.send_ready(&mut out).await?;
    }
    copy.finish_with(&mut out).await?;
    if which == Lines::All {
        sqlx::query(
            "ALTER TABLE purchase_days ADD CONSTRAINT purchase_days_pkey PRIMARY KEY (external_id)",
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("TRUNCATE purchase_days_stale")
        .execute(&mut *tx)
        .await?;
    Ok(())
}
