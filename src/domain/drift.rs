//! Drift: how far a run is from the active run it would replace (customers who moved, the
//! adjusted Rand index, each segment's centroid shift and size change, each feature's
//! population stability index), and a segmentation's thresholds on it.

use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A segmentation's drift thresholds. A run crossing any of them is flagged, announced
/// (`segmentation.drift_detected`) and, with `hold_activation`, not activated automatically.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"max_moved_share": 0.2, "min_adjusted_rand_index": 0.8, "max_psi": 0.25, "hold_activation": true}))]
pub struct DriftPolicy {
    /// Most customers (a share of those in both runs) who may change segment.
    #[schema(minimum = 0, maximum = 1)]
    pub max_moved_share: Option<f64>,
    /// Least agreement between the two partitions (1: the same segments).
    #[schema(minimum = -1, maximum = 1)]
    pub min_adjusted_rand_index: Option<f64>,
    /// Most a matched segment's centre may move, in standard deviations of a feature.
    #[schema(minimum = 0, maximum = 100)]
    pub max_centroid_shift: Option<f64>,
    /// Most population stability index a feature may show (0.1: worth a look; 0.25: a
    /// different population).
    #[schema(minimum = 0, maximum = 100)]
    pub max_psi: Option<f64>,
    /// Keep a drifting run inactive until someone activates it (default false: activate as
    /// usual, and announce).
    #[serde(default)]
    pub hold_activation: bool,
}

impl DriftPolicy {
    /// Every out-of-range threshold, named under `prefix` (`drift.`).
    pub fn check(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut within = |name: &str, value: Option<f64>, lo: f64, hi: f64| {
            if let Some(v) = value
                && !(lo..=hi).contains(&v)
            {
                errors.push(FieldError::field(
                    format!("{prefix}{name}"),
                    format!("must be between {lo} and {hi}, got {v}"),
                ));
            }
        };
        within("max_moved_share", self.max_moved_share, 0.0, 1.0);
        within(
            "min_adjusted_rand_index",
            self.min_adjusted_rand_index,
            -1.0,
            1.0,
        );
        within("max_centroid_shift", self.max_centroid_shift, 0.0, 100.0);
        within("max_psi", self.max_psi, 0.0, 100.0);
        errors
    }

    /// The thresholds `drift` crosses.
    pub fn crossed(&self, drift: &Drift) -> Vec<Crossed> {
        let mut crossed = Vec::new();
        let mut above = |threshold: &str, limit: Option<f64>, value: Option<f64>, over: bool| {
            if let (Some(limit), Some(value)) = (limit, value)
                && (if over { value > limit } else { value < limit })
            {
                crossed.push(Crossed {
                    threshold: threshold.to_owned(),
                    limit,
                    value,
                });
            }
        };
        above(
            "max_moved_share",
            self.max_moved_share,
            drift.moved_share,
            true,
        );
        above(
            "min_adjusted_rand_index",
            self.min_adjusted_rand_index,
            drift.adjusted_rand_index,
            false,
        );
        let worst_shift = drift
            .segments
            .iter()
            .filter_map(|s| s.centroid_shift)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        above(
            "max_centroid_shift",
            self.max_centroid_shift,
            worst_shift,
            true,
        );
        let worst_psi = drift
            .features
            .iter()
            .filter_map(|f| f.psi)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        above("max_psi", self.max_psi, worst_psi, true);
        crossed
    }
}

/// A threshold a run crossed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Crossed {
    #[schema(example = "max_psi")]
    pub threshold: String,
    pub limit: f64,
    /// The run's figure (the worst segment's or feature's).
    pub value: f64,
}

/// A matched segment's movement between the two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SegmentDrift {
    /// Stable id.
    pub segment_id: i32,
    /// Customers before and after (`null`: the segment is new, or gone).
    pub size_before: Option<i64>,
    pub size_after: Option<i64>,
    /// (after − before) / before.
    pub size_change: Option<f64>,
    /// How far its centre moved, in standard deviations of the feature that moved most
    /// (`null` unless in both runs on the same features).
    pub centroid_shift: Option<f64>,
    /// Per feature (the run's feature order): the centre's move in standard deviations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shift_by_feature: Vec<f64>,
}

/// A feature's population stability index between the two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeatureDrift {
    pub feature: String,
    /// `null` when the active run kept no bins for it (another feature set, or an older run).
    pub psi: Option<f64>,
}

/// How far a run is from the active run it would replace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Drift {
    /// The active run when this one finished.
    pub against_run_id: Uuid,
    /// Customers segmented in both runs, and how many of them changed segment.
    pub customers_compared: i64,
    pub moved: i64,
    /// moved / customers_compared (`null` with none compared).
    pub moved_share: Option<f64>,
    /// Segmented now, not before; segmented before, not now.
    pub entered: i64,
    pub left: i64,
    /// Of the two partitions, on the customers in both.
    pub adjusted_rand_index: Option<f64>,
    pub segments: Vec<SegmentDrift>,
    pub features: Vec<FeatureDrift>,
    /// The segmentation's thresholds this run crossed (empty: no drift, or no thresholds).
    pub crossed: Vec<Crossed>,
    /// Whether activation was held for it.
    pub held: bool,
}

impl Drift {
    /// Whether a threshold was crossed.
    pub fn detected(&self) -> bool {
        !self.crossed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift() -> Drift {
        Drift {
            against_run_id: Uuid::nil(),
            customers_compared: 100,
            moved: 30,
            moved_share: Some(0.3),
            entered: 0,
            left: 0,
            adjusted_rand_index: Some(0.7),
            segments: vec![SegmentDrift {
                segment_id: 1,
                size_before: Some(10),
                size_after: Some(12),
                size_change: Some(0.2),
                centroid_shift: Some(0.4),
                shift_by_feature: vec![0.4],
            }],
            features: vec![FeatureDrift {
                feature: "spend".into(),
                psi: Some(0.3),
            }],
            crossed: vec![],
            held: false,
        }
    }

    #[test]
    fn thresholds_are_checked_and_crossed_ones_named() {
        let policy = DriftPolicy {
            max_moved_share: Some(0.2),
            min_adjusted_rand_index: Some(0.8),
            max_centroid_shift: Some(0.5),
            max_psi: Some(0.25),
            hold_activation: true,
        };
        assert!(policy.check("drift.").is_empty());
        let names: Vec<String> = policy
            .crossed(&drift())
            .into_iter()
            .map(|c| c.threshold)
            .collect();
        assert_eq!(
            names,
            ["max_moved_share", "min_adjusted_rand_index", "max_psi"]
        );
        assert!(DriftPolicy::default().crossed(&drift()).is_empty());
        let bad = DriftPolicy {
            max_moved_share: Some(1.5),
            max_psi: Some(-1.0),
            ..DriftPolicy::default()
        };
        let fields: Vec<_> = bad
            .check("drift.")
            .into_iter()
            .filter_map(|e| e.field)
            .collect();
        assert_eq!(fields, ["drift.max_moved_share", "drift.max_psi"]);
    }
}
