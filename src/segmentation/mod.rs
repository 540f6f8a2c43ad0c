//! The clustering engine: pure and IO-free (no HTTP, no SQL, no files). It takes feature
//! columns and validated parameters and returns plain structs.
//!
//! `preprocess` (feature matrix, transforms, scaling) → `kmeans` (tuned kernel) → `metrics`
//! (inertia, silhouette, Davies–Bouldin, Calinski–Harabasz) → `selection` (k sweep, knee) →
//! `profile` (segment statistics and labels). [`pipeline`] runs them in order.

pub mod error;
pub mod kmeans;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod numpy_rng;
pub mod others;
pub mod pca;
pub mod pipeline;
pub mod preprocess;
pub mod profile;
pub mod sample;
pub mod selection;

pub use error::EngineError;
