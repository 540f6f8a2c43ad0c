//! The connection pool, direct or behind a transaction pooler.
//!
//! Behind PgBouncer in `pool_mode = transaction` (Debian's 1.18 keeps no prepared statements),
//! each transaction may run on another server session, and sqlx prepares a statement with
//! arguments in one round trip (`Parse`, `Sync`) and runs it in the next (`Bind`, `Execute`,
//! `Sync`): between the two, PgBouncer may hand the session to another client. So, there:
//! - a statement with arguments run on the pool (not in a transaction of ours) runs in a
//!   transaction of its own, as an unnamed statement: both round trips stay on one session,
//!   and nothing named is left behind;
//! - a transaction begins with `DEALLOCATE ALL` ([`super::begin`]): the statements sqlx names
//!   within it (`sqlx_s_N`, never reused with the statement cache off) cannot meet a name a
//!   previous client left on that session;
//! - statements without arguments (the simple protocol, `COPY`) run as they are.

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Either, Execute, Executor, Postgres};

/// The connection pool: the handle every operation is given. It dereferences to sqlx's pool
/// (`begin`, `acquire`, `close`…); run statements on it as an executor (`&pool`), which is
/// what keeps them correct behind a transaction pooler.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: sqlx::PgPool,
    behind_transaction_pooler: bool,
}

impl Pool {
    /// A pool of direct sessions (or a session pooler's).
    pub fn direct(inner: sqlx::PgPool) -> Self {
        Self {
            inner,
            behind_transaction_pooler: false,
        }
    }

    /// A pool of connections to a transaction pooler (connected with the statement cache off).
    pub fn behind_transaction_pooler(inner: sqlx::PgPool) -> Self {
        Self {
            inner,
            behind_transaction_pooler: true,
        }
    }

    pub fn is_behind_transaction_pooler(&self) -> bool {
        self.behind_transaction_pooler
    }

    /// A pool of its own of at most `max_connections` to the same database, the same way
    /// (for background work that must not take the connections requests wait for).
    pub fn sibling(&self, max_connections: u32) -> Self {
        Self {
            inner: sqlx::postgres::PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(std::time::Duration::from_secs(30))
                .test_before_acquire(false)
                .connect_lazy_with((*self.inner.connect_options()).clone()),
            behind_transaction_pooler: self.behind_transaction_pooler,
        }
    }
}

impl std::ops::Deref for Pool {
    type Target = sqlx::PgPool;

    fn deref(&self) -> &sqlx::PgPool {
        &self.inner
    }
}

impl From<sqlx::PgPool> for Pool {
    fn from(inner: sqlx::PgPool) -> Self {
        Self::direct(inner)
    }
}

/// A statement whose arguments were taken, run unnamed.
struct Unnamed {
    sql: sqlx::SqlStr,
    arguments: Option<PgArguments>,
}

impl Execute<'_, Postgres> for Unnamed {
    fn sql(self) -> sqlx::SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&PgStatement> {
        None
    }

    fn take_arguments(&mut self) -> Result<Option<PgArguments>, sqlx::error::BoxDynError> {
        Ok(self.arguments.take())
    }

    fn persistent(&self) -> bool {
        false
    }
}

/// The statement as an unnamed one; `None` arguments when it needs no transaction (the simple
/// protocol, one round trip).
fn unnamed<'q>(mut query: impl Execute<'q, Postgres>) -> sqlx::Result<Unnamed> {
    let arguments = query.take_arguments().map_err(sqlx::Error::Encode)?;
    Ok(Unnamed {
        sql: query.sql(),
        arguments,
    })
}

impl<'p> Executor<'p> for &'_ Pool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.behind_transaction_pooler {
            return (&self.inner).fetch_many(query);
        }
        let pool = self.inner.clone();
        Box::pin(async_stream::try_stream! {
            let query = unnamed(query)?;
            if query.arguments.is_none() {
                let mut rows = (&pool).fetch_many(query);
                while let Some(row) = rows.try_next().await? {
                    yield row;
                }
            } else {
                let mut tx = pool.begin().await?;
                {
                    let mut rows = (&mut *tx).fetch_many(query);
                    while let Some(row) = rows.try_next().await? {
                        yield row;
                    }
                }
                tx.commit().await?;
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<Option<PgRow>>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        if !self.behind_transaction_pooler {
            return (&self.inner).fetch_optional(query);
        }
        let pool = self.inner.clone();
        Box::pin(async move {
            let query = unnamed(query)?;
            if query.arguments.is_none() {
                return (&pool).fetch_optional(query).await;
            }
            let mut tx = pool.begin().await?;
            let row = (&mut *tx).fetch_optional(query).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, sqlx::Result<PgStatement>>
    where
        'p: 'e,
    {
        // A prepared statement outlives the transaction: behind a transaction pooler it
        // would be on a session this client no longer has. Nothing here prepares one.
        let pool = self.inner.clone();
        Box::pin(async move { (&pool).prepare_with(sql, parameters).await })
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, sqlx::Result<sqlx::Describe<Postgres>>> {
        let pool = self.inner.clone();
        Box::pin(async move { (&pool).describe(sql).await })
    }
}
