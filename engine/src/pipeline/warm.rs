//! Warm starts: a previous run's centroids, in original units, taken into this run's model
//! space when k and the features are this run's.

use super::super::pca;
use super::super::preprocess::{self, Preprocessor};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Centroids to start K-Means from, in original units: a previous run's
/// ([`Model::centroids_in_units`]). This run's preprocessing (and projection) takes them to
/// its own model space.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmStart {
    pub features: Vec<String>,
    /// Segments × features.
    pub centroids: Array2<f64>,
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
    /// The centroids in this run's model space, or why they cannot start it.
    pub(super) fn start(
        &self,
        k: usize,
        names: &[String],
        preprocessor: &Preprocessor,
        projection: Option<&pca::PcaFit>,
    ) -> Result<Array2<f64>, String> {
        if !preprocessor.categories.is_empty() {
            return Err(
                "warm starts do not carry categorical features yet: k-means++ restarts instead"
                    .into(),
            );
        }
        if self.centroids.nrows() != k {
            return Err(format!(
                "k changed from {} to {k}: k-means++ restarts instead",
                self.centroids.nrows()
            ));
        }
        let mut same = self.features.clone();
        let mut ours = names.to_vec();
        same.sort();
        ours.sort();
        if same != ours {
            return Err(format!(
                "the features changed (previously {}): k-means++ restarts instead",
                self.features.join(", ")
            ));
        }
        let column = |name: &String| self.features.iter().position(|f| f == name).expect("same");
        let mut z = Array2::zeros((k, names.len()));
        for i in 0..k {
            let row: Vec<f64> = names
                .iter()
                .map(|n| self.centroids[[i, column(n)]])
                .collect();
            z.row_mut(i)
                .assign(&ndarray::Array1::from(preprocessor.apply(&row)));
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
