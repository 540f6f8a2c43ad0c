//! The one error type of `store`: what went wrong with the database, in the terms the layers
//! above act on. PostgreSQL's constraint names and error codes are read here and nowhere else.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be reached: connection refused or lost, pool exhausted, server
    /// shutting down.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database did not answer in time.
    #[error("the database did not answer within {0:?}")]
    TimedOut(Duration),
    /// A named constraint refused the write.
    #[error("{constraint} refused the write: {source}")]
    Constraint {
        constraint: Constraint,
        #[source]
        source: sqlx::Error,
    },
    /// A batch names one customer more than once: each id with its lines (CSV) or positions
    /// (JSON).
    #[error("the batch names {} customer id(s) more than once", .0.len())]
    Duplicates(Vec<(String, Vec<i64>)>),
    /// A stored value that does not read (a COPY stream, a document).
    #[error("stored data does not read: {0:#}")]
    Decode(anyhow::Error),
    #[error("database query failed: {0}")]
    Query(#[source] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The constraints whose refusal the layers above turn into an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// Segmentation names are unique (`segmentations_name_key`).
    SegmentationName,
    /// One running run per segmentation (`runs_one_running`).
    OneRunningRun,
}

impl Constraint {
    fn named(name: &str) -> Option<Self> {
        match name {
            "segmentations_name_key" => Some(Self::SegmentationName),
            "runs_one_running" => Some(Self::OneRunningRun),
            _ => None,
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SegmentationName => "the unique segmentation name",
            Self::OneRunningRun => "one running run per segmentation",
        })
    }
}

impl Error {
    /// The constraint that refused the write, if that is what happened.
    pub fn constraint(&self) -> Option<Constraint> {
        match self {
            Self::Constraint { constraint, .. } => Some(*constraint),
            _ => None,
        }
    }

    /// A lock was not granted within the session's `lock_timeout` (SQLSTATE 55P03).
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, Self::Query(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03"))
    }

    /// The database could not be reached or did not answer (worth a retry later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::TimedOut(_))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if unavailable(&e) {
            return Self::Unavailable(e);
        }
        if let sqlx::Error::Database(db) = &e
            && let Some(constraint) = db.constraint().and_then(Constraint::named)
        {
            return Self::Constraint {
                constraint,
                source: e,
            };
        }
        Self::Query(e)
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<sqlx::Error>() {
            Ok(e) => e.into(),
            Err(e) => Self::Decode(e),
        }
    }
}

impl From<std::array::TryFromSliceError> for Error {
    fn from(e: std::array::TryFromSliceError) -> Self {
        Self::Decode(e.into())
    }
}

impl From<std::string::FromUtf8Error> for Error {
    fn from(e: std::string::FromUtf8Error) -> Self {
        Self::Decode(e.into())
    }
}

impl From<std::str::Utf8Error> for Error {
    fn from(e: std::str::Utf8Error) -> Self {
        Self::Decode(e.into())
    }
}

fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") // connection exception
                || code == "57P01" // admin_shutdown
                || code == "57P02" // crash_shutdown
                || code == "57P03" // cannot_connect_now
                || code == "53300" // too_many_connections
        }),
        _ => false,
    }
}

/// The one error that crosses the HTTP boundary, from a store error: unavailable → 503;
/// a batch's duplicate ids → 422 naming each; anything else → 500 (logged whole).
impl From<Error> for crate::error::Error {
    fn from(e: Error) -> Self {
        use crate::error::{Error as ApiError, FieldError};
        match e {
            e if e.is_unavailable() => ApiError::Unavailable(e.into()),
            Error::Duplicates(dups) => {
                let errors = dups
                    .into_iter()
                    .map(|(id, lines)| {
                        FieldError::repeated("id", format!("customer id `{id}`"), &lines)
                    })
                    .collect();
                ApiError::invalid_many(
                    "the batch names the same customer more than once; nothing was written",
                    errors,
                )
            }
            e => ApiError::Internal(anyhow::Error::new(e).context("database query failed")),
        }
    }
}
