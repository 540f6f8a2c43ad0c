//! Database access: sqlx queries, one module per table family. No HTTP types here.

pub mod activations;
pub mod assignments;
pub mod attributes;
pub mod audiences;
pub mod audit;
pub mod charts;
pub mod clv;
pub mod copy;
pub mod customers;
pub mod erasure;
mod error;
pub mod export;
pub mod keys;
pub mod models;
pub mod notify;
pub mod orders;
pub mod outbox;
mod partitions;
mod pool;
pub mod purchase_days;
pub mod queue;
pub mod replica;
pub mod report;
pub mod results;
pub mod rfm;
pub mod runs;
pub mod secrets;
pub mod segmentations;
pub mod segments;
pub mod sessions;
pub mod snapshot;
pub mod staging;
pub mod webhooks;

pub use crate::domain::{Attribute, Catalogue};
pub use error::{Constraint, Error, Result};

pub use pool::Pool;
/// How to open a connection of one's own (a direct session: see [`Db::direct`]).
pub type ConnectOptions = sqlx::postgres::PgConnectOptions;
/// One connection (or a transaction's), for a call that must run on it.
pub type Conn = sqlx::PgConnection;
/// An open transaction, committed or rolled back by its owner.
pub type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Where each kind of work connects.
#[derive(Clone)]
pub struct Db {
    /// Writes, and the reads that must see them: the primary, perhaps through a transaction
    /// pooler.
    pub pool: Pool,
    /// A session of its own on the primary, for what a transaction pooler cannot carry:
    /// `LISTEN`, a run worker's session lock, migrations.
    pub direct: ConnectOptions,
    /// The heavy reads: a hot standby when one is configured and caught up, else the primary.
    pub reads: replica::Reads,
}

impl Db {
    /// Everything on the primary, connected to directly.
    pub fn single(pool: impl Into<Pool>) -> Self {
        let pool = pool.into();
        Self {
            direct: (*pool.connect_options()).clone(),
            reads: replica::Reads::primary_only(pool.clone()),
            pool,
        }
    }
}

/// Whether the database answers one round trip within `within`.
pub async fn ping(pool: &Pool, within: std::time::Duration) -> Result<()> {
    match tokio::time::timeout(within, sqlx::query("SELECT 1").execute(pool)).await {
        Ok(done) => done.map(drop).map_err(Error::from),
        Err(_) => Err(Error::TimedOut(within)),
    }
}

/// Begins a transaction.
pub async fn begin(pool: &Pool) -> Result<Tx> {
    let mut tx = acquired(pool.begin()).await?;
    forget_statements(pool, &mut tx).await?;
    Ok(tx)
}

/// Behind a transaction pooler, drops the statements a previous client named on this session
/// (see [`pool`]); nothing to do on a session of our own.
async fn forget_statements(pool: &Pool, tx: &mut Tx) -> Result<()> {
    if pool.is_behind_transaction_pooler() {
        // The simple protocol: prepared, it would take a name that may be one left there.
        sqlx::raw_sql("DEALLOCATE ALL").execute(&mut **tx).await?;
    }
    Ok(())
}

/// Waits for a connection (and its `BEGIN`), measured: the pool's pressure shows in
/// `segstore_db_pool_waiting` and `segstore_db_pool_acquire_duration_seconds`.
async fn acquired(begin: impl std::future::Future<Output = sqlx::Result<Tx>>) -> Result<Tx> {
    let waiting = metrics::gauge!("segstore_db_pool_waiting");
    waiting.increment(1.0);
    let started = std::time::Instant::now();
    let tx = begin.await;
    waiting.decrement(1.0);
    metrics::histogram!("segstore_db_pool_acquire_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(tx?)
}

/// Begins the read-only `REPEATABLE READ` transaction a snapshot is read in: every query in
/// it sees the database as of its first one.
pub async fn begin_snapshot(pool: &Pool) -> Result<Tx> {
    let mut tx = acquired(pool.begin()).await?;
    // The simple protocol, as `forget_statements`: a prepared statement would take a name
    // (`sqlx_s_N`) before the names a previous client left on a pooler's session are dropped,
    // and could meet one of them ("prepared statement … already exists").
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    forget_statements(pool, &mut tx).await?;
    Ok(tx)
}

/// Commits a transaction.
pub async fn commit(tx: Tx) -> Result<()> {
    Ok(tx.commit().await?)
}

/// A transaction on a connection of one's own (not from the pool).
pub type ConnTx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;

/// Begins a transaction on `conn`.
pub async fn begin_on(conn: &mut Conn) -> Result<ConnTx<'_>> {
    use sqlx::Connection;
    Ok(conn.begin().await?)
}

/// Commits a transaction begun with [`begin_on`].
pub async fn commit_on(tx: ConnTx<'_>) -> Result<()> {
    Ok(tx.commit().await?)
}

/// Creates the database `name` on the server `admin` connects to, unless it exists (the
/// embedded PostgreSQL's first start); safe when another process creates it at once.
pub async fn create_database_if_missing(
    admin: &sqlx::postgres::PgConnectOptions,
    name: &str,
) -> Result<()> {
    use sqlx::ConnectOptions;
    let mut conn = admin.connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
        {
            Ok(_) => {}
            // Created concurrently by another process.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A text column as a spreadsheet may open it safely: a cell starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return would be read as a formula, so it gets a leading `'` (OWASP's
/// CSV injection rule). `column` is a fixed column expression, never client input.
pub(crate) fn formula_safe(column: &str) -> String {
    format!(
        "CASE WHEN left({column}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') \
         THEN '''' || {column} ELSE {column} END"
    )
}
