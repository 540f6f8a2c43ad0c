//! Settling a trained run against the active run it follows: which segments keep their
//! stable ids (Hungarian matching of centroids), how far the data and segments drifted, and
//! the decision the segmentation's policy gives: activate, or hold the activation and say
//! why. What is decided is written at once by [`super::record::write`].

use super::drift::{self, Moves};
use crate::domain::drift::{Drift, DriftPolicy};
use crate::domain::run::documents::SegmentProfile;
use crate::domain::run::{Run, Segment};
use crate::domain::webhook::payload::DriftEvent;
use crate::segmentation::matching;
use crate::segmentation::pipeline::RunResult;
use crate::segmentation::preprocess::Columns;
use crate::store::results::{CrossCell, PreviousRun};
use crate::store::{self, segments as store_segments};

/// The run's segments with their stable ids: a segment matched to one of the previous
/// active run's keeps its id and label; the others get new ids.
pub(super) async fn stable_segments(
    tx: &mut store::Conn,
    run: &Run,
    result: &RunResult,
    previous: Option<&PreviousRun>,
) -> store::Result<Vec<Segment>> {
    let profiles = &result.profiles.segments;
    let matches: Vec<Option<(usize, f64)>> = match previous {
        Some(PreviousRun { segments: old, .. }) if !old.is_empty() => {
            let old_centroids: Vec<Vec<f64>> =
                old.iter().map(|s| s.profile.centroid.clone()).collect();
            let new_centroids: Vec<Vec<f64>> =
                profiles.iter().map(|p| p.centroid.clone()).collect();
            matching::match_segments(&new_centroids, &old_centroids, &result.preprocessor)
        }
        _ => vec![None; profiles.len()],
    };
    let unmatched = matches.iter().filter(|m| m.is_none()).count() as i32;
    let mut next = if unmatched > 0 {
        store_segments::next_stable_ids(&mut *tx, run.segmentation_id, unmatched).await?
    } else {
        0
    };
    Ok(profiles
        .iter()
        .zip(&matches)
        .map(|(p, m)| {
            let old = m.and_then(|(j, d)| previous.map(|p| (p.run_id, &p.segments[j], d)));
            let (stable_id, label, persona) = match old {
                Some((_, o, _)) => (o.stable_id, o.label.clone(), o.persona.clone()),
                None => {
                    next += 1;
                    (next - 1, p.label.clone(), p.persona.clone())
                }
            };
            Segment {
                run_id: run.run_id,
                segment: p.segment as i32,
                stable_id,
                label,
                persona,
                size: p.size as i64,
                share: p.share,
                profile: SegmentProfile {
                    centroid: p.centroid.clone(),
                    stats: p.stats.clone(),
                    lift: p.lift.clone(),
                    top_features: p.top_features.clone(),
                    computed_label: p.label.clone(),
                    weighted: p.weighted.clone(),
                    categories: p.categories.clone(),
                    // Filled from the written assignments (`results::predicted_value`).
                    predicted_value: None,
                },
                matched_run_id: old.map(|(id, _, _)| id),
                matched_distance: old.map(|(_, _, d)| d),
            }
        })
        .collect())
}

/// What the policy decided for a trained run.
#[derive(Debug)]
pub(super) struct Settlement {
    /// The drift against the active run (none for a first run), with the thresholds it
    /// crossed and whether they held the activation.
    pub drift: Option<Drift>,
    /// Whether the run becomes its segmentation's active run.
    pub activate: bool,
}

/// The drift of a run against the active run it follows: measured from the snapshot and
/// profiles, and who moved from the cross table of the two partitions.
pub(super) fn drift(
    columns: &Columns,
    result: &RunResult,
    segments: &[Segment],
    previous: &PreviousRun,
    cells: &[CrossCell],
) -> Drift {
    let mut drift = drift::measure(columns, result, segments, previous);
    Moves::of(cells).into_drift(&mut drift);
    drift
}

/// The segmentation's decision: a run activates when the segmentation activates its runs,
/// unless its drift crosses a threshold of a policy that holds activations.
pub(super) fn decide(
    drift: Option<Drift>,
    policy: Option<DriftPolicy>,
    auto_activate: bool,
) -> Settlement {
    let Some(mut drift) = drift else {
        return Settlement {
            drift: None,
            activate: auto_activate,
        };
    };
    let policy = policy.unwrap_or_default();
    drift.crossed = policy.crossed(&drift);
    drift.held = auto_activate && policy.hold_activation && drift.detected();
    Settlement {
        activate: auto_activate && !drift.held,
        drift: Some(drift),
    }
}

impl Settlement {
    /// `segmentation.drift_detected`, when a threshold was crossed.
    pub(super) fn drift_event(&self, run: &Run) -> Option<DriftEvent> {
        let drift = self.drift.as_ref().filter(|d| d.detected())?;
        Some(DriftEvent {
            segmentation_id: run.segmentation_id,
            run_id: run.run_id,
            against_run_id: drift.against_run_id,
            crossed: drift.crossed.clone(),
            held: drift.held,
            moved_share: drift.moved_share,
            adjusted_rand_index: drift.adjusted_rand_index,
        })
    }

    /// The event a held activation leaves in the run's history: why, and how to activate it.
    pub(super) fn held_note(&self, run: &Run) -> Option<String> {
        let drift = self.drift.as_ref().filter(|d| d.held)?;
        let crossed: Vec<String> = drift
            .crossed
            .iter()
            .map(|c| format!("{} {:.4} (limit {})", c.threshold, c.value, c.limit))
            .collect();
        Some(format!(
            "drift against run {}: {}; activate it with POST /v1/runs/{}/activate",
            drift.against_run_id,
            crossed.join(", "),
            run.run_id
        ))
    }
}
