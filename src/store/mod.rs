//! Database access: sqlx queries, one module per table family. No HTTP types here.

pub mod assignments;
pub mod attributes;
pub mod charts;
pub mod copy;
pub mod customers;
pub mod documents;
pub mod orders;
pub mod runs;
pub mod segmentations;
pub mod staging;

pub use attributes::{Attribute, Catalogue};

/// One round trip to the database.
pub async fn ping(db: impl sqlx::PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query("SELECT 1").execute(db).await.map(drop)
}
