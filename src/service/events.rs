//! What other replicas announce (`LISTEN/NOTIFY`): revoked keys and erased customers. Each
//! replica listens on a connection of its own; while it is not listening it trusts no cached
//! key, and when it listens again it forgets every cached key and run (announcements may
//! have been missed meanwhile).

use crate::service::keys::KeyRing;
use crate::service::lookup::LookupCache;
use crate::store::Pool;
use crate::store::customers::ERASED_CHANNEL;
use crate::store::keys::REVOKED_CHANNEL;
use crate::store::notify::{self, Listener};
use std::sync::Arc;
use std::time::Duration;

/// Listens until the runtime ends.
pub fn spawn_listener(pool: &Pool, keys: Arc<KeyRing>, cache: Arc<LookupCache>) {
    let own = notify::own_pool(pool);
    tokio::spawn(async move {
        loop {
            match listen(&own, &keys, &cache).await {
                Ok(()) => tracing::warn!("the notification connection closed; reconnecting"),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot listen for notifications; retrying")
                }
            }
            keys.not_listening();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

async fn listen(pool: &Pool, keys: &KeyRing, cache: &LookupCache) -> crate::store::Result<()> {
    let mut listener = Listener::listen(pool, &[REVOKED_CHANNEL, ERASED_CHANNEL]).await?;
    keys.listening();
    cache.forget_all();
    tracing::debug!("listening for revoked keys and erased customers");
    while let Some((channel, payload)) = listener.next().await? {
        match channel.as_str() {
            REVOKED_CHANNEL => keys.forget(&payload),
            ERASED_CHANNEL => cache.forget_all(),
            _ => {}
        }
    }
    Ok(())
}
