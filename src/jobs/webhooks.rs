//! Webhook delivery workers: each delivers the next delivery due until none is, then waits
//! for the poll interval. Workers of every replica share the outbox (SKIP LOCKED).

use crate::service::Db;
use crate::service::webhooks::WebhookSettings;
use crate::service::webhooks::deliver;
use tokio::sync::watch;

pub async fn run(
    name: String,
    db: Db,
    settings: WebhookSettings,
    mut stopped: watch::Receiver<bool>,
) {
    let client = match deliver::client(&settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(worker = %name, error = %e, "webhook worker could not start");
            return;
        }
    };
    tracing::info!(worker = %name, "webhook worker started");
    let stop = |rx: &watch::Receiver<bool>| *rx.borrow() || rx.has_changed().is_err();
    loop {
        if stop(&stopped) {
            break;
        }
        match deliver::deliver_next(&db.pool, &client, &settings).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(worker = %name, error = %e, "delivering a webhook failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.poll) => {}
            _ = stopped.changed() => {}
        }
    }
    tracing::info!(worker = %name, "webhook worker stopped");
}
