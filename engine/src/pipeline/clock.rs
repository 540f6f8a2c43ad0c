//! The pipeline's steps: the time each takes and the progress told as each ends.

use serde::Serialize;
use std::time::Instant;

/// A step of the pipeline, as timed and as progress tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Preprocess,
    Pca,
    ChooseK,
    Fit,
    Metrics,
    Profiles,
    ChartSample,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preprocess => "preprocess",
            Self::Pca => "pca",
            Self::ChooseK => "choose_k",
            Self::Fit => "fit",
            Self::Metrics => "metrics",
            Self::Profiles => "profiles",
            Self::ChartSample => "chart_sample",
        }
    }

    /// Share of a run's work done when the step ends (the k sweep fills 0.05 to 0.8).
    fn done_after(self) -> f64 {
        match self {
            Self::Preprocess | Self::Pca => 0.05,
            Self::ChooseK => 0.8,
            Self::Fit => 0.85,
            Self::Metrics => 0.95,
            Self::Profiles | Self::ChartSample => 1.0,
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a step took.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub phase: Step,
    pub ms: f64,
}

/// The time of each phase, and the progress told as each ends.
pub(super) struct Clock<'a> {
    progress: &'a (dyn Fn(Step, f64) + Sync),
    started: Instant,
    pub(super) timings: Vec<Phase>,
}

impl<'a> Clock<'a> {
    pub(super) fn new(progress: &'a (dyn Fn(Step, f64) + Sync)) -> Self {
        Self {
            progress,
            started: Instant::now(),
            timings: Vec::new(),
        }
    }

    /// Ends `phase` now (it began when the previous one ended).
    pub(super) fn lap(&mut self, step: Step) {
        self.timings.push(Phase {
            phase: step,
            ms: self.started.elapsed().as_secs_f64() * 1e3,
        });
        (self.progress)(step, step.done_after());
        self.started = Instant::now();
    }
}
