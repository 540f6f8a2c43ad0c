//! The audit log: what the HTTP guard records of each write, train and admin call, and its
//! pages.

use crate::error::Result;
use crate::store::Pool;
pub use crate::store::audit::{Entry, Filter, NewEntry};

/// Records a call. A failure is logged, not returned: the call has happened already.
pub async fn record(pool: &Pool, entry: &NewEntry) {
    if let Err(e) = crate::store::audit::insert(pool, entry).await {
        tracing::error!(error = %e, route = %entry.route, status = entry.status,
            "an audit entry could not be written");
    }
}

/// Entries, newest first.
pub async fn list(pool: &Pool, filter: Filter) -> Result<Vec<Entry>> {
    Ok(crate::store::audit::list(pool, filter).await?)
}
