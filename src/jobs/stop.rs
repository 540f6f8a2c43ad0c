//! Why a run did not succeed, as the worker's steps report it.

use crate::domain::run::FailureKind;
use crate::store;

/// Why a run did not succeed.
#[derive(Debug)]
pub(super) enum Stop {
    Failed {
        kind: FailureKind,
        message: String,
    },
    Cancelled,
    /// The database failed under the run (an outage, a restart): it goes back to the queue.
    DatabaseFault(String),
    /// Another worker owns the run now (our lease lapsed and it was recovered).
    LeaseLost,
    ShuttingDown,
}

impl From<store::Error> for Stop {
    fn from(e: store::Error) -> Self {
        if e.is_unavailable() {
            return Stop::DatabaseFault(e.to_string());
        }
        Stop::Failed {
            kind: FailureKind::Database,
            message: format!("database error: {e}"),
        }
    }
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Failed {
            kind: FailureKind::Internal,
            message: format!("{e:#}"),
        }
    }
}
