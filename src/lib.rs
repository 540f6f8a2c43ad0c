//! segstore: customer segmentation as a service.
//!
//! Layers: [`http`] (actix handlers, DTOs, problem+json) → [`service`] (operations and their
//! transactions) → [`store`] (sqlx). [`domain`] holds the validated types that cross them.

pub mod charts;
pub mod cluster_cli;
pub mod config;
pub mod csvstream;
pub mod dataset;
pub mod domain;
pub mod embedded_pg;
pub mod error;
pub mod http;
pub mod jobs;
pub mod segmentation;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
