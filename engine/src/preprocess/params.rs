//! What preprocessing is asked to do: the features by name with their transforms, the
//! scaling, what to do with missing values, categorical features and a row weight.

use crate::categorical;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    #[default]
    None,
    /// `ln(1 + x)`, for long-tailed amounts (spend, frequency).
    Log1p,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    None,
    /// z-score: (x - mean) / population std.
    #[default]
    Standard,
    /// (x - min) / (max - min).
    MinMax,
    /// (x - median) / IQR.
    Robust,
}

impl Scaling {
    pub fn name(self) -> &'static str {
        match self {
            Scaling::None => "none",
            Scaling::Standard => "standard",
            Scaling::MinMax => "minmax",
            Scaling::Robust => "robust",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// Rows missing a selected feature are left out, and counted.
    #[default]
    Drop,
    /// Missing values take the feature's median (of the rows that have it).
    ImputeMedian,
}

/// One selected feature and its transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    #[serde(default)]
    pub transform: Transform,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessParams {
    pub features: Vec<Feature>,
    pub scaling: Scaling,
    pub missing: Missing,
    /// A numeric column giving each row's sample weight (finite, >= 0). Rows without it are
    /// left out (and counted), whatever `missing` says.
    #[serde(default)]
    pub weight: Option<String>,
    /// Categorical features, one-hot encoded after the numeric ones (see [`categorical`]);
    /// a missing level drops the row, or takes the most frequent level when imputing.
    #[serde(default)]
    pub categorical: Vec<String>,
    /// The one-hot columns' weight.
    #[serde(default = "default_category_weight")]
    pub category_weight: f64,
}

fn default_category_weight() -> f64 {
    categorical::DEFAULT_WEIGHT
}

impl PreprocessParams {
    /// The selected features' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    /// Features by name, those also named in `log1p` transformed with ln(1 + x).
    pub fn new(features: &[String], log1p: &[String], scaling: Scaling, missing: Missing) -> Self {
        Self {
            features: features
                .iter()
                .map(|name| Feature {
                    name: name.clone(),
                    transform: if log1p.contains(name) {
                        Transform::Log1p
                    } else {
                        Transform::None
                    },
                })
                .collect(),
            scaling,
            missing,
            weight: None,
            categorical: Vec::new(),
            category_weight: categorical::DEFAULT_WEIGHT,
        }
    }

    /// With these categorical features, their one-hot columns weighing `weight`.
    pub fn with_categories(mut self, names: &[String], weight: f64) -> Self {
        self.categorical = names.to_vec();
        self.category_weight = weight;
        self
    }

    /// The columns a run reads: the features, then the weight (unless it is one of them).
    pub fn columns(&self) -> Vec<String> {
        let mut names = self.names();
        if let Some(w) = &self.weight
            && !names.contains(w)
        {
            names.push(w.clone());
        }
        names
    }

    /// Each row weighted by the column `name`.
    pub fn weighted_by(mut self, name: Option<String>) -> Self {
        self.weight = name;
        self
    }
}
