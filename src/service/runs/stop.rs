//! Why a run did not succeed, as its steps report it to the worker that claimed it.

use crate::domain::run::FailureKind;
use crate::domain::run::documents::RunFailure;
use crate::store;

/// Why a run did not succeed.
#[derive(Debug)]
pub enum Stop {
    Failed(RunFailure),
    Cancelled,
    /// The database failed under the run (an outage, a restart): it goes back to the queue.
    DatabaseFault(String),
    /// Another worker owns the run now (our lease lapsed and it was recovered).
    LeaseLost,
    ShuttingDown,
}

impl Stop {
    /// A failure that names no customer.
    pub(super) fn failed(kind: FailureKind, message: String) -> Self {
        Stop::Failed(RunFailure {
            kind,
            message,
            customer: None,
        })
    }
}

impl From<store::Error> for Stop {
    fn from(e: store::Error) -> Self {
        if e.is_unavailable() {
            return Stop::DatabaseFault(e.to_string());
        }
        Stop::failed(FailureKind::Database, format!("database error: {e}"))
    }
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::failed(FailureKind::Internal, format!("{e:#}"))
    }
}
