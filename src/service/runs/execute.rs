//! A claimed run's steps, top-down: prepare (the configuration checked against today's
//! catalogue, RFM refreshed when used) → snapshot → train (on the blocking pool) → settle
//! (stable ids, drift, the activation decision) → one write → retention.

use super::progress::Progress;
use super::record::{self, chart_row, summary, warm_start_outcome};
use super::settle;
use crate::domain::run::Run;
use crate::domain::run::documents::{FeatureCounts, PhaseTiming, RunFailure, RunSummary};
use crate::domain::run::{FailureKind, Phase};
use crate::segmentation::pipeline::{self, RunParams, RunResult};
use crate::segmentation::preprocess::Columns;
use crate::service::Db;
use crate::service::lookup::LookupCache;
use crate::store::assignments::{self, Assignment};
use crate::store::models;
use crate::store::results::{self, Lock, RunRows};
use crate::store::runs::{self, Success};
use crate::store::snapshot;
use crate::store::{self, attributes};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

pub use super::stop::Stop;

/// The wall time of each of the service's phases, in order.
#[derive(Debug)]
struct Timings(Vec<PhaseTiming>, Instant);

impl Default for Timings {
    fn default() -> Self {
        Self(Vec::new(), Instant::now())
    }
}

impl Timings {
    /// Ends `phase` now (it began when the previous one ended).
    fn lap(&mut self, phase: &str) {
        self.0.push(PhaseTiming {
            phase: phase.to_owned(),
            ms: self.1.elapsed().as_secs_f64() * 1e3,
        });
        self.1 = Instant::now();
    }
}

/// Where a run's columns are in the customer rows (1-based): the numeric ones (features and
/// weight, in [`PreprocessParams::columns`] order) and the categorical ones by name.
///
/// [`PreprocessParams::columns`]: crate::segmentation::preprocess::PreprocessParams::columns
struct Positions {
    numeric: Vec<usize>,
    categorical: Vec<(String, usize)>,
}

/// A run asked to start from the active run's centroids: the run it got them from (`None`:
/// there was no active run with a model).
struct WarmFrom(Option<Uuid>);

/// A trained run, ready to settle.
struct Trained<'a> {
    run: &'a Run,
    columns: &'a Columns,
    result: &'a RunResult,
    missing: FeatureCounts,
    warm: Option<WarmFrom>,
}

/// What the snapshot read: the feature columns and the missing values per feature.
struct ReadSnapshot {
    columns: Columns,
    missing: FeatureCounts,
}

/// Trains on the blocking pool (the heartbeat keeps going meanwhile), inside the run's span;
/// gives the columns back with the result.
async fn train(
    columns: Columns,
    params: RunParams,
    progress: &Arc<Progress>,
) -> Result<(Columns, RunResult), Stop> {
    let observer = progress.clone();
    let span = tracing::Span::current();
    let (columns, result) = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let result = pipeline::run_observed(&columns, &params, &|_phase, f| {
            observer.set(Phase::Training, TRAIN_FROM + (TRAIN_TO - TRAIN_FROM) * f);
        });
        (columns, result)
    })
    .await
    .map_err(|e| Stop::failed(FailureKind::Internal, format!("training panicked: {e}")))?;
    let result = result.map_err(|e| {
        Stop::Failed(RunFailure {
            kind: FailureKind::Engine,
            message: e.to_string(),
            customer: e.row().map(str::to_owned),
        })
    })?;
    Ok((columns, result))
}

/// Share of the whole run done when training starts and ends (the engine reports its own
/// work's fraction in between).
const TRAIN_FROM: f64 = 0.15;
const TRAIN_TO: f64 = 0.85;

/// What runs a claimed run: the database, the lookup cache to tell at the commit, and how
/// many runs' assignments a segmentation keeps.
#[derive(Clone)]
pub struct Runner {
    db: Db,
    cache: Arc<LookupCache>,
    keep_assignments: i64,
}

impl Runner {
    pub fn new(db: Db, cache: Arc<LookupCache>, keep_assignments: i64) -> Self {
        Self {
            db,
            cache,
            keep_assignments,
        }
    }

    /// The run's steps, for the worker named `worker` that holds its lease: prepare →
    /// snapshot → train → settle and write (one transaction; the lookup cache is told at the
    /// commit) → the report views → retention.
    pub async fn execute(
        &self,
        run: &Run,
        worker: &str,
        progress: &Arc<Progress>,
    ) -> Result<(), Stop> {
        let mut timings = Timings::default();
        progress.check()?;
        let (params, positions, warm) = self.parameters(run).await?;
        let names = params.preprocess.columns();
        if crate::service::rfm::uses_rfm(&names) {
            progress.set(Phase::Rfm, 0.0);
            self.refresh_rfm().await?;
            timings.lap("rfm");
        }
        if crate::service::clv::uses_clv(&names) {
            progress.set(Phase::Clv, 0.0);
            self.refresh_clv().await?;
            timings.lap("clv");
        }
        progress.set(Phase::Snapshot, 0.0);
        let snapshot = self.snapshot(run, &names, &positions).await?;
        timings.lap("snapshot");
        progress.check()?;
        progress.set(Phase::Training, TRAIN_FROM);
        let (columns, result) = train(snapshot.columns, params, progress).await?;
        timings.lap("train");
        progress.check()?;
        progress.set(Phase::Writing, TRAIN_TO);
        let trained = Trained {
            run,
            columns: &columns,
            result: &result,
            missing: snapshot.missing,
            warm,
        };
        self.settle_and_write(trained, worker, timings).await?;
        // An activated run: the report views now read it.
        crate::service::report::sync(&self.db.pool).await;
        if let Err(e) = self.retain(run.segmentation_id).await {
            tracing::warn!(segmentation_id = %run.segmentation_id, error = %e, "retention failed");
        }
        Ok(())
    }

    /// The engine's parameters: the run's configuration checked against today's catalogue,
    /// and where its features (and weight) are in the customer rows; for a warm start, the
    /// active run's centroids.
    async fn parameters(
        &self,
        run: &Run,
    ) -> Result<(RunParams, Positions, Option<WarmFrom>), Stop> {
        let catalogue = attributes::load(&self.db.pool).await?;
        let mut params = run
            .config
            .validate(&catalogue, "config.")
            .map_err(|errors| {
                let detail: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                Stop::failed(FailureKind::InvalidConfiguration, detail.join("; "))
            })?;
        let position = |n: &String| catalogue.get(n).map(|a| a.position).expect("validated");
        let positions = Positions {
            numeric: params.preprocess.columns().iter().map(position).collect(),
            categorical: params
                .preprocess
                .categorical
                .iter()
                .map(|n| (n.clone(), position(n)))
                .collect(),
        };
        let warm = if run.config.algorithm.warm_start() {
            let active = models::active_model(&self.db.pool, run.segmentation_id).await?;
            params.warm_start = active
                .as_ref()
                .map(|(_, model)| pipeline::WarmStart::from_model(model));
            Some(WarmFrom(active.map(|(id, _)| id)))
        } else {
            None
        };
        Ok((params, positions, warm))
    }

    /// Features derived from orders are brought up to date first.
    async fn refresh_rfm(&self) -> Result<(), Stop> {
        crate::service::rfm::refresh(&self.db.pool, None)
            .await
            .map(drop)
            .map_err(|e| {
                Stop::failed(
                    FailureKind::Rfm,
                    format!("refreshing the RFM features failed: {e}"),
                )
            })
    }

    /// Predicted value too, with the latest refresh's settings.
    async fn refresh_clv(&self) -> Result<(), Stop> {
        let pool = &self.db.pool;
        let refreshed = match crate::service::clv::settings_for_runs(pool).await {
            Ok(settings) => crate::service::clv::refresh(pool, settings).await,
            Err(e) => Err(e),
        };
        refreshed.map(drop).map_err(|e| {
            Stop::failed(
                FailureKind::Clv,
                format!("refitting predicted value (clv_*) failed: {e}"),
            )
        })
    }

    /// One consistent read of every customer's features; what it read is recorded on the run
    /// (kept if the run then fails, to explain why).
    async fn snapshot(
        &self,
        run: &Run,
        names: &[String],
        positions: &Positions,
    ) -> Result<ReadSnapshot, Stop> {
        let mut tx = store::begin_snapshot(&self.db.reads.pool().await).await?;
        let columns =
            snapshot::snapshot(&mut tx, names, &positions.numeric, &positions.categorical).await?;
        store::commit(tx).await?;
        let missing = FeatureCounts(
            names
                .iter()
                .enumerate()
                .map(|(c, n)| (n.clone(), columns.missing(c) as u64))
                .chain(columns.categories.iter().map(|c| {
                    let missing = c.codes.iter().filter(|v| v.is_none()).count();
                    (c.name.clone(), missing as u64)
                }))
                .collect(),
        );
        runs::record_snapshot(
            &self.db.pool,
            run.run_id,
            columns.rows() as i64,
            &RunSummary::snapshot(missing.clone()),
        )
        .await?;
        Ok(ReadSnapshot { columns, missing })
    }

    /// Settles the run against the active run it follows and writes what was decided, in one
    /// transaction; this replica's lookups see the change at the commit.
    async fn settle_and_write(
        &self,
        trained: Trained<'_>,
        worker: &str,
        mut timings: Timings,
    ) -> Result<(), Stop> {
        let Trained {
            run,
            columns,
            result,
            missing,
            warm,
        } = trained;
        for phase in &timings.0 {
            metrics::histogram!("segstore_run_phase_duration_seconds", "phase" => phase.phase.clone())
                .record(phase.ms / 1e3);
        }
        let mut tx = store::begin(&self.db.pool).await?;
        let (auto_activate, drift_policy, previous) =
            match results::lock(&mut tx, run, worker).await? {
                Lock::LeaseLost => return Err(Stop::LeaseLost),
                Lock::Cancelled => return Err(Stop::Cancelled),
                Lock::Held {
                    auto_activate,
                    drift_policy,
                    previous,
                } => (auto_activate, drift_policy, previous),
            };
        // Segments of other features are not matched: they start new ids.
        let matched = previous
            .as_ref()
            .filter(|p| p.features == result.profiles.features);
        let segments = settle::stable_segments(&mut tx, run, result, matched).await?;
        let stable_of: Vec<i32> = segments.iter().map(|s| s.stable_id).collect();
        let ids = &columns.row_ids;
        let written = results::write_rows(
            &mut tx,
            RunRows {
                run_id: run.run_id,
                assignments: result
                    .assignments
                    .iter()
                    .map(|(row, segment, score)| Assignment {
                        external_id: &ids[row],
                        segment: segment.map(|s| stable_of[s]),
                        score: Some(score).filter(|v| v.is_finite()),
                    }),
                segments: &segments,
                chart: result
                    .chart
                    .as_ref()
                    .map(|sample| chart_row(run.run_id, result, sample, columns, &stable_of)),
            },
        )
        .await?;
        timings.lap("write");
        // The segments' predicted value, once there is one.
        let catalogue = crate::store::attributes::load(&mut *tx).await?;
        if catalogue.get("clv_p_alive").is_some() && catalogue.get("clv_value").is_some() {
            results::predicted_value(&mut tx, run.run_id).await?;
            timings.lap("value");
        }
        let drift = match &previous {
            Some(previous) => {
                let cells = results::cross_table(&mut *tx, previous.run_id, run.run_id).await?;
                timings.lap("drift");
                Some(settle::drift(columns, result, &segments, previous, &cells))
            }
            None => None,
        };
        let settlement = settle::decide(drift, drift_policy, auto_activate);
        let summary = RunSummary {
            warm_start: warm.map(|WarmFrom(from)| warm_start_outcome(from, result)),
            bins: super::drift::bins(columns),
            drift: settlement.drift.clone(),
            ..summary(
                result,
                &segments,
                previous.as_ref().map(|p| p.run_id),
                missing,
                timings.0,
            )
        };
        let success = Success {
            customers_snapshot: columns.rows() as i64,
            customers_used: written as i64,
            customers_dropped: result.rows_dropped as i64,
            values_imputed: result.values_imputed as i64,
            k: result.k as i32,
            k_rule: &result.k_rule,
            summary: &summary,
            model: &result.model,
        };
        record::write(&mut tx, run, &success, &settlement).await?;
        let committing = Instant::now();
        self.cache
            .changing(run.segmentation_id, store::commit(tx))
            .await?;
        // Not stored: the run is visible as succeeded from the commit on.
        tracing::debug!(
            ms = committing.elapsed().as_secs_f64() * 1e3,
            "run committed"
        );
        Ok(())
    }

    /// Drops the assignments of all but the newest `keep_assignments` runs (never the
    /// active run's).
    async fn retain(&self, segmentation_id: Uuid) -> store::Result<()> {
        for run_id in
            runs::beyond_retention(&self.db.pool, segmentation_id, self.keep_assignments).await?
        {
            let mut tx = store::begin(&self.db.pool).await?;
            assignments::drop_partition(&mut tx, run_id).await?;
            self.cache
                .changing(segmentation_id, store::commit(tx))
                .await?;
            self.cache.forget_run(run_id);
            tracing::info!(%run_id, "dropped the assignments of an old run");
        }
        Ok(())
    }
}
