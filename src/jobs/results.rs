//! A trained run's results in the stored form: segments with stable ids (matched to the
//! previous active run's), the chart sample in those ids, and the run's summary.

use crate::domain::run::documents::{
    FeatureCounts, Matching, PhaseTiming, RunSummary, SegmentMatch, SegmentProfile,
    WarmStartOutcome,
};
use crate::domain::run::{Run, ScoreKind, Segment};
use crate::segmentation::matching;
use crate::segmentation::pipeline::{self, RunResult};
use crate::segmentation::preprocess::Columns;
use crate::segmentation::sample::ChartSample;
use crate::store::charts::ChartSampleRow;
use crate::store::results::PreviousRun;
use crate::store::segments as store_segments;
use crate::store::{self};
use uuid::Uuid;

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
                },
                matched_run_id: old.map(|(id, _, _)| id),
                matched_distance: old.map(|(_, _, d)| d),
            }
        })
        .collect())
}

/// The chart sample in stable segment ids.
pub(super) fn chart_row(
    run_id: Uuid,
    result: &RunResult,
    sample: &ChartSample,
    columns: &Columns,
    stable_of: &[i32],
) -> ChartSampleRow {
    ChartSampleRow {
        run_id,
        customers: result.assignments.len() as i32,
        features: result.profiles.features.clone(),
        external_ids: Some(
            sample
                .rows
                .iter()
                .map(|&i| columns.row_ids[result.assignments.get(i).0].to_owned())
                .collect(),
        ),
        segment: sample
            .rows
            .iter()
            .map(|&i| result.assignments.get(i).1.map(|s| stable_of[s]))
            .collect(),
        values: sample.values.clone(),
        pc: sample
            .pca
            .as_ref()
            .map(|p| p.points.iter().flatten().copied().collect()),
        pc_explained: sample.pca.as_ref().map(|p| p.explained.to_vec()),
        pc_centres: sample.pca.as_ref().map(|p| {
            stable_of
                .iter()
                .copied()
                .zip(p.centres.iter().copied())
                .collect()
        }),
    }
}

pub(super) fn summary(
    r: &RunResult,
    segments: &[Segment],
    previous: Option<Uuid>,
    missing: FeatureCounts,
    service_timings: Vec<PhaseTiming>,
) -> RunSummary {
    RunSummary {
        missing_values: missing,
        features: r.profiles.features.clone(),
        score: Some(match r.score {
            pipeline::ScoreKind::Probability => ScoreKind::Probability,
            pipeline::ScoreKind::Distance => ScoreKind::Distance,
        }),
        noise: Some(r.noise),
        n_iter: r.n_iter,
        converged: r.converged,
        restarts: r.restarts,
        warm_start: None,
        bins: Vec::new(),
        drift: None,
        metrics: Some(r.metrics),
        k_selection: r.k_selection.clone(),
        pca: r.pca.clone(),
        mixture: r.mixture,
        population: r.profiles.population.clone(),
        weighted: r.profiles.weighted.clone(),
        categories: r.profiles.categories.clone(),
        timings: service_timings,
        // The engine's phases inside "train".
        engine_timings: r
            .timings
            .iter()
            .map(|t| PhaseTiming {
                phase: t.phase.as_str().to_owned(),
                ms: t.ms,
            })
            .collect(),
        matching: Some(Matching {
            previous_run_id: previous,
            segments: segments
                .iter()
                .map(|s| SegmentMatch {
                    segment: s.segment,
                    stable_id: s.stable_id,
                    matched: s.matched_run_id.is_some(),
                    distance: s.matched_distance,
                })
                .collect(),
        }),
    }
}

/// A warm start's outcome as stored: the run offered (`from`; `None`: there was no active
/// run) and what the engine did with its centroids.
pub(super) fn warm_start_outcome(from: Option<Uuid>, r: &RunResult) -> WarmStartOutcome {
    match (from, &r.warm_start) {
        (Some(id), Some(report)) => WarmStartOutcome {
            from_run_id: Some(id),
            used: report.used,
            reason: report.reason.clone(),
            previous_k: Some(report.previous_k),
        },
        (from, _) => WarmStartOutcome {
            from_run_id: from,
            used: false,
            reason: Some(
                "no active run with centroids to start from: k-means++ restarts instead".into(),
            ),
            previous_k: None,
        },
    }
}
