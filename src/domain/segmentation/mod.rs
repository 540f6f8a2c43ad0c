//! A segmentation's configuration as clients write it (and as it is stored, with every
//! default filled in), and its validation into the engine's parameters.

use crate::domain::AttributeKind;
use crate::domain::Catalogue;
use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What to cluster on and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "features": ["annual_income_k", "spending_score"],
    "scaling": "standard",
    "algorithm": {"type": "kmeans", "k": "auto", "k_min": 2, "k_max": 10}
}))]
pub struct SegmentationConfig {
    /// Numeric attributes to cluster on (see `GET /v1/attributes`).
    pub features: Vec<String>,
    /// Features transformed with ln(1 + x) before scaling (long-tailed amounts).
    #[serde(default)]
    pub log1p: Vec<String>,
    #[serde(default)]
    pub scaling: ScalingConfig,
    #[serde(default)]
    pub missing: MissingConfig,
    #[serde(default)]
    pub algorithm: AlgorithmConfig,
    /// Cluster on this many principal components of the scaled features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pca: Option<i64>,
    /// Categorical attributes to cluster on too (e.g. `gender`, `country`): each becomes one
    /// column per level, holding `category_weight` for the customer's level and 0 for the
    /// others, beside the scaled numeric features. Profiles give each segment's share of every
    /// level and its lift; a segment mostly of one level is labelled so ("Mostly female ·
    /// …"). A customer without a level is left out (`missing: drop`) or takes the most
    /// frequent (`impute_median`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(example = json!(["gender"]))]
    pub categorical: Vec<String>,
    /// The one-hot columns' weight: two customers of different levels are √2 × this apart.
    /// The default, 1/√2, makes that one standard deviation of one standardised numeric
    /// feature; raise it for segments that split by the category.
    #[serde(
        default = "category_weight",
        skip_serializing_if = "is_default_category_weight"
    )]
    #[schema(example = 2.0, minimum = 0.0, maximum = 100.0)]
    pub category_weight: f64,
    /// A numeric attribute weighing each customer (e.g. revenue), as scikit-learn's
    /// `sample_weight`: K-Means only. Centroids are weighted means and the inertia weighs
    /// each customer; profiles give each segment's weight, weight share and weighted means
    /// beside its counts. Customers without the attribute are left out (and counted); a
    /// negative value fails the run, naming the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "monetary")]
    pub weight: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScalingConfig {
    None,
    /// z-scores with the population standard deviation.
    #[default]
    Standard,
    Minmax,
    /// (x − median) / IQR.
    Robust,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingConfig {
    /// Customers missing a feature are left out (and counted).
    #[default]
    Drop,
    /// Missing values take the feature's median.
    ImputeMedian,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KRuleConfig {
    #[default]
    Silhouette,
    Elbow,
}

/// Covariance structure of a Gaussian mixture's components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CovarianceConfig {
    /// A full covariance matrix per component (scikit-learn's `covariance_type="full"`).
    #[default]
    Full,
    /// Variances only (`"diag"`): fewer parameters, features independent within a segment.
    Diag,
}

/// A number of segments, or `"auto"` to choose it in `k_min..=k_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum KConfig {
    Fixed(i64),
    Auto(Auto),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Auto {
    #[serde(rename = "auto")]
    Auto,
}

/// K-Means restarts: a number, or `"auto"` (the default) for as many as a constant amount
/// of work buys: 25,000 / customers, between 3 and 1,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum NInitConfig {
    Fixed(i64),
    Auto(Auto),
}

impl Default for NInitConfig {
    fn default() -> Self {
        Self::Auto(Auto::Auto)
    }
}

/// Where K-Means starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum InitConfig {
    /// k-means++ restarts (`n_init` of them).
    #[default]
    #[serde(rename = "k-means++")]
    KMeansPlusPlus,
    /// The active run's centroids, taken into this run's preprocessing: one fit from there,
    /// fewer iterations and segments that stay put. Falls back to k-means++ when there is no
    /// active run, or k or the features changed (the run's `fit.warm_start` says which).
    #[serde(rename = "previous")]
    Previous,
}

impl InitConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The most restarts a configuration may ask for.
pub const MAX_N_INIT: i64 = 1_000;

impl Default for KConfig {
    fn default() -> Self {
        Self::Auto(Auto::Auto)
    }
}

fn k_min() -> i64 {
    2
}
fn k_max() -> i64 {
    10
}
fn seed() -> u64 {
    42
}
fn category_weight() -> f64 {
    crate::segmentation::categorical::DEFAULT_WEIGHT
}
fn is_default_category_weight(w: &f64) -> bool {
    *w == category_weight()
}

/// The largest weight a category's one-hot columns may have.
pub const MAX_CATEGORY_WEIGHT: f64 = 100.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum AlgorithmConfig {
    Kmeans {
        #[serde(default)]
        k: KConfig,
        #[serde(default = "k_min")]
        k_min: i64,
        #[serde(default = "k_max")]
        k_max: i64,
        #[serde(default)]
        k_rule: KRuleConfig,
        #[serde(default)]
        n_init: NInitConfig,
        #[serde(default = "seed")]
        seed: u64,
        #[serde(default, skip_serializing_if = "InitConfig::is_default")]
        init: InitConfig,
    },
    /// Gaussian mixture (`covariance`: `full`, the default, or `diag`); `k: "auto"` chooses
    /// with the K-Means sweep.
    Gmm {
        #[serde(default)]
        k: KConfig,
        #[serde(default = "k_min")]
        k_min: i64,
        #[serde(default = "k_max")]
        k_max: i64,
        #[serde(default)]
        k_rule: KRuleConfig,
        #[serde(default = "seed")]
        seed: u64,
        #[serde(default)]
        covariance: CovarianceConfig,
    },
    /// Density-based: finds its own number of segments; `eps` is in scaled units.
    Dbscan { eps: f64, min_points: i64 },
    /// Agglomerative with Ward linkage (at most 10,000 customers).
    Ward {
        #[serde(default)]
        k: KConfig,
        #[serde(default = "k_min")]
        k_min: i64,
        #[serde(default = "k_max")]
        k_max: i64,
        #[serde(default)]
        k_rule: KRuleConfig,
    },
    /// Divisive: bisecting K-Means (any number of customers), splitting the segment with the
    /// largest inertia in two until there are k; its split tree is served with the run
    /// (`GET /v1/runs/{id}/tree`). `n_init`: restarts of each split (`"auto"`: 25,000 /
    /// its customers, between 1 and 1,000).
    Bisecting {
        #[serde(default)]
        k: KConfig,
        #[serde(default = "k_min")]
        k_min: i64,
        #[serde(default = "k_max")]
        k_max: i64,
        #[serde(default)]
        k_rule: KRuleConfig,
        #[serde(default)]
        n_init: NInitConfig,
        #[serde(default = "seed")]
        seed: u64,
    },
    /// Mini-batch K-Means (scikit-learn's `MiniBatchKMeans`): each step moves the centroids
    /// towards `batch_size` customers drawn at random, with a learning rate per centroid; it
    /// stops after `max_iter` passes' worth of steps, or earlier when the batches' inertia
    /// stops improving. Much faster than K-Means on large stores, for an inertia a little
    /// higher.
    #[serde(rename = "minibatch_kmeans")]
    MinibatchKmeans {
        #[serde(default)]
        k: KConfig,
        #[serde(default = "k_min")]
        k_min: i64,
        #[serde(default = "k_max")]
        k_max: i64,
        #[serde(default)]
        k_rule: KRuleConfig,
        #[serde(default = "batch_size")]
        #[schema(minimum = 1, maximum = 1_000_000)]
        batch_size: i64,
        #[serde(default = "minibatch_max_iter")]
        #[schema(minimum = 1, maximum = 1_000)]
        max_iter: i64,
        #[serde(default = "seed")]
        seed: u64,
    },
}

/// scikit-learn's `MiniBatchKMeans` defaults.
fn batch_size() -> i64 {
    1024
}

fn minibatch_max_iter() -> i64 {
    100
}

/// The largest mini-batch.
pub const MAX_BATCH_SIZE: i64 = 1_000_000;
/// The most passes' worth of mini-batch steps.
pub const MAX_MINIBATCH_ITER: i64 = 1_000;

impl Default for AlgorithmConfig {
    fn default() -> Self {
        Self::Kmeans {
            k: KConfig::default(),
            k_min: k_min(),
            k_max: k_max(),
            k_rule: KRuleConfig::default(),
            n_init: NInitConfig::default(),
            seed: seed(),
            init: InitConfig::default(),
        }
    }
}

impl AlgorithmConfig {
    /// Whether K-Means is to start from the active run's centroids.
    pub fn warm_start(&self) -> bool {
        matches!(
            self,
            Self::Kmeans {
                init: InitConfig::Previous,
                ..
            }
        )
    }

    /// The `type` the configuration names.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Kmeans { .. } => "kmeans",
            Self::MinibatchKmeans { .. } => "minibatch_kmeans",
            Self::Bisecting { .. } => "bisecting",
            Self::Gmm { .. } => "gmm",
            Self::Ward { .. } => "ward",
            Self::Dbscan { .. } => "dbscan",
        }
    }
}

/// A segmentation as stored: its name, configuration (a new version per change), schedule and
/// active run.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    pub segmentation_id: uuid::Uuid,
    pub name: String,
    pub description: String,
    pub version: i32,
    pub config: SegmentationConfig,
    pub auto_activate: bool,
    /// Drift thresholds (`None`: drift is reported, never flagged).
    pub drift: Option<crate::domain::drift::DriftPolicy>,
    pub schedule: Option<String>,
    pub next_run_at: Option<chrono::DateTime<chrono::Utc>>,
    pub active_run_id: Option<uuid::Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Largest k a sweep may try.
pub const MAX_K: i64 = 50;

impl SegmentationConfig {
    /// This configuration changed by a JSON merge patch (RFC 7396): members present replace,
    /// objects merge, `null` removes a member (its default then applies). A patch naming
    /// another algorithm `type` starts that algorithm from its defaults, as the current one's
    /// parameters are not its. Fields that do not fit are named under `prefix`.
    pub fn patched(&self, patch: &serde_json::Value, prefix: &str) -> Result<Self, FieldError> {
        /// The algorithm type a document or a patch names, if any.
        #[derive(Deserialize)]
        struct Named {
            algorithm: Option<TypeOnly>,
        }
        #[derive(Deserialize, PartialEq)]
        struct TypeOnly {
            #[serde(rename = "type")]
            kind: Option<serde_json::Value>,
        }
        let mut document = serde_json::to_value(self).expect("a configuration is JSON");
        let named = |value: &serde_json::Value| {
            Named::deserialize(value)
                .ok()
                .and_then(|n| n.algorithm)
                .and_then(|a| a.kind)
        };
        if let Some(kind) = named(patch)
            && Some(kind) != named(&document)
        {
            super::merge_patch::apply(&mut document, &serde_json::json!({ "algorithm": null }));
        }
        super::merge_patch::apply(&mut document, patch);
        serde_path_to_error::deserialize(document).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                prefix.trim_end_matches('.').to_owned()
            } else {
                format!("{prefix}{path}")
            };
            FieldError::field(field, e.into_inner().to_string())
        })
    }
}

mod validate;
