//! Order lines: streamed with binary `COPY` into a transaction-scoped staging table, then
//! upserted by one statement (customers they name are created, id only).

use super::Result;
use super::copy::{self, CopyBuffer, CopyIn};
use crate::domain::order::OrderLine;
use crate::domain::order::OrderMerge;
use sqlx::PgConnection;

/// The lines RFM and predicted value count: not a cancellation (order id starting with `C`),
/// quantity, amount and (when given) unit price above 0.
pub const COUNTED: &str = "order_id NOT LIKE 'C%' AND quantity > 0 AND amount > 0
    AND (unit_price IS NULL OR unit_price > 0)";

/// Encodes staged lines in PostgreSQL's binary COPY format.
#[derive(Debug, Default)]
pub struct OrderEncoder {
    out: CopyBuffer,
}

impl OrderEncoder {
    /// Appends one line; `line` is where it came from (CSV line or batch index), `line_no`
    /// its number within its order.
    pub fn push(&mut self, line: u64, line_no: i32, o: &OrderLine) {
        let buf = self.out.row(12);
        copy::int8(buf, line as i64);
        copy::text(buf, Some(&o.order_id));
        copy::int4(buf, Some(line_no));
        copy::text(buf, Some(o.customer.as_str()));
        copy::timestamp(buf, o.ordered_at);
        copy::text(buf, o.product.as_deref());
        copy::text(buf, o.description.as_deref());
        copy::float(buf, Some(o.quantity));
        copy::float(buf, o.unit_price);
        copy::float(buf, Some(o.amount));
        copy::text(buf, o.currency.as_deref());
        copy::text(buf, o.country.as_deref());
    }

    pub fn rows(&self) -> u64 {
        self.out.rows()
    }
}

impl copy::Encoded for OrderEncoder {
    fn buffer(&mut self) -> &mut CopyBuffer {
        &mut self.out
    }
}

/// Creates the staging table (dropped at commit or rollback) and opens the COPY into it.
pub async fn begin_copy(tx: &mut PgConnection) -> Result<CopyIn<'_>> {
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
    CopyIn::start(
        tx,
        "COPY order_batch (line, order_id, line_no, external_id, ordered_at, product,
                           description, quantity, unit_price, amount, currency, country)
         FROM STDIN (FORMAT binary)",
    )
    .await
}

/// A line id given twice in one batch: (order id, line number, source lines).
pub type DuplicateLines = Vec<(String, i32, Vec<i64>)>;

/// Upserts the staged lines. Writers are serialised (readers are not blocked). Lines
/// numbered by position are distinct by construction; `explicit_line_ids` asks for the check.
pub async fn merge(
    tx: &mut PgConnection,
    received: u64,
    explicit_line_ids: bool,
) -> Result<Result<OrderMerge, DuplicateLines>> {
    let duplicates: DuplicateLines = if !explicit_line_ids {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT order_id, line_no, array_agg(line ORDER BY line)
         FROM order_batch GROUP BY order_id, line_no HAVING count(*) > 1
         ORDER BY min(line) LIMIT 100",
        )
        .fetch_all(&mut *tx)
        .await?
    };
    if !duplicates.is_empty() {
        return Ok(Err(duplicates));
    }
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // The customers named are created, and their purchase days marked stale.
    let created = sqlx::query(
        "WITH named AS (SELECT DISTINCT external_id FROM order_batch),
              marked AS (INSERT INTO purchase_days_stale (external_id)
                         SELECT external_id FROM named ON CONFLICT DO NOTHING)
         INSERT INTO customers (external_id)
         SELECT external_id FROM named ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("LOCK TABLE order_lines IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // Two set-based statements (no speculative insertion): changed lines, then new ones. A
    // line given to another customer marks the one it leaves (`was`: the row before the
    // update) as stale too.
    let updated: i64 = sqlx::query_scalar(
        "WITH changed AS (
             UPDATE order_lines o SET
                 external_id = b.external_id, ordered_at = b.ordered_at, product = b.product,
                 description = b.description, quantity = b.quantity, unit_price = b.unit_price,
                 amount = b.amount, currency = b.currency, country = b.country
             FROM order_batch b, order_lines was
             WHERE o.order_id = b.order_id AND o.line_no = b.line_no AND was.ctid = o.ctid
               AND (o.external_id, o.ordered_at, o.product, o.description, o.quantity,
                    o.unit_price, o.amount, o.currency, o.country)
                   IS DISTINCT FROM
                   (b.external_id, b.ordered_at, b.product, b.description, b.quantity,
                    b.unit_price, b.amount, b.currency, b.country)
             RETURNING was.external_id AS was, o.external_id AS now),
         left_behind AS (INSERT INTO purchase_days_stale (external_id)
                         SELECT DISTINCT was FROM changed WHERE was <> now
                         ON CONFLICT DO NOTHING)
         SELECT count(*) FROM changed",
    )
    .fetch_one(&mut *tx)
    .await?;
    let updated = updated as u64;
    let inserted = sqlx::query(
        "INSERT INTO order_lines (order_id, line_no, external_id, ordered_at, product,
                                  description, quantity, unit_price, amount, currency, country)
         SELECT b.order_id, b.line_no, b.external_id, b.ordered_at, b.product, b.description,
                b.quantity, b.unit_price, b.amount, b.currency, b.country
         FROM order_batch b
         WHERE NOT EXISTS (SELECT 1 FROM order_lines o
                           WHERE o.order_id = b.order_id AND o.line_no = b.line_no)",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(Ok(OrderMerge {
        inserted,
        updated,
        unchanged: received - inserted - updated,
        customers_created: created,
    }))
}
