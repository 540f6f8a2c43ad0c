//! The queues' loops: run workers claim queued runs from PostgreSQL (`FOR UPDATE SKIP
//! LOCKED`, so replicas on one database share the work and never run one twice), keep the
//! lease alive with heartbeats, hand the run to `service::runs::Runner`, record how it ended
//! and recover runs whose worker died; webhook workers deliver the outbox.

mod heartbeat;
pub mod webhooks;
mod worker;

use crate::service::Db;
use crate::service::lookup::LookupCache;
use crate::service::runs::{Runner, Waker};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Workers in this process (0: this replica only serves HTTP).
    pub workers: usize,
    /// How often an idle worker looks for work (it is also woken by local triggers).
    pub poll: Duration,
    /// How long a claimed run stays ours without a heartbeat.
    pub lease: Duration,
    pub heartbeat: Duration,
    /// Claims of one run before a lost lease fails it.
    pub max_attempts: i32,
    /// Runs per segmentation whose assignments are kept (the active run's always are).
    pub keep_assignments: i64,
    /// Webhook delivery workers and how they deliver.
    pub webhooks: crate::service::webhooks::WebhookSettings,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            workers: 1,
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            max_attempts: 3,
            keep_assignments: 5,
            webhooks: Default::default(),
        }
    }
}

/// The running workers of this process.
pub struct Jobs {
    waker: Waker,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Jobs {
    pub fn start(db: Db, settings: JobSettings, cache: Arc<LookupCache>) -> Self {
        let runner = Runner::new(db.clone(), cache, settings.keep_assignments);
        let waker = Waker::default();
        let (stop, stopped) = watch::channel(false);
        let prefix = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let deliverers: Vec<JoinHandle<()>> = (0..settings.webhooks.workers)
            .map(|i| {
                tokio::spawn(webhooks::run(
                    format!("{prefix}-webhooks-{i}"),
                    db.clone(),
                    settings.webhooks.clone(),
                    stopped.clone(),
                ))
            })
            .collect();
        let handles = (0..settings.workers)
            .map(|i| {
                let worker = worker::Worker {
                    name: format!("{prefix}-{i}"),
                    db: db.clone(),
                    runner: runner.clone(),
                    settings: settings.clone(),
                };
                let waker = waker.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move { worker.run(waker, stopped).await })
            })
            .chain(deliverers)
            .collect();
        Self {
            waker,
            stop,
            handles,
        }
    }

    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Tells the workers to stop, without waiting.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the workers: a run in progress goes back to the queue for another worker.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}
