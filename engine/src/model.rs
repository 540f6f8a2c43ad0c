//! A fitted segmentation as data: the preprocessing, the optional PCA projection, the segment
//! centroids and how new rows join a segment. Serialisable, so a stored run scores customers
//! exactly as its training assigned them.

use super::EngineError;
pub use super::algorithm::{Assign, AssignRows, Joined};
use super::kmeans::KMeans;
use super::preprocess::Preprocessor;
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// PCA as applied to scaled rows: `(z - mean) · componentsᵀ`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub mean: Vec<f64>,
    /// Components × features.
    pub components: Array2<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub preprocessor: Preprocessor,
    pub projection: Option<Projection>,
    /// Segment centroids in model space (after scaling and any projection), segment order.
    pub centroids: Array2<f64>,
    pub assign: Assign,
}

/// A scored row: its segment (`None`: noise) and its distance or probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub segment: Option<usize>,
    pub score: f64,
}

impl Model {
    pub fn feature_names(&self) -> impl Iterator<Item = &str> {
        self.preprocessor.features.iter().map(|f| f.name.as_str())
    }

    pub fn segments(&self) -> usize {
        self.centroids.nrows()
    }

    /// A row of feature values (original units, model's feature order) with missing values
    /// imputed as in training; `None` when a value is missing and training dropped such rows.
    pub fn complete(&self, row: &[Option<f64>]) -> Option<Vec<f64>> {
        row.iter()
            .enumerate()
            .map(|(j, v)| v.or_else(|| self.preprocessor.impute.as_ref().map(|m| m[j])))
            .collect()
    }

    /// Model space from rows in original units and, per row, its level of each categorical
    /// feature (the model's order); a level training never saw is an error naming it.
    pub fn space_mixed(
        &self,
        rows: ArrayView2<f64>,
        levels: &[Vec<String>],
    ) -> Result<Array2<f64>, EngineError> {
        let (n, d) = rows.dim();
        let encodings = &self.preprocessor.categories;
        if !encodings.is_empty() && levels.len() != n {
            return Err(EngineError::invalid(
                "categorical values",
                "given for every row scored",
                format!("{} for {n} rows", levels.len()),
            ));
        }
        let width = d + encodings.iter().map(|e| e.levels.len()).sum::<usize>();
        let mut z = Array2::zeros((n, width));
        for (i, row) in rows.rows().into_iter().enumerate() {
            let applied = self.preprocessor.apply(&row.to_vec());
            let mut out = z.row_mut(i);
            let out = out.as_slice_mut().expect("standard layout");
            out[..d].copy_from_slice(&applied);
            if encodings.is_empty() {
                continue;
            }
            if levels[i].len() != encodings.len() {
                return Err(EngineError::invalid(
                    "categorical values",
                    "one per categorical feature of the model",
                    levels[i].len(),
                ));
            }
            let mut at = d;
            for (e, level) in encodings.iter().zip(&levels[i]) {
                e.encode(level, &mut out[at..at + e.levels.len()])?;
                at += e.levels.len();
            }
        }
        Ok(match &self.projection {
            None => z,
            Some(p) => {
                let mean = Array1::from(p.mean.clone());
                (&z - &mean).dot(&p.components.t())
            }
        })
    }

    /// The centroids in the space before any projection: scaled features, then one-hot
    /// columns (exact within the components' span).
    fn unprojected(&self) -> Array2<f64> {
        match &self.projection {
            None => self.centroids.clone(),
            Some(p) => self.centroids.dot(&p.components) + &Array1::from(p.mean.clone()),
        }
    }

    /// The centroids in original units, one row per segment, in [`Self::feature_names`]
    /// order: back through the projection and the preprocessing. What a warm start of another
    /// run begins from.
    pub fn centroids_in_units(&self) -> Array2<f64> {
        let z = self.unprojected();
        let d = self.preprocessor.features.len();
        let mut out = Array2::zeros((z.nrows(), d));
        for (i, row) in z.rows().into_iter().enumerate() {
            let units = self.preprocessor.invert(&row.to_vec());
            out.row_mut(i).assign(&Array1::from(units));
        }
        out
    }

    /// Per categorical feature, each centroid's share of each level (its one-hot columns
    /// over their weight): segments × levels.
    pub fn centroid_shares(&self) -> Vec<Array2<f64>> {
        let z = self.unprojected();
        let mut at = self.preprocessor.features.len();
        self.preprocessor
            .categories
            .iter()
            .map(|e| {
                let shares = z
                    .slice(ndarray::s![.., at..at + e.levels.len()])
                    .mapv(|v| v / e.weight);
                at += e.levels.len();
                shares
            })
            .collect()
    }

    /// The values (row, feature) too far from the training data to score: scaled, they are
    /// beyond [`MAX_MODEL_VALUE`](super::preprocess::MAX_MODEL_VALUE) and distances to them
    /// would overflow.
    pub fn out_of_range(&self, rows: ArrayView2<f64>) -> Vec<(usize, usize)> {
        rows.rows()
            .into_iter()
            .enumerate()
            .flat_map(|(i, row)| {
                let z = self.preprocessor.apply(&row.to_vec());
                z.into_iter()
                    .enumerate()
                    .filter(|&(_, z)| !super::preprocess::in_range(z))
                    .map(move |(j, _)| (i, j))
            })
            .collect()
    }

    /// Assigns rows given in original units (every value present).
    pub fn score(&self, rows: ArrayView2<f64>) -> Result<Vec<Scored>, EngineError> {
        self.score_mixed(rows, &[])
    }

    /// [`Self::score`] with each row's categorical levels (see [`Self::space_mixed`]).
    pub fn score_mixed(
        &self,
        rows: ArrayView2<f64>,
        levels: &[Vec<String>],
    ) -> Result<Vec<Scored>, EngineError> {
        let x = self.space_mixed(rows, levels)?;
        let nearest = KMeans {
            centroids: self.centroids.clone(),
        };
        let distance_to = |i: usize, s: usize| -> f64 {
            x.row(i)
                .iter()
                .zip(self.centroids.row(s).iter())
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
        };
        Ok(match self.assign.rows() {
            None => {
                let (labels, sq) = nearest.predict_rows(x.view());
                labels
                    .into_iter()
                    .zip(sq)
                    .map(|(s, d2)| Scored {
                        segment: Some(s),
                        score: d2.max(0.0).sqrt(),
                    })
                    .collect()
            }
            Some(model) => model
                .assign(x.view())?
                .into_iter()
                .enumerate()
                .map(|(i, (segment, score))| Scored {
                    segment,
                    score: score.unwrap_or_else(|| segment.map_or(f64::NAN, |s| distance_to(i, s))),
                })
                .collect(),
        })
    }
}
