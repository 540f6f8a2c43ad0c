//! What other replicas announce (`LISTEN/NOTIFY`): new and revoked keys, erased customers, and
//! changes to a segmentation's lookups (an activation, a new run, a retention drop, a
//! deletion). Each replica listens on a connection of its own; while it is not listening it
//! trusts no cached key and re-reads lookup records after their TTL, and when it listens
//! again it forgets every cached key and run (announcements may have been missed meanwhile).

use crate::service::keys::KeyRing;
use crate::service::lookup::LookupCache;
use crate::store::Pool;
use crate::store::assignments::LOOKUPS_CHANNEL;
use crate::store::customers::ERASED_CHANNEL;
use crate::store::keys::{CREATED_CHANNEL, REVOKED_CHANNEL};
use crate::store::notify::{self, Listener};
use std::sync::Arc;
use std::time::Duration;

/// Listens until the runtime ends.
pub fn spawn_listener(
    direct: &crate::store::ConnectOptions,
    keys: Arc<KeyRing>,
    cache: Arc<LookupCache>,
) {
    let own = notify::own_pool(direct);
    tokio::spawn(async move {
        loop {
            match listen(&own, &keys, &cache).await {
                Ok(()) => tracing::warn!("the notification connection closed; reconnecting"),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot listen for notifications; retrying")
                }
            }
            keys.not_listening();
            cache.set_listening(false);
            metrics::gauge!("segstore_notifications_listening").set(0.0);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

async fn listen(pool: &Pool, keys: &KeyRing, cache: &LookupCache) -> crate::store::Result<()> {
    let mut listener = Listener::listen(
        pool,
        &[
            REVOKED_CHANNEL,
            CREATED_CHANNEL,
            ERASED_CHANNEL,
            LOOKUPS_CHANNEL,
        ],
    )
    .await?;
    keys.start_listening().await?;
    cache.forget_all();
    cache.set_listening(true);
    metrics::gauge!("segstore_notifications_listening").set(1.0);
    tracing::debug!("listening for revoked keys and erased customers");
    while let Some((channel, payload)) = listener.next().await? {
        match channel.as_str() {
            REVOKED_CHANNEL => keys.forget(&payload),
            CREATED_CHANNEL => keys.created(&payload),
            ERASED_CHANNEL => cache.forget_all(),
            LOOKUPS_CHANNEL => match payload.parse() {
                Ok(segmentation_id) => cache.forget(segmentation_id),
                Err(_) => cache.forget_all(),
            },
            _ => {}
        }
    }
    Ok(())
}
