//! The clustering engine: pure and IO-free (no HTTP, no SQL, no files). It takes feature
//! columns and validated parameters and returns plain structs.
//!
//! `preprocess` (feature matrix, transforms, scaling) → `kmeans` (tuned kernel) → `metrics`
//! (inertia, silhouette, Davies–Bouldin, Calinski–Harabasz) → `selection` (k sweep, knee) →
//! `profile` (segment statistics and labels). Every algorithm (`kmeans`, `kmeans::minibatch`,
//! `gmm`, `dbscan`, `hdbscan`, `ward`, `bisecting`) is a folder with a `plugin.rs` behind
//! [`algorithm`]'s seam, registered by one line in `algorithm/registry.rs`. [`pipeline`] runs
//! the steps in order.

pub mod algorithm;
pub mod bisecting;
pub mod categorical;
pub mod clv;
pub mod columns;
pub mod dbscan;
pub mod drift;
pub mod error;
pub mod gmm;
pub mod hdbscan;
mod kdtree;
pub mod kmeans;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod moments;
pub mod numpy_rng;
pub mod pca;
pub mod pipeline;
pub mod preprocess;
pub mod profile;
pub mod sample;
pub mod selection;
pub mod space;
pub mod ward;

pub use error::EngineError;

/// Sizes of the clusters of `labels` (for reports and tests).
pub fn sizes(labels: impl IntoIterator<Item = usize>, k: usize) -> Vec<usize> {
    let mut s = vec![0; k];
    labels.into_iter().for_each(|l| s[l] += 1);
    s
}
