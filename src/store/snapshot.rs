//! The training snapshot: every customer's features for a run, read by one binary `COPY ...
//! TO STDOUT` into the engine's columns, in customer id order.

use super::Result;
use super::copy::CopyDecoder;
use crate::segmentation::categorical::CategoryColumn;
use crate::segmentation::preprocess::{Columns, Ids};
use futures_util::StreamExt;
use sqlx::PgConnection;

/// Reads the numeric attributes at `positions` (named `names`; `clv_*` ones from
/// `customer_clv`) and the categorical ones at
/// `categorical` (1-based) of every customer, in the caller's transaction (open it REPEATABLE
/// READ for a consistent snapshot), sorted by external id, so that a run's input order, and
/// with it its result, does not depend on where PostgreSQL keeps the rows.
///
/// The binary `COPY` is decoded as it streams into one growing buffer per column (`NaN`: a
/// missing value), and each column is then moved in id order into the engine's column-major
/// matrix, one column at a time: the data is held once, plus one column while sorting.
#[tracing::instrument(level = "debug", skip_all, fields(features = positions.len()))]
pub async fn snapshot(
    conn: &mut PgConnection,
    names: &[String],
    positions: &[usize],
    categorical: &[(String, usize)],
) -> Result<Columns> {
    let select: Vec<String> = names
        .iter()
        .zip(positions)
        .map(|(name, &p)| format!(", {}", super::clv::numeric_sql(name, p)))
        .chain(
            categorical
                .iter()
                .map(|(_, p)| format!(", c.categorical_values[{p}]")),
        )
        .collect();
    // The predicted-value figures are joined only when a feature is one of them.
    let join = if names.iter().any(|n| super::clv::index(n).is_some()) {
        super::clv::JOIN
    } else {
        ""
    };
    let sql = format!(
        "COPY (SELECT c.external_id{} FROM customers c {join}) TO STDOUT (FORMAT binary)",
        select.concat()
    );
    let mut stream = conn.copy_out_raw(&sql).await?;
    let mut decoder = CopyDecoder::new(1 + positions.len() + categorical.len());
    let mut ids = Ids::default();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); positions.len()];
    let mut levels: Vec<Levels> = categorical.iter().map(|_| Levels::default()).collect();
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?, |fields| {
            let id = fields[0].ok_or_else(|| anyhow::anyhow!("NULL external id"))?;
            ids.push(std::str::from_utf8(id)?);
            let (numeric, text) = fields[1..].split_at(positions.len());
            for (column, field) in columns.iter_mut().zip(numeric) {
                column.push(match field {
                    None => f64::NAN,
                    Some(bytes) => f64::from_be_bytes((*bytes).try_into()?),
                });
            }
            for (column, field) in levels.iter_mut().zip(text) {
                column.push(field.map(std::str::from_utf8).transpose()?);
            }
            Ok(())
        })?;
    }
    decoder.finish()?;
    drop(stream);
    // Sort by id (byte order, as the "C" collation of the key).
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
    let ids = ids.permuted(&order);
    let mut values = Vec::with_capacity(order.len() * columns.len());
    for column in columns {
        values.extend(order.iter().map(|&i| column[i as usize]));
    }
    let mut all = Columns::from_column_major(ids, names.to_vec(), values);
    all.categories = categorical
        .iter()
        .zip(levels)
        .map(|((name, _), l)| l.into_column(name.clone(), &order))
        .collect();
    Ok(all)
}

/// A categorical column as it streams in: each row's level as a code.
#[derive(Default)]
struct Levels {
    index: std::collections::HashMap<String, u32>,
    levels: Vec<String>,
    codes: Vec<Option<u32>>,
}

impl Levels {
    fn push(&mut self, value: Option<&str>) {
        let code = value.map(|v| match self.index.get(v) {
            Some(&c) => c,
            None => {
                self.levels.push(v.to_owned());
                let c = self.levels.len() as u32 - 1;
                self.index.insert(v.to_owned(), c);
                c
            }
        });
        self.codes.push(code);
    }

    /// The column in this row order, its levels numbered by first appearance in it (as
    /// [`CategoryColumn::from_values`] numbers them).
    fn into_column(self, name: String, order: &[u32]) -> CategoryColumn {
        let mut renumber = vec![None; self.levels.len()];
        let mut levels = Vec::with_capacity(self.levels.len());
        let mut old_levels: Vec<Option<String>> = self.levels.into_iter().map(Some).collect();
        let codes = order
            .iter()
            .map(|&i| {
                self.codes[i as usize].map(|old| {
                    *renumber[old as usize].get_or_insert_with(|| {
                        levels.push(old_levels[old as usize].take().expect("taken once"));
                        levels.len() as u32 - 1
                    })
                })
            })
            .collect();
        CategoryColumn {
            name,
            levels,
            codes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_levels_in_id_order_number_as_the_engine_numbers_them() {
        // Rows as they stream, and the id order they are sorted into.
        let streamed = [
            Some("silver"),
            None,
            Some("gold"),
            Some("bronze"),
            Some("gold"),
        ];
        let order = [4u32, 3, 1, 0, 2];
        let mut levels = Levels::default();
        for v in streamed {
            levels.push(v);
        }
        let column = levels.into_column("tier".into(), &order);
        let sorted = order.iter().map(|&i| streamed[i as usize]);
        assert_eq!(column, CategoryColumn::from_values("tier", sorted));
        assert_eq!(column.levels, ["gold", "bronze", "silver"]);
        assert_eq!(column.codes, [Some(0), Some(1), None, Some(2), Some(0)]);
    }
}
