//! The attribute catalogue: which attribute lives at which position of which array.

use super::Result;
use crate::domain::{Attribute, AttributeKind, AttributeName, Catalogue};
use sqlx::{PgConnection, PgExecutor};

#[derive(sqlx::FromRow)]
struct AttributeRow {
    name: String,
    kind: String,
    position: i32,
}

pub async fn load(db: impl PgExecutor<'_>) -> Result<Catalogue> {
    let rows: Vec<AttributeRow> =
        sqlx::query_as("SELECT name, kind, position FROM attributes ORDER BY attribute_id")
            .fetch_all(db)
            .await?;
    let attributes = rows
        .into_iter()
        .map(|r| {
            let kind = AttributeKind::parse(&r.kind)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown kind {}", r.kind).into()))?;
            Ok(Attribute {
                name: AttributeName::from_trusted(r.name),
                kind,
                position: usize::try_from(r.position).map_err(|e| sqlx::Error::Decode(e.into()))?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Catalogue::new(attributes))
}

/// An addition that would take the catalogue past its limit: nothing was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueFull {
    /// Attributes stored.
    pub held: usize,
    /// The new names the write brought.
    pub adding: Vec<String>,
    pub limit: usize,
}

/// Adds the attributes that are not in the catalogue yet, each at the lowest free position of
/// its kind (a deleted attribute's position is free: its values were cleared), and returns the
/// whole catalogue. Attributes already present keep their kind. Refuses (adding nothing) when
/// the catalogue would hold more than `limit` attributes.
///
/// Runs inside the caller's transaction and holds a transaction-scoped advisory lock, so
/// concurrent writers never hand out the same position; nothing is added if that transaction
/// rolls back.
pub async fn register(
    tx: &mut PgConnection,
    wanted: &[(AttributeName, AttributeKind)],
    limit: usize,
) -> Result<std::result::Result<Catalogue, CatalogueFull>> {
    let current = load(&mut *tx).await?;
    if wanted
        .iter()
        .all(|(name, _)| current.get(name.as_str()).is_some())
    {
        return Ok(Ok(current));
    }
    lock(tx).await?;
    let current = load(&mut *tx).await?;
    let mut taken: Vec<(AttributeKind, usize)> =
        current.iter().map(|a| (a.kind, a.position)).collect();
    let (mut names, mut kinds, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for (name, kind) in wanted {
        if current.get(name.as_str()).is_some() || names.contains(&name.as_str()) {
            continue;
        }
        let free = (1..)
            .find(|p| !taken.contains(&(*kind, *p)))
            .expect("a free position");
        taken.push((*kind, free));
        names.push(name.as_str());
        kinds.push(kind.as_str());
        positions.push(free as i32);
    }
    let held = current.len();
    if held + names.len() > limit {
        return Ok(Err(CatalogueFull {
            held,
            adding: names.iter().map(|n| n.to_string()).collect(),
            limit,
        }));
    }
    sqlx::query(
        "INSERT INTO attributes (name, kind, position)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int4[])",
    )
    .bind(&names)
    .bind(&kinds)
    .bind(&positions)
    .execute(&mut *tx)
    .await?;
    Ok(Ok(load(&mut *tx).await?))
}

/// Serialises catalogue changes until the transaction ends.
async fn lock(tx: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CATALOGUE_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Why an attribute was not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDeleted {
    Unknown,
    /// The segmentations (by name) whose configuration names it.
    InUse(Vec<String>),
}

/// Deletes an attribute and clears its values from every customer, so that its position can be
/// given to a new attribute. Refused while a segmentation's configuration names it.
pub async fn delete(
    tx: &mut PgConnection,
    name: &AttributeName,
) -> Result<std::result::Result<(), NotDeleted>> {
    lock(tx).await?;
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM segmentations
         WHERE config->'features' ? $1 OR config->'log1p' ? $1
         ORDER BY name",
    )
    .bind(name.as_str())
    .fetch_all(&mut *tx)
    .await?;
    if !users.is_empty() {
        return Ok(Err(NotDeleted::InUse(users)));
    }
    let removed: Option<(String, i32)> =
        sqlx::query_as("DELETE FROM attributes WHERE name = $1 RETURNING kind, position")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let Some((kind, position)) = removed else {
        return Ok(Err(NotDeleted::Unknown));
    };
    let column = match AttributeKind::parse(&kind) {
        Some(AttributeKind::Numeric) => "numeric_values",
        Some(AttributeKind::Categorical) => "categorical_values",
        None => return Err(sqlx::Error::Decode(format!("unknown kind {kind}").into()).into()),
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE customers SET {column}[$1] = NULL WHERE {column}[$1] IS NOT NULL"
    )))
    .bind(position)
    .execute(&mut *tx)
    .await?;
    Ok(Ok(()))
}

/// Key of the advisory lock that serialises catalogue additions ("segstore" in ASCII, truncated).
const CATALOGUE_LOCK: i64 = 0x7365_6773_746f_7265;

/// Population statistics of one numeric attribute.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NumericStats {
    pub position: i64,
    pub customers: i64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub max: Option<f64>,
    pub std: Option<f64>,
}

/// Customer counts of one categorical attribute.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoricalStats {
    pub position: i64,
    pub customers: i64,
    pub distinct_values: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TopValue {
    pub position: i64,
    pub value: String,
    pub customers: i64,
}

/// One pass over all customers per kind; `top` most frequent values per categorical attribute.
pub async fn stats(
    tx: &mut PgConnection,
    top: i64,
) -> Result<(Vec<NumericStats>, Vec<CategoricalStats>, Vec<TopValue>)> {
    // Sums of values near f64::MAX overflow (PostgreSQL then raises an error): the mean and
    // deviation are taken of the values divided by a power of two near each attribute's
    // largest magnitude (exact: ordinary values give the plain figures bit for bit).
    // The predicted-value figures (kept in `customer_clv`, NULL in the arrays) join their
    // attributes' positions.
    let figures = super::clv::ATTRIBUTES
        .iter()
        .zip(super::clv::COLUMNS)
        .map(|(name, column)| format!("('{name}', v.{column})"))
        .collect::<Vec<_>>()
        .join(", ");
    let numeric = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH u AS NOT MATERIALIZED (
             SELECT u.pos, u.v
             FROM customers c, unnest(c.numeric_values) WITH ORDINALITY AS u(v, pos)
             UNION ALL
             SELECT a.position::int8, x.v
             FROM customer_clv v, LATERAL (VALUES {figures}) AS x(name, v)
             JOIN attributes a ON a.name = x.name
         ), magnitude AS (
             SELECT u.pos,
                    COALESCE(2 ^ least(floor(ln(NULLIF(max(abs(u.v)), 0)) / ln(2)), 1023), 1) AS m
             FROM u GROUP BY u.pos
         )
         SELECT u.pos AS position, count(u.v) AS customers, min(u.v) AS min,
                avg(u.v / g.m) * g.m AS mean, max(u.v) AS max, stddev_pop(u.v / g.m) * g.m AS std
         FROM u JOIN magnitude g ON g.pos = u.pos
         GROUP BY u.pos, g.m",
    )))
    .fetch_all(&mut *tx)
    .await?;
    let categorical = sqlx::query_as(
        "SELECT u.pos AS position, count(u.v) AS customers, count(DISTINCT u.v) AS distinct_values
         FROM customers c, unnest(c.categorical_values) WITH ORDINALITY AS u(v, pos)
         GROUP BY u.pos",
    )
    .fetch_all(&mut *tx)
    .await?;
    let top_values = sqlx::query_as(
        "SELECT position, value, customers FROM (
             SELECT u.pos AS position, u.v AS value, count(*) AS customers,
                    row_number() OVER (PARTITION BY u.pos ORDER BY count(*) DESC, u.v) AS rank
             FROM customers c, unnest(c.categorical_values) WITH ORDINALITY AS u(v, pos)
             WHERE u.v IS NOT NULL
             GROUP BY u.pos, u.v
         ) ranked
         WHERE rank <= $1
         ORDER BY position, rank",
    )
    .bind(top)
    .fetch_all(&mut *tx)
    .await?;
    Ok((numeric, categorical, top_values))
}
