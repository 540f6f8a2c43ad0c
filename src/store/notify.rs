//! `LISTEN/NOTIFY`: a connection of its own that hears what other replicas announce.

use super::{Pool, Result};
use std::time::Duration;

/// A listening connection (from a pool of one of its own: it is never one a request waits for).
pub struct Listener(sqlx::postgres::PgListener);

/// A pool of one direct connection to the primary, for a listener.
pub fn own_pool(direct: &sqlx::postgres::PgConnectOptions) -> Pool {
    Pool::direct(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(direct.clone()),
    )
}

impl Listener {
    pub async fn listen(pool: &Pool, channels: &[&str]) -> Result<Self> {
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Self(listener))
    }

    /// The next announcement as (channel, payload); `None` when the connection is lost.
    pub async fn next(&mut self) -> Result<Option<(String, String)>> {
        Ok(self
            .0
            .try_recv()
            .await?
            .map(|n| (n.channel().to_owned(), n.payload().to_owned())))
    }
}
