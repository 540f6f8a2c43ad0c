//! Service-level operations: what the HTTP handlers call. They own transactions and turn
//! store results into domain results; they never see HTTP types.

pub mod charts;
pub mod csv_import;
pub mod customers;
pub mod detach;
pub mod lookup;
pub mod orders;
pub mod rfm;
pub mod runs;
pub mod segmentations;

pub use crate::ingest::csv::CsvLimits;
