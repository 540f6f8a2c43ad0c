//! An algorithm's configuration as clients write it: the trait each one implements, the k
//! fields they share, and the problems a check names.

use super::Algorithm;
use super::KChoice;
use crate::kmeans::{KMeansParams, Restarts};
use crate::selection::KRule;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An algorithm's parameters as a segmentation's `algorithm` member holds them (beside
/// `type` and, when it takes k, the [`KFields`]).
pub trait AlgorithmParams:
    Serialize + DeserializeOwned + ToSchema + Clone + PartialEq + std::fmt::Debug + Send + Sync
{
    /// The `type` naming it.
    const TYPE: &'static str;
    /// Whether it takes the k fields; `false`: it finds its own number of segments.
    const TAKES_K: bool;

    /// Checks the parameters once (each problem named by its field) into the algorithm, and
    /// sets the run's K-Means settings it holds (seed, restarts).
    fn check(&self, run: &mut KMeansParams, problems: &mut Problems) -> Algorithm;

    /// Whether K-Means is to start from the active run's centroids.
    fn warm_start(&self) -> bool {
        false
    }
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

impl Default for KConfig {
    fn default() -> Self {
        Self::Auto(Auto::Auto)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KRuleConfig {
    #[default]
    Silhouette,
    Elbow,
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

/// Largest k a sweep may try.
pub const MAX_K: i64 = 50;
/// The most restarts a configuration may ask for.
pub const MAX_N_INIT: i64 = 1_000;

/// The fields of every algorithm that takes a number of segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KFields {
    #[serde(default)]
    pub k: KConfig,
    #[serde(default = "k_min")]
    pub k_min: i64,
    #[serde(default = "k_max")]
    pub k_max: i64,
    #[serde(default)]
    pub k_rule: KRuleConfig,
}

fn k_min() -> i64 {
    2
}

fn k_max() -> i64 {
    10
}

/// The default seed of every seeded algorithm.
pub fn seed() -> u64 {
    42
}

impl Default for KFields {
    fn default() -> Self {
        Self {
            k: KConfig::default(),
            k_min: k_min(),
            k_max: k_max(),
            k_rule: KRuleConfig::default(),
        }
    }
}

impl KFields {
    /// Their names in a configuration.
    pub const NAMES: [&'static str; 4] = ["k", "k_min", "k_max", "k_rule"];

    /// k given, or the range and rule to choose it by.
    pub fn check(&self, problems: &mut Problems) -> KChoice {
        match self.k {
            KConfig::Fixed(k) if !(1..=MAX_K).contains(&k) => {
                problems.add("k", format!("must be between 1 and {MAX_K}, got {k}"));
                KChoice::Fixed(1)
            }
            KConfig::Fixed(k) => KChoice::Fixed(k as usize),
            KConfig::Auto(_) => {
                let (min, max) = (self.k_min, self.k_max);
                if min < 2 {
                    problems.add("k_min", format!("must be at least 2, got {min}"));
                }
                if max < min || max > MAX_K {
                    problems.add(
                        "k_max",
                        format!("must be between k_min ({min}) and {MAX_K}, got {max}"),
                    );
                }
                KChoice::Auto {
                    min: min.max(2) as usize,
                    max: max.max(2) as usize,
                    rule: match self.k_rule {
                        KRuleConfig::Silhouette => KRule::Silhouette,
                        KRuleConfig::Elbow => KRule::Elbow,
                    },
                }
            }
        }
    }
}

impl NInitConfig {
    /// The restarts asked for (`n_init` out of range is a problem).
    pub fn check(&self, problems: &mut Problems) -> Restarts {
        match *self {
            Self::Auto(_) => Restarts::Auto,
            Self::Fixed(n) => {
                if !(1..=MAX_N_INIT).contains(&n) {
                    problems.add(
                        "n_init",
                        format!("must be between 1 and {MAX_N_INIT} or \"auto\", got {n}"),
                    );
                }
                Restarts::Fixed(n.clamp(1, MAX_N_INIT) as usize)
            }
        }
    }
}

/// What a check found wrong, each problem under the field it is about (relative to the
/// algorithm's member: `eps`, `k_max`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<(String, String)>);

impl Problems {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    /// `value` when it is in `1..=max`, else the nearest such value and a problem.
    pub fn count(&mut self, field: &str, value: i64, max: i64) -> usize {
        if !(1..=max).contains(&value) {
            self.add(field, format!("must be between 1 and {max}, got {value}"));
        }
        value.clamp(1, max) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each problem: its field and what is wrong.
    pub fn into_inner(self) -> Vec<(String, String)> {
        self.0
    }
}
