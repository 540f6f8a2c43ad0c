//! The JSON documents kept in `jsonb` columns, as serde types: what a run's `summary`,
//! `error` and `events` hold, and each segment's `profile`. `store` reads and writes them
//! (through `sqlx::types::Json<T>`); everything above works with the types, never with
//! JSON by key.
//!
//! Rows written by earlier versions must keep reading: a field added later is
//! `#[serde(default)]` (a failed run's summary holds only `missing_values`), and
//! `tests/api/stored.rs` loads rows stored by an earlier version.

use super::{FailureKind, ScoreKind};
use crate::segmentation::categorical::CategoryShares;
use crate::segmentation::metrics::Metrics;
use crate::segmentation::pca::PcaSummary;
use crate::segmentation::pipeline::{KSelection, MixtureFit};
use crate::segmentation::profile::{FeatureStats, Weighted};
use chrono::{DateTime, Utc};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What a run records of itself: what its snapshot held, how it went, and its results (all
/// but the first once it has succeeded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Missing values per feature in the snapshot (recorded before training).
    #[serde(default)]
    pub missing_values: FeatureCounts,
    /// Feature order of the profiles' centroids, statistics and lifts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreKind>,
    /// Rows DBSCAN left in no segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<usize>,
    /// K-Means iterations of the kept restart, and whether it converged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_iter: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged: Option<bool>,
    /// K-Means restarts of the final fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<usize>,
    /// Asked to start from the active run's centroids (`init: "previous"`): what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<WarmStartOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// The k sweep's curves, when k was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_selection: Option<KSelection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pca: Option<PcaSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixture: Option<MixtureFit>,
    /// Statistics of every customer segmented, per feature.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub population: Vec<FeatureStats>,
    /// With a weight: every customer's weight and the weighted means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted: Option<Weighted>,
    /// Per categorical feature: each level's share of every customer segmented.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<CategoryShares>,
    /// Wall time of the service's phases (rfm, snapshot, train, write).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timings: Vec<PhaseTiming>,
    /// The engine's phases inside `train`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_timings: Vec<PhaseTiming>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<Matching>,
    /// Each numeric feature's deciles in this run's snapshot: the next run's population
    /// stability index is measured against them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bins: Vec<FeatureBins>,
    /// How far this run is from the active run it would replace (`None`: there was none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::domain::drift::Drift>,
}

/// A feature's decile bins in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBins {
    pub feature: String,
    #[serde(flatten)]
    pub bins: crate::segmentation::drift::Bins,
}

/// A warm start's outcome: the run it started from, or why it did not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmStartOutcome {
    /// The active run whose centroids were offered (`None`: there was none).
    pub from_run_id: Option<Uuid>,
    pub used: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// That run's number of segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_k: Option<usize>,
}

impl RunSummary {
    /// What a run recorded once its snapshot was read.
    pub fn snapshot(missing_values: FeatureCounts) -> Self {
        Self {
            missing_values,
            ..Self::default()
        }
    }
}

/// A count per feature, in feature order (a JSON object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureCounts(pub Vec<(String, u64)>);

impl Serialize for FeatureCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, count) in &self.0 {
            map.serialize_entry(name, count)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for FeatureCounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counts;
        impl<'de> Visitor<'de> for Counts {
            type Value = FeatureCounts;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of counts per feature")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut counts = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    counts.push(entry);
                }
                Ok(FeatureCounts(counts))
            }
        }
        deserializer.deserialize_map(Counts)
    }
}

/// How long one phase took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseTiming {
    pub phase: String,
    pub ms: f64,
}

/// How a run's segments were matched to the previous active run's (stable ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Matching {
    pub previous_run_id: Option<Uuid>,
    pub segments: Vec<SegmentMatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentMatch {
    /// The run's own position of the segment.
    pub segment: i32,
    pub stable_id: i32,
    /// Whether it continues one of the previous run's segments.
    pub matched: bool,
    /// The centroid distance to that segment.
    pub distance: Option<f64>,
}

/// Why a run failed (`runs.error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunFailure {
    pub kind: FailureKind,
    pub message: String,
    /// The customer the failure is about (a value to correct), named in `message` as
    /// `` row `<id>` ``. An erasure removes it and rewrites the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

/// What a failure's message says instead of an erased (or unlogged) customer's id.
pub const ERASED_CUSTOMER: &str = "an erased customer";

impl RunFailure {
    /// How the message names its customer.
    pub fn customer_mention(id: &str) -> String {
        format!("row `{id}`")
    }

    /// The message without the customer's id: what logs carry, and what an erasure leaves.
    pub fn message_without_customer(&self, instead: &str) -> String {
        match &self.customer {
            Some(id) => self
                .message
                .replace(&Self::customer_mention(id), &format!("row ({instead})")),
            None => self.message.clone(),
        }
    }
}

/// A note in a run's life, such as a lease recovery (`runs.events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunEvent {
    pub at: DateTime<Utc>,
    pub event: String,
    pub detail: String,
}

/// A segment's profile (`run_segments.profile`), in original units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentProfile {
    pub centroid: Vec<f64>,
    pub stats: Vec<FeatureStats>,
    pub lift: Vec<f64>,
    pub top_features: Vec<String>,
    /// The label this run's lift gives (the segment's `label` is kept across retrains).
    pub computed_label: String,
    /// With a weight: the segment's weight, weight share and weighted means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted: Option<Weighted>,
    /// Per categorical feature: each level's share of the members and its lift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<CategoryShares>,
    /// The members' predicted value (`clv_*`) as it stood when the run was written; absent
    /// before the first predicted-value refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_value: Option<SegmentValue>,
}

/// A segment's predicted value: its members' `clv_p_alive` and `clv_value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentValue {
    /// Members with predicted value (a counted order line).
    pub customers: i64,
    pub mean_p_alive: Option<f64>,
    pub mean_value: Option<f64>,
    pub total_value: Option<f64>,
    /// The segment's share of the predicted value of everyone the run segmented.
    pub value_share: Option<f64>,
}

/// Each segment's centre on the first two principal components, by stable id
/// (`run_chart_samples.pc_centres`).
pub type PcCentres = BTreeMap<i32, [f64; 2]>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_runs_summary_holds_only_what_the_snapshot_read() {
        let stored = json!({"missing_values": {"b": 2, "a": 0}});
        let summary: RunSummary = serde_json::from_value(stored).unwrap();
        assert_eq!(
            summary,
            RunSummary::snapshot(FeatureCounts(vec![("b".into(), 2), ("a".into(), 0)]))
        );
        // Feature order survives a round trip.
        let back = serde_json::to_string(&summary.missing_values).unwrap();
        assert_eq!(back, r#"{"b":2,"a":0}"#);
    }

    #[test]
    fn events_and_failures_read_as_postgresql_writes_them() {
        let event: RunEvent = serde_json::from_value(json!({
            "at": "2026-11-30T10:00:00.123456+00:00", "event": "lease expired", "detail": "worker w"
        }))
        .unwrap();
        assert_eq!(event.event, "lease expired");
        let failure: RunFailure =
            serde_json::from_value(json!({"kind": "worker_lost", "message": "gone"})).unwrap();
        assert_eq!(failure.kind, FailureKind::WorkerLost);
        let centres: PcCentres = serde_json::from_value(json!({"3": [0.5, -1.0]})).unwrap();
        assert_eq!(centres[&3], [0.5, -1.0]);
    }
}
