//! Heavy reads on a hot standby (`DATABASE_READ_URL`), without read-after-write anomalies.
//!
//! Before such a read, the primary's flushed WAL position is taken (every commit a client has
//! seen acknowledged is at or before it) and the standby is asked until it has replayed that
//! far. The read then sees at least everything committed before it began, on any replica. If
//! the standby does not catch up within the bound, or cannot be reached, the read goes to the
//! primary: a lagging or lost standby costs speed, never correctness or readiness. A standby
//! that failed is left alone for a few seconds before it is tried again.

use super::Pool;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Where heavy reads go: a standby when one is configured and caught up, else the primary.
#[derive(Clone)]
pub struct Reads {
    primary: Pool,
    standby: Option<std::sync::Arc<Standby>>,
}

struct Standby {
    pool: Pool,
    max_wait: Duration,
    /// While set and in the future, the standby is not tried.
    resting_until: Mutex<Option<Instant>>,
    /// The last state logged (a [`State`]), so that each change is logged once.
    state: AtomicU8,
}

/// How long a standby that failed is left alone.
const REST: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    Serving = 0,
    Lagging = 1,
    Unavailable = 2,
}

impl State {
    fn label(self) -> &'static str {
        match self {
            State::Serving => "caught_up",
            State::Lagging => "lagging",
            State::Unavailable => "unavailable",
        }
    }
}

impl Reads {
    /// Every read on the primary.
    pub fn primary_only(primary: Pool) -> Self {
        Self {
            primary,
            standby: None,
        }
    }

    /// Heavy reads on `standby` once it has replayed what the primary committed, waiting at
    /// most `max_wait` for it.
    pub fn with_standby(primary: Pool, standby: Pool, max_wait: Duration) -> Self {
        metrics::gauge!("segstore_read_replica_up").set(1.0);
        Self {
            primary,
            standby: Some(std::sync::Arc::new(Standby {
                pool: standby,
                max_wait,
                resting_until: Mutex::new(None),
                state: AtomicU8::new(State::Serving as u8),
            })),
        }
    }

    /// Closes the standby's connections.
    pub async fn close(&self) {
        if let Some(standby) = &self.standby {
            standby.pool.close().await;
        }
    }

    /// The pool a heavy read should use now: the standby once it has replayed every commit
    /// the primary had flushed when this was called, else the primary.
    pub async fn pool(&self) -> Pool {
        let Some(standby) = &self.standby else {
            return self.primary.clone();
        };
        if standby.resting() {
            count("primary", State::Unavailable);
            return self.primary.clone();
        }
        let started = Instant::now();
        let state = match standby.catch_up(&self.primary).await {
            Ok(true) => State::Serving,
            Ok(false) => State::Lagging,
            Err(e) => {
                standby.rest();
                if standby.set_state(State::Unavailable) {
                    tracing::warn!(error = %e, "the read standby cannot be reached: \
                        heavy reads go to the primary (tried again every {}s)", REST.as_secs());
                }
                count("primary", State::Unavailable);
                return self.primary.clone();
            }
        };
        metrics::histogram!("segstore_read_replica_wait_seconds")
            .record(started.elapsed().as_secs_f64());
        if standby.set_state(state) {
            match state {
                State::Serving => {
                    tracing::info!("the read standby is caught up: heavy reads go to it")
                }
                _ => tracing::warn!(
                    max_wait_ms = standby.max_wait.as_millis() as u64,
                    "the read standby lags behind the primary: heavy reads go to the primary"
                ),
            }
        }
        match state {
            State::Serving => {
                count("standby", state);
                standby.pool.clone()
            }
            _ => {
                count("primary", state);
                self.primary.clone()
            }
        }
    }
}

fn count(to: &'static str, state: State) {
    metrics::counter!("segstore_heavy_reads_total", "to" => to, "standby" => state.label())
        .increment(1);
}

/// Why the standby was not used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("DATABASE_READ_URL is not a standby (it is not in recovery)")]
    NotAStandby,
}

impl Standby {
    fn resting(&self) -> bool {
        let mut until = self.resting_until.lock().unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn rest(&self) {
        *self.resting_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + REST);
        metrics::gauge!("segstore_read_replica_up").set(0.0);
    }

    /// Records the state; whether it changed.
    fn set_state(&self, state: State) -> bool {
        if state != State::Unavailable {
            metrics::gauge!("segstore_read_replica_up").set(1.0);
        }
        self.state.swap(state as u8, Ordering::Relaxed) != state as u8
    }

    /// Waits until the standby has replayed the primary's flushed WAL position of now:
    /// `Ok(false)` when it has not within `max_wait`.
    async fn catch_up(&self, primary: &Pool) -> Result<bool, Unusable> {
        let deadline = Instant::now() + self.max_wait;
        // A commit is acknowledged once flushed: every one a client has seen is at or before
        // this position. (An asynchronous commit may be visible before; none is read here.)
        let target: String = sqlx::query_scalar("SELECT pg_current_wal_flush_lsn()::text")
            .fetch_one(primary)
            .await?;
        let mut pause = Duration::from_millis(1);
        loop {
            let ask = sqlx::query_as::<_, (bool, Option<bool>, Option<i64>)>(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= $1::pg_lsn,
                        pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::bigint",
            )
            .bind(&target)
            .fetch_one(&self.pool);
            // The bound holds even for a standby that accepts connections but never answers.
            let within = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(250));
            let (in_recovery, caught_up, behind) = tokio::time::timeout(within, ask)
                .await
                .map_err(|_| Unusable::TimedOut(within))??;
            if !in_recovery {
                return Err(Unusable::NotAStandby);
            }
            metrics::gauge!("segstore_read_replica_lag_bytes")
                .set(behind.unwrap_or(0).max(0) as f64);
            if caught_up == Some(true) {
                return Ok(true);
            }
            if Instant::now() + pause > deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}
