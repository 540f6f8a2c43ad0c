//! A running run's progress as its steps publish it, and what its worker's heartbeat learns
//! meanwhile (a cancel asked for, a lost lease); the steps check both between phases.

use super::Stop;
use crate::domain::run::Phase;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug)]
pub struct Progress {
    phase: Mutex<(Phase, f32)>,
    cancel_requested: AtomicBool,
    lease_lost: AtomicBool,
}

impl Progress {
    /// A claimed run's progress (`cancel_requested`: as the claim found it).
    pub fn new(cancel_requested: bool) -> Self {
        Self {
            phase: Mutex::new((Phase::Queued, 0.0)),
            cancel_requested: AtomicBool::new(cancel_requested),
            lease_lost: AtomicBool::new(false),
        }
    }

    /// The run is in `phase`, `fraction` of the whole run done.
    pub fn set(&self, phase: Phase, fraction: f64) {
        *self.phase.lock().expect("progress lock") = (phase, fraction.clamp(0.0, 1.0) as f32);
    }

    /// The phase and the fraction of the run done.
    pub fn get(&self) -> (Phase, f32) {
        *self.phase.lock().expect("progress lock")
    }

    /// What the heartbeat read on the run: whether a cancel is asked for.
    pub fn set_cancel_requested(&self, requested: bool) {
        self.cancel_requested.store(requested, Ordering::Relaxed);
    }

    /// The heartbeat found the run another worker's.
    pub fn lose_lease(&self) {
        self.lease_lost.store(true, Ordering::Relaxed);
    }

    /// Whether the run may go on.
    pub fn check(&self) -> Result<(), Stop> {
        if self.lease_lost.load(Ordering::Relaxed) {
            Err(Stop::LeaseLost)
        } else if self.cancel_requested.load(Ordering::Relaxed) {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }
}
