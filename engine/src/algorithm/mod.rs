//! The seam every clustering algorithm plugs into: the fit of checked parameters.
//!
//! An algorithm is one folder (`engine/src/<name>/`): the algorithm itself, and its
//! `plugin.rs` with
//! - its configuration as clients write it (serde and OpenAPI schema, implementing
//!   [`AlgorithmParams`]: checked once into a [`Clusterer`], naming each field at fault),
//! - the checked parameters (implementing [`Clusterer`]: fit the model-space rows),
//! - when new rows join its segments its own way, its model's [`AssignRows`].
//!
//! It is registered by one line in `registry.rs`'s list: its configuration and, when it brings
//! a model, that model's variant of [`Assign`] (the stored form). The pipeline, the model
//! store, the CLI and the API know algorithms only through these.

pub mod config;

/// `registry`'s list made into `Params`, the stored model's `Assign`, and the functions that go
/// through every algorithm (defined here, before the module, so the list opens `registry.rs`).
macro_rules! registry {
    ($($variant:ident => $params:ty $(, model $model:ident($model_type:ty))?;)*) => {
        /// How a new row joins a segment: the nearest centroid (the score is the distance to
        /// it), or the algorithm's own model ([`AssignRows`]). The stored form of a run's
        /// model: `{"type": "nearest"}`, `{"type": "mixture", …}`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum Assign {
            Nearest,
            $($($model($model_type),)?)*
        }

        impl Assign {
            /// The algorithm's own model (`None`: the nearest centroid).
            pub fn rows(&self) -> Option<&dyn AssignRows> {
                match self {
                    Self::Nearest => None,
                    $($(Self::$model(m) => Some(m),)?)*
                }
            }

            fn rows_mut(&mut self) -> Option<&mut dyn AssignRows> {
                match self {
                    Self::Nearest => None,
                    $($(Self::$model(m) => Some(m),)?)*
                }
            }
        }

        $($(impl From<$model_type> for Assign {
            fn from(model: $model_type) -> Self {
                Self::$model(model)
            }
        })?)*

        /// One algorithm's own parameters.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Params {
            $($variant($params),)*
        }

        impl Params {
            fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$params>::TYPE,)*
                }
            }

            fn check(&self, run: &mut KMeansParams, problems: &mut Problems) -> Algorithm {
                match self {
                    $(Self::$variant(p) => p.check(run, problems),)*
                }
            }

            fn warm_start(&self) -> bool {
                match self {
                    $(Self::$variant(p) => p.warm_start(),)*
                }
            }

            fn to_value(&self) -> Value {
                match self {
                    $(Self::$variant(p) => serde_json::to_value(p),)*
                }
                .expect("parameters are JSON")
            }

            /// The parameters of the algorithm named `kind`, from the rest of its member
            /// (`None`: no algorithm has that name).
            fn parse(kind: &str, rest: Map<String, Value>) -> Option<Result<Self, Located>> {
                $(if kind == <$params>::TYPE {
                    return Some(parse::<$params>(rest).map(Self::$variant));
                })*
                None
            }
        }

        /// Every algorithm's `type`, in the registry's order.
        pub const NAMES: &[&str] = &[$(<$params>::TYPE,)*];

        impl PartialSchema for AlgorithmConfig {
            fn schema() -> RefOr<Schema> {
                OneOfBuilder::new()
                    $(.item(variant_schema::<$params>()))*
                    .into()
            }
        }

        impl ToSchema for AlgorithmConfig {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                <KFields as ToSchema>::schemas(schemas);
                $(<$params as ToSchema>::schemas(schemas);)*
            }
        }

        /// Whether the algorithm named `kind` takes the k fields (`None`: no algorithm has that
        /// name).
        fn takes_k(kind: &str) -> Option<bool> {
            $(if kind == <$params>::TYPE {
                return Some(<$params>::TAKES_K);
            })*
            None
        }

        /// The member's properties of the algorithm named `kind`, `type` and k fields
        /// included (for a message naming them).
        fn properties(kind: &str) -> Vec<String> {
            $(if kind == <$params>::TYPE {
                return property_names::<$params>();
            })*
            Vec::new()
        }
    };
}

mod registry;

pub use config::{AlgorithmParams, Auto, KConfig, KFields, KRuleConfig, NInitConfig, Problems};
pub use registry::{AlgorithmConfig, Assign, Checked, Located, NAMES, Params, locate};

use crate::EngineError;
use crate::kmeans::{self, KMeansParams};
use crate::preprocess::Hold;
use crate::selection::KRule;
use crate::space::ModelRows;
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A row's segment (`None`: noise) and its score, when the model gives one.
pub type Joined = (Option<usize>, Option<f64>);

/// An algorithm's own model of how new rows join its segments (registered beside its
/// configuration: `model Variant(Type)` in the registry's line).
pub trait AssignRows {
    /// Each row's segment (`None`: noise) and score; `None` scores a row by the distance to
    /// its segment's centroid.
    fn assign(&self, x: ArrayView2<f64>) -> Result<Vec<Joined>, EngineError>;

    /// Renumbers its segments into the canonical order: segment `order[s]` becomes `s`
    /// (`rank` is the inverse: `rank[order[s]] == s`).
    fn reorder(&mut self, order: &[usize], rank: &[usize]);
}

/// A clustering algorithm with its parameters checked.
pub trait Clusterer: std::fmt::Debug + Send + Sync {
    /// The `type` naming it in a configuration (`kmeans`, `dbscan`, …).
    fn name(&self) -> &'static str;

    /// How the algorithm comes by its number of segments when it finds it itself (DBSCAN:
    /// "density (DBSCAN)"); `None`: k is given or chosen by the K-Means sweep.
    fn finds_own_k(&self) -> Option<&'static str> {
        None
    }

    /// How the preprocessed rows are held for it: mini-batches read the columns, the others
    /// the scaled matrix.
    fn holds(&self) -> Hold {
        Hold::Matrix
    }

    /// Whether it weighs rows (scikit-learn's `sample_weight`).
    fn takes_weights(&self) -> bool {
        false
    }

    /// Whether it can start from given centroids (a previous run's, a sampled sweep's).
    fn starts_from_centroids(&self) -> bool {
        false
    }

    /// Fits the model-space rows.
    fn fit(&self, rows: &dyn ModelRows, job: FitJob<'_>) -> Result<Fitted, EngineError>;
}

/// A checked algorithm, shared by the run's parameters.
#[derive(Clone)]
pub struct Algorithm(Arc<dyn Clusterer>);

impl Algorithm {
    pub fn new(clusterer: impl Clusterer + 'static) -> Self {
        Self(Arc::new(clusterer))
    }
}

impl std::ops::Deref for Algorithm {
    type Target = dyn Clusterer;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Two algorithms are equal when they are the same algorithm with the same parameters.
impl PartialEq for Algorithm {
    fn eq(&self, other: &Self) -> bool {
        format!("{:?}", self.0) == format!("{:?}", other.0)
    }
}

/// What a fit is given besides the rows.
pub struct FitJob<'a> {
    /// The number of segments (0 when the algorithm finds its own).
    pub k: usize,
    pub weights: Option<&'a [f64]>,
    /// The run's K-Means settings: seed, random stream, restarts, iterations, tolerance.
    pub kmeans: &'a KMeansParams,
    /// What the k sweep left for K-Means (its fit of k, or a sample's centroids), or a
    /// previous run's centroids to start from.
    pub swept: Option<KMeansFromSweep>,
}

/// What the K-Means sweep (or a warm start) leaves for the fit of the chosen k.
pub enum KMeansFromSweep {
    /// The fit itself: the sweep fitted every row.
    Fit(kmeans::KMeansFit),
    /// Centroids to start Lloyd's iterations from (a sample's fit, a previous run's).
    Start(Array2<f64>),
}

/// What the algorithm found, before segments are put in canonical order.
pub struct Fitted {
    /// Each row's cluster (`None`: noise).
    pub raw: Vec<Option<usize>>,
    /// Each row's score when the algorithm gives one (a probability); `None`: the distance to
    /// the segment's centroid.
    pub probability: Option<Vec<f64>>,
    pub clusters: usize,
    pub n_iter: Option<usize>,
    pub converged: Option<bool>,
    pub restarts: Option<usize>,
    pub mixture: Option<MixtureFit>,
    pub assign: Assign,
}

impl Fitted {
    /// Hard labels, every row in a cluster, new rows joining the nearest centroid.
    pub fn hard(labels: Vec<usize>, clusters: usize) -> Self {
        Self {
            raw: labels.into_iter().map(Some).collect(),
            probability: None,
            clusters,
            n_iter: None,
            converged: None,
            restarts: None,
            mixture: None,
            assign: Assign::Nearest,
        }
    }
}

/// k given, or the range and rule to choose it by (with the K-Means sweep).
#[derive(Debug, Clone, PartialEq)]
pub enum KChoice {
    Fixed(usize),
    Auto { min: usize, max: usize, rule: KRule },
}

/// Fit statistics of a Gaussian mixture.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MixtureFit {
    pub log_likelihood: f64,
    pub mean_log_likelihood: f64,
    pub bic: f64,
    pub aic: f64,
}
