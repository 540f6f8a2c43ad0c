//! Order lines: streamed with binary `COPY` into a transaction-scoped staging table, then
//! upserted by one statement (customers they name are created, id only).

use crate::domain::order::OrderLine;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgCopyIn;

/// Encodes staged lines in PostgreSQL's binary COPY format.
#[derive(Debug)]
pub struct OrderEncoder {
    buf: Vec<u8>,
    rows: u64,
}

const CHUNK_BYTES: usize = 1 << 20;
/// 2000-01-01T00:00:00Z, PostgreSQL's timestamp epoch, in Unix microseconds.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl Default for OrderEncoder {
    fn default() -> Self {
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0u32.to_be_bytes());
        buf.extend_from_slice(&0u32.to_be_bytes());
        Self { buf, rows: 0 }
    }
}

fn text(buf: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => {
            buf.extend_from_slice(&(s.len() as i32).to_be_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

fn float(buf: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(x) => {
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&x.to_be_bytes());
        }
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

fn timestamp(buf: &mut Vec<u8>, t: DateTime<Utc>) {
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&(t.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes());
}

impl OrderEncoder {
    /// Appends one line; `line` is where it came from (CSV line or batch index), `line_no`
    /// its number within its order.
    pub fn push(&mut self, line: u64, line_no: i32, o: &OrderLine) {
        let buf = &mut self.buf;
        buf.extend_from_slice(&12u16.to_be_bytes());
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&(line as i64).to_be_bytes());
        text(buf, Some(&o.order_id));
        buf.extend_from_slice(&4i32.to_be_bytes());
        buf.extend_from_slice(&line_no.to_be_bytes());
        text(buf, Some(o.customer.as_str()));
        timestamp(buf, o.ordered_at);
        text(buf, o.product.as_deref());
        text(buf, o.description.as_deref());
        float(buf, Some(o.quantity));
        float(buf, o.unit_price);
        float(buf, Some(o.amount));
        text(buf, o.currency.as_deref());
        text(buf, o.country.as_deref());
        self.rows += 1;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn chunk_ready(&self) -> bool {
        self.buf.len() >= CHUNK_BYTES
    }

    pub fn take_chunk(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096))
    }

    /// The last chunk, with the end-of-data marker.
    pub fn take_last_chunk(&mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.take_chunk()
    }
}

/// Creates the staging table (dropped at commit or rollback) and opens the COPY into it.
pub async fn begin_copy(tx: &mut PgConnection) -> sqlx::Result<PgCopyIn<&mut PgConnection>> {
    sqlx::query(
        "CREATE TEMPORARY TABLE order_batch (
             line        bigint NOT NULL,
             order_id    text COLLATE \"C\" NOT NULL,
             line_no     integer NOT NULL,
             external_id text COLLATE \"C\" NOT NULL,
             ordered_at  timestamptz NOT NULL,
             product     text,
             description text,
             quantity    float8 NOT NULL,
             unit_price  float8,
             amount      float8 NOT NULL,
             currency    text,
             country     text
         ) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    tx.copy_in_raw(
        "COPY order_batch (line, order_id, line_no, external_id, ordered_at, product,
                           description, quantity, unit_price, amount, currency, country)
         FROM STDIN (FORMAT binary)",
    )
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderMerge {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub customers_created: u64,
}

/// A line id given twice in one batch: (order id, line number, source lines).
pub type DuplicateLines = Vec<(String, i32, Vec<i64>)>;

/// Upserts the staged lines. Writers are serialised (readers are not blocked).
pub async fn merge(
    tx: &mut PgConnection,
    received: u64,
) -> sqlx::Result<Result<OrderMerge, DuplicateLines>> {
    let duplicates: DuplicateLines = sqlx::query_as(
        "SELECT order_id, line_no, array_agg(line ORDER BY line)
         FROM order_batch GROUP BY order_id, line_no HAVING count(*) > 1
         ORDER BY min(line) LIMIT 100",
    )
    .fetch_all(&mut *tx)
    .await?;
    if !duplicates.is_empty() {
        return Ok(Err(duplicates));
    }
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let created = sqlx::query(
        "INSERT INTO customers (external_id)
         SELECT DISTINCT external_id FROM order_batch ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("LOCK TABLE order_lines IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let (inserted, updated): (i64, i64) = sqlx::query_as(
        "WITH up AS (
             INSERT INTO order_lines AS o (order_id, line_no, external_id, ordered_at, product,
                                           description, quantity, unit_price, amount, currency,
                                           country)
             SELECT order_id, line_no, external_id, ordered_at, product, description, quantity,
                    unit_price, amount, currency, country
             FROM order_batch
             ON CONFLICT (order_id, line_no) DO UPDATE SET
                 external_id = EXCLUDED.external_id, ordered_at = EXCLUDED.ordered_at,
                 product = EXCLUDED.product, description = EXCLUDED.description,
                 quantity = EXCLUDED.quantity, unit_price = EXCLUDED.unit_price,
                 amount = EXCLUDED.amount, currency = EXCLUDED.currency,
                 country = EXCLUDED.country
             WHERE (o.external_id, o.ordered_at, o.product, o.description, o.quantity,
                    o.unit_price, o.amount, o.currency, o.country)
                   IS DISTINCT FROM
                   (EXCLUDED.external_id, EXCLUDED.ordered_at, EXCLUDED.product,
                    EXCLUDED.description, EXCLUDED.quantity, EXCLUDED.unit_price,
                    EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.country)
             RETURNING (xmax = 0) AS inserted
         )
         SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up",
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Ok(OrderMerge {
        inserted: inserted as u64,
        updated: updated as u64,
        unchanged: received - inserted as u64 - updated as u64,
        customers_created: created,
    }))
}
