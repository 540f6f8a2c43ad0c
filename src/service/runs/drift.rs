//! What a run measures against the active run it follows: each feature's population
//! stability index against the active run's decile bins and each segment's centroid shift
//! and size change by stable id (from the snapshot and profiles), and who moved (from the
//! cross table of the two runs' partitions, [`Moves`], which comparisons use too).

use crate::domain::drift::{Drift, FeatureDrift, SegmentDrift};
use crate::domain::run::Segment;
use crate::domain::run::documents::FeatureBins;
use crate::segmentation::drift::Bins;
use crate::segmentation::metrics::adjusted_rand_index;
use crate::segmentation::pipeline::RunResult;
use crate::segmentation::preprocess::Columns;
use crate::store::results::{CrossCell, PreviousRun};
use std::collections::BTreeMap;

/// This run's decile bins of every numeric feature, for the next run to measure against.
pub(super) fn bins(columns: &Columns) -> Vec<FeatureBins> {
    columns
        .names()
        .iter()
        .enumerate()
        .map(|(c, feature)| FeatureBins {
            feature: feature.clone(),
            bins: Bins::deciles(columns.present(c)),
        })
        .collect()
}

/// The drift this run's data and segments show against `previous` (customers' moves are
/// left at zero: the store counts them).
pub(super) fn measure(
    columns: &Columns,
    result: &RunResult,
    segments: &[Segment],
    previous: &PreviousRun,
) -> Drift {
    let features = columns
        .names()
        .iter()
        .enumerate()
        .map(|(c, feature)| FeatureDrift {
            feature: feature.clone(),
            psi: previous
                .bins
                .iter()
                .find(|b| &b.feature == feature)
                .and_then(|b| b.bins.psi(columns.present(c))),
        })
        .collect();
    let same_space = previous.features == result.profiles.features;
    let spread: Vec<f64> = result.profiles.population.iter().map(|s| s.std).collect();
    let before: BTreeMap<i32, &Segment> =
        previous.segments.iter().map(|s| (s.stable_id, s)).collect();
    let after: BTreeMap<i32, &Segment> = segments.iter().map(|s| (s.stable_id, s)).collect();
    let ids: std::collections::BTreeSet<i32> = before.keys().chain(after.keys()).copied().collect();
    let segments = ids
        .into_iter()
        .map(|id| {
            let (b, a) = (before.get(&id), after.get(&id));
            let shift_by_feature: Vec<f64> = match (b, a) {
                (Some(b), Some(a)) if same_space => b
                    .profile
                    .centroid
                    .iter()
                    .zip(&a.profile.centroid)
                    .zip(&spread)
                    .map(|((x, y), sd)| if *sd > 0.0 { (y - x).abs() / sd } else { 0.0 })
                    .collect(),
                _ => Vec::new(),
            };
            SegmentDrift {
                segment_id: id,
                size_before: b.map(|s| s.size),
                size_after: a.map(|s| s.size),
                size_change: b
                    .zip(a)
                    .filter(|(b, _)| b.size > 0)
                    .map(|(b, a)| (a.size - b.size) as f64 / b.size as f64),
                centroid_shift: shift_by_feature.iter().copied().reduce(f64::max),
                shift_by_feature,
            }
        })
        .collect();
    Drift {
        against_run_id: previous.run_id,
        customers_compared: 0,
        moved: 0,
        moved_share: None,
        entered: 0,
        left: 0,
        adjusted_rand_index: None,
        segments,
        features,
        crossed: Vec::new(),
        held: false,
    }
}

/// How customers moved between two runs, from the cross table of their partitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Moves {
    /// Customers in both runs.
    pub compared: i64,
    /// Customers in both whose stable segment (noise included) differs.
    pub moved: i64,
    /// Customers in the newer run only.
    pub entered: i64,
    /// Customers in the older run only.
    pub left: i64,
    /// The adjusted Rand index of the two partitions over the customers in both.
    pub adjusted_rand_index: Option<f64>,
}

impl Moves {
    pub(super) fn of(cells: &[CrossCell]) -> Self {
        let both: Vec<(Option<i32>, Option<i32>, u64)> = cells
            .iter()
            .filter(|c| c.in_old && c.in_new)
            .map(|c| (c.old_segment, c.new_segment, c.customers as u64))
            .collect();
        Self {
            compared: both.iter().map(|b| b.2 as i64).sum(),
            moved: both.iter().filter(|b| b.0 != b.1).map(|b| b.2 as i64).sum(),
            entered: cells
                .iter()
                .filter(|c| !c.in_old)
                .map(|c| c.customers)
                .sum(),
            left: cells
                .iter()
                .filter(|c| !c.in_new)
                .map(|c| c.customers)
                .sum(),
            adjusted_rand_index: adjusted_rand_index(&both),
        }
    }

    /// Adds the moves to a drift measured from profiles.
    pub(super) fn into_drift(self, drift: &mut Drift) {
        drift.customers_compared = self.compared;
        drift.moved = self.moved;
        drift.moved_share = (self.compared > 0).then(|| self.moved as f64 / self.compared as f64);
        drift.entered = self.entered;
        drift.left = self.left;
        drift.adjusted_rand_index = self.adjusted_rand_index;
    }
}
