//! A segmentation's configuration as clients write it (and as it is stored, with every
//! default filled in); `validate` checks it into the engine's parameters.

use crate::domain::AttributeKind;
use crate::domain::Catalogue;
use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The `algorithm` member: each algorithm's configuration is its plug-in's
/// (`engine/src/<name>/plugin.rs`), registered in `algorithm/registry.rs`.
pub use crate::segmentation::algorithm::AlgorithmConfig;
pub use crate::segmentation::algorithm::config::{MAX_K, MAX_N_INIT};
pub use crate::segmentation::algorithm::locate;
pub use crate::segmentation::algorithm::{Auto, KConfig, KFields, KRuleConfig, NInitConfig};

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

fn category_weight() -> f64 {
    crate::segmentation::categorical::DEFAULT_WEIGHT
}
fn is_default_category_weight(w: &f64) -> bool {
    *w == category_weight()
}

/// The largest weight a category's one-hot columns may have.
pub const MAX_CATEGORY_WEIGHT: f64 = 100.0;

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
            let (path, message) = locate(&path, &e.into_inner().to_string());
            let field = if path == "." {
                prefix.trim_end_matches('.').to_owned()
            } else {
                format!("{prefix}{path}")
            };
            FieldError::field(field, message)
        })
    }
}

mod validate;
