//! A settled run in its stored form (its summary, its chart sample in stable segment ids, a
//! warm start's outcome) and the one write of what settling decided.

use super::settle::Settlement;
use crate::domain::activation::Cause;
use crate::domain::run::documents::{
    FeatureCounts, Matching, PhaseTiming, RunSummary, SegmentMatch, WarmStartOutcome,
};
use crate::domain::run::{Run, ScoreKind, Segment};
use crate::domain::webhook::EventType;
use crate::segmentation::pipeline::{self, RunResult};
use crate::segmentation::preprocess::Columns;
use crate::segmentation::sample::ChartSample;
use crate::store::charts::ChartSampleRow;
use crate::store::runs::{self, Success};
use crate::store::{self, outbox, results};
use std::time::Instant;
use uuid::Uuid;

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

/// Writes what settling decided, in the run's transaction: the run succeeded with its
/// summary and model; a crossed drift threshold announced (and a held activation noted on
/// the run); the activation. The run's `run.succeeded` (its row's trigger) is announced
/// before the drift and the activation.
pub(super) async fn write(
    tx: &mut store::Conn,
    run: &Run,
    success: &Success<'_>,
    settlement: &Settlement,
) -> store::Result<()> {
    runs::succeed(&mut *tx, run.run_id, success).await?;
    if let Some(event) = settlement.drift_event(run) {
        if let Some(note) = settlement.held_note(run) {
            results::note(&mut *tx, run.run_id, "activation held", &note).await?;
        }
        let data = serde_json::to_value(&event).expect("a drift event serialises");
        outbox::emit(
            tx,
            EventType::DriftDetected,
            Some(run.segmentation_id),
            &data,
        )
        .await?;
    }
    if settlement.activate {
        let recording = Instant::now();
        super::activation::switch(tx, run.segmentation_id, run.run_id, Cause::Run).await?;
        results::add_timing(
            &mut *tx,
            run.run_id,
            &PhaseTiming {
                phase: "activate".into(),
                ms: recording.elapsed().as_secs_f64() * 1e3,
            },
        )
        .await?;
    }
    Ok(())
}
