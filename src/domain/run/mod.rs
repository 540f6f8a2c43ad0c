//! A run's states as enums: its status, what triggered it, the phase it is in, why it failed
//! and what its assignment scores are. Each has one text form, used in the database, the
//! API and the logs.

pub mod documents;

use super::segmentation::SegmentationConfig;
use chrono::{DateTime, Utc};
use documents::{RunEvent, RunFailure, RunSummary, SegmentProfile};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Declares a text-backed enum: `as_str`, `Display`, `FromStr`, `TryFrom<String>` and
/// serde, all with the same lower-case words.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        // The schema derive does not read the per-variant renames through the macro: every
        // text is its variant in snake case (a test holds them equal).
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        concat!("`{}` is not a ", stringify!($name), " ({})"),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

text_enum! {
    /// Where a run is in its life: `queued` → `running` → `succeeded`, `failed` or
    /// `cancelled`.
    RunStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

text_enum! {
    /// Who asked for a run.
    Trigger {
        Api = "api",
        Schedule = "schedule",
    }
}

text_enum! {
    /// What a claimed run is doing, as its heartbeat publishes it.
    Phase {
        Queued = "queued",
        /// Bringing the RFM features up to date (when the run clusters on them).
        Rfm = "rfm",
        /// Refitting predicted value (when the run clusters on `clv_*`).
        Clv = "clv",
        Snapshot = "snapshot",
        Training = "training",
        Writing = "writing",
        Done = "done",
    }
}

text_enum! {
    /// Why a run failed.
    FailureKind {
        /// The engine refused the data (e.g. nothing to cluster).
        Engine = "engine",
        /// The stored configuration no longer fits the attribute catalogue.
        InvalidConfiguration = "invalid_configuration",
        /// Refreshing the RFM features failed.
        Rfm = "rfm",
        /// Refitting predicted value failed (the reason says why: e.g. no repeat purchase).
        Clv = "clv",
        /// Its workers kept dying (leases expired).
        WorkerLost = "worker_lost",
        Database = "database",
        Internal = "internal",
    }
}

text_enum! {
    /// What an assignment's score is.
    ScoreKind {
        /// Distance to the segment's centroid, in the space the features are clustered in.
        Distance = "distance",
        /// Membership probability of the segment (Gaussian mixture).
        Probability = "probability",
    }
}

#[derive(Debug, Clone)]
/// A run as stored: its configuration, state, progress, counts and results.
pub struct Run {
    pub run_id: Uuid,
    pub segmentation_id: Uuid,
    pub seq: i64,
    pub segmentation_version: i32,
    /// The configuration trained (a copy taken at trigger time).
    pub config: SegmentationConfig,
    pub status: RunStatus,
    pub trigger: Trigger,
    pub idempotency_key: Option<String>,
    pub phase: Option<Phase>,
    pub progress: f32,
    pub worker: Option<String>,
    pub attempts: i32,
    pub lease_until: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub customers_snapshot: Option<i64>,
    pub customers_used: Option<i64>,
    pub customers_dropped: Option<i64>,
    pub values_imputed: Option<i64>,
    pub k: Option<i32>,
    pub k_rule: Option<String>,
    pub summary: Option<RunSummary>,
    pub has_assignments: bool,
    pub error: Option<RunFailure>,
    pub events: Vec<RunEvent>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether this run is its segmentation's active one (joined in).
    pub active: bool,
}

/// One segment of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub run_id: Uuid,
    pub segment: i32,
    pub stable_id: i32,
    pub label: String,
    pub persona: Option<String>,
    pub size: i64,
    pub share: f64,
    pub profile: SegmentProfile,
    pub matched_run_id: Option<Uuid>,
    pub matched_distance: Option<f64>,
}

/// A customer's segment in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub run_id: Uuid,
    pub finished_at: Option<DateTime<Utc>>,
    pub active: bool,
    pub segment: Option<i32>,
    pub score: Option<f64>,
    pub label: Option<String>,
    pub persona: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_text_and_its_json() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for p in Phase::ALL {
            assert_eq!(Phase::try_from(p.to_string()), Ok(*p));
        }
        for k in FailureKind::ALL {
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(serde_json::from_value::<FailureKind>(json).unwrap(), *k);
        }
        assert_eq!(Trigger::Schedule.as_str(), "schedule");
        assert_eq!(ScoreKind::Probability.to_string(), "probability");
    }

    /// The OpenAPI document lists exactly the texts the API writes.
    #[test]
    fn each_schema_enumerates_the_texts() {
        fn texts<T: utoipa::PartialSchema>() -> serde_json::Value {
            serde_json::to_value(T::schema()).unwrap()["enum"].clone()
        }
        let words = |all: Vec<&str>| serde_json::json!(all);
        assert_eq!(
            texts::<RunStatus>(),
            words(RunStatus::ALL.iter().map(|s| s.as_str()).collect())
        );
        assert_eq!(
            texts::<Trigger>(),
            words(Trigger::ALL.iter().map(|s| s.as_str()).collect())
        );
        assert_eq!(
            texts::<Phase>(),
            words(Phase::ALL.iter().map(|s| s.as_str()).collect())
        );
        assert_eq!(
            texts::<FailureKind>(),
            words(FailureKind::ALL.iter().map(|s| s.as_str()).collect())
        );
        assert_eq!(
            texts::<ScoreKind>(),
            words(ScoreKind::ALL.iter().map(|s| s.as_str()).collect())
        );
    }

    #[test]
    fn unknown_text_is_refused_with_the_known_words() {
        let err = "paused".parse::<RunStatus>().unwrap_err();
        assert!(err.contains("paused") && err.contains("succeeded"), "{err}");
    }
}
