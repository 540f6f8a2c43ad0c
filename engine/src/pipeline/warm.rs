//! Warm starts: a previous run's centroids, in original units, taken into this run's model
//! space when k and the features are this run's.

use super::super::model::Model;
use super::super::pca;
use super::super::preprocess::{self, Preprocessor};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Centroids to start K-Means from, in original units: a previous run's
/// ([`WarmStart::from_model`]). This run's preprocessing (and projection) takes them to its
/// own model space; a categorical level's share carries over by name (0 for a level the
/// previous run did not have).
#[derive(Debug, Clone, PartialEq)]
pub struct WarmStart {
    pub features: Vec<String>,
    /// Segments × features.
    pub centroids: Array2<f64>,
    pub categories: Vec<CategoryStart>,
}

/// A categorical feature at the previous centroids: each one's share of each level.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryStart {
    pub name: String,
    pub levels: Vec<String>,
    /// Segments × levels.
    pub shares: Array2<f64>,
}

/// Whether a K-Means fit started from the previous centroids, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmStartReport {
    /// False: the fit fell back to k-means++ restarts (`reason` says why).
    pub used: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The previous segments' number.
    pub previous_k: usize,
}

impl WarmStart {
    /// A previous run's centroids.
    pub fn from_model(model: &Model) -> Self {
        Self {
            features: model.feature_names().map(str::to_owned).collect(),
            centroids: model.centroids_in_units(),
            categories: model
                .preprocessor
                .categories
                .iter()
                .zip(model.centroid_shares())
                .map(|(e, shares)| CategoryStart {
                    name: e.name.clone(),
                    levels: e.levels.clone(),
                    shares,
                })
                .collect(),
        }
    }

    /// The centroids in this run's model space, or why they cannot start it.
    pub(super) fn start(
        &self,
        k: usize,
        names: &[String],
        preprocessor: &Preprocessor,
        projection: Option<&pca::Pca>,
    ) -> Result<Array2<f64>, String> {
        if self.centroids.nrows() != k {
            return Err(format!(
                "k changed from {} to {k}: k-means++ restarts instead",
                self.centroids.nrows()
            ));
        }
        let sorted = |v: Vec<String>| {
            let mut v = v;
            v.sort();
            v
        };
        if sorted(self.features.clone()) != sorted(names.to_vec()) {
            return Err(format!(
                "the features changed (previously {}): k-means++ restarts instead",
                self.features.join(", ")
            ));
        }
        let previous: Vec<String> = self.categories.iter().map(|c| c.name.clone()).collect();
        let ours: Vec<String> = preprocessor
            .categories
            .iter()
            .map(|e| e.name.clone())
            .collect();
        if sorted(previous.clone()) != sorted(ours) {
            return Err(format!(
                "the categorical features changed (previously {}): k-means++ restarts instead",
                if previous.is_empty() {
                    "none".to_owned()
                } else {
                    previous.join(", ")
                }
            ));
        }
        let column = |name: &String| self.features.iter().position(|f| f == name).expect("same");
        let width = names.len()
            + preprocessor
                .categories
                .iter()
                .map(|e| e.levels.len())
                .sum::<usize>();
        let mut z = Array2::zeros((k, width));
        for i in 0..k {
            let row: Vec<f64> = names
                .iter()
                .map(|n| self.centroids[[i, column(n)]])
                .collect();
            let mut at = names.len();
            z.slice_mut(ndarray::s![i, ..at])
                .assign(&ndarray::Array1::from(preprocessor.apply(&row)));
            for e in &preprocessor.categories {
                let before = self
                    .categories
                    .iter()
                    .find(|c| c.name == e.name)
                    .expect("the same categorical features");
                for (l, level) in e.levels.iter().enumerate() {
                    let share = before
                        .levels
                        .iter()
                        .position(|b| b == level)
                        .map_or(0.0, |b| before.shares[[i, b]]);
                    z[[i, at + l]] = share * e.weight;
                }
                at += e.levels.len();
            }
        }
        let z = match projection {
            None => z,
            Some(p) => p.project(z.view()),
        };
        if z.iter().all(|v| preprocess::in_range(*v)) {
            Ok(z)
        } else {
            Err("the previous centroids are out of this run's range".into())
        }
    }
}
