//! segstore: customer segmentation as a service.
//!
//! Layers: [`http`] (actix handlers, DTOs, problem+json) → [`service`] (operations and their
//! transactions) → [`store`] (sqlx). [`domain`] holds the validated types that cross them.

pub mod charts;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod ingest;
pub mod jobs;
pub use segstore_engine as segmentation;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
