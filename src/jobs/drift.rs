//! What a run measures against the active run it follows, from its snapshot and profiles
//! (the store adds who moved, from the two runs' assignments, as it writes): each feature's
//! population stability index against the active run's decile bins, and each segment's
//! centroid shift and size change by stable id.

use crate::domain::drift::{Drift, FeatureDrift, SegmentDrift};
use crate::domain::run::Segment;
use crate::domain::run::documents::FeatureBins;
use crate::segmentation::drift::Bins;
use crate::segmentation::pipeline::RunResult;
use crate::segmentation::preprocess::Columns;
use crate::store::results::PreviousRun;
use std::collections::BTreeMap;

/// This run's decile bins of every numeric feature, for the next run to measure against.
pub fn bins(columns: &Columns) -> Vec<FeatureBins> {
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
pub fn measure(
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
