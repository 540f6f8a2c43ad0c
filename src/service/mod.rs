//! Service-level operations: what the HTTP handlers call. They own transactions and turn
//! store results into domain results; they never see HTTP types.

pub mod audiences;
pub mod audit;
pub mod budget;
pub mod changes;
pub mod charts;
pub mod clv;
pub mod csv;
pub mod csv_import;
pub mod customers;
pub mod detach;
pub mod events;
pub mod export;
pub mod keys;
pub mod lookup;
pub mod orders;
pub mod pump;
pub mod report;
pub mod rfm;
pub mod runs;
pub mod score;
pub mod segmentations;
pub mod sessions;
pub mod webhooks;

pub use crate::ingest::csv::CsvLimits;
/// Where each kind of work connects, and where heavy reads go (a caught-up standby, else the
/// primary).
pub use crate::store::{Db, replica::Reads};

/// The bounds every write path reads within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    pub csv: CsvLimits,
    /// Attributes the catalogue may hold.
    pub max_attributes: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            csv: CsvLimits::default(),
            max_attributes: 512,
        }
    }
}
