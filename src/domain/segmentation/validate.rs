//! A configuration checked against the attribute catalogue: every field at fault named, and
//! the engine's parameters.

use super::*;
use crate::segmentation::gmm::Covariance;
use crate::segmentation::kmeans::{KMeansParams, Restarts};
use crate::segmentation::pipeline::{self, Algorithm, KChoice, RunParams};
use crate::segmentation::preprocess::{Missing, PreprocessParams, Scaling};
use crate::segmentation::selection::KRule;

impl SegmentationConfig {
    /// Checks the configuration against the attribute catalogue, naming every field at fault
    /// (paths start with `prefix`), and gives the engine's parameters.
    pub fn validate(
        &self,
        catalogue: &Catalogue,
        prefix: &str,
    ) -> Result<RunParams, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut err = |field: String, message: String| {
            errors.push(FieldError::field(format!("{prefix}{field}"), message))
        };
        if self.features.is_empty() {
            err(
                "features".into(),
                "name at least one numeric attribute".into(),
            );
        }
        for (i, name) in self.features.iter().enumerate() {
            match catalogue.get(name) {
                None => err(
                    format!("features[{i}]"),
                    format!(
                        "unknown attribute `{name}`; numeric attributes are {}",
                        numeric_names(catalogue)
                    ),
                ),
                Some(a) if a.kind != AttributeKind::Numeric => err(
                    format!("features[{i}]"),
                    format!("`{name}` is categorical; only numeric attributes can be clustered"),
                ),
                Some(_) if self.features[..i].contains(name) => err(
                    format!("features[{i}]"),
                    format!("`{name}` is listed twice"),
                ),
                Some(_) => {}
            }
        }
        for (i, name) in self.categorical.iter().enumerate() {
            let field = format!("categorical[{i}]");
            match catalogue.get(name) {
                None => err(
                    field,
                    format!(
                        "unknown attribute `{name}`; categorical attributes are {}",
                        names_of(catalogue, AttributeKind::Categorical)
                    ),
                ),
                Some(a) if a.kind != AttributeKind::Categorical => {
                    err(field, format!("`{name}` is numeric; list it in `features`"))
                }
                Some(_) if self.categorical[..i].contains(name) => {
                    err(field, format!("`{name}` is listed twice"))
                }
                Some(_) => {}
            }
        }
        if !(self.category_weight > 0.0 && self.category_weight <= MAX_CATEGORY_WEIGHT) {
            err(
                "category_weight".into(),
                format!(
                    "must be above 0 and at most {MAX_CATEGORY_WEIGHT}, got {}",
                    self.category_weight
                ),
            );
        }
        if let Some(name) = &self.weight {
            match catalogue.get(name) {
                None => err(
                    "weight".into(),
                    format!(
                        "unknown attribute `{name}`; numeric attributes are {}",
                        numeric_names(catalogue)
                    ),
                ),
                Some(a) if a.kind != AttributeKind::Numeric => err(
                    "weight".into(),
                    format!("`{name}` is categorical; a weight must be numeric"),
                ),
                Some(_) => {}
            }
            if !matches!(self.algorithm, AlgorithmConfig::Kmeans { .. }) {
                err(
                    "weight".into(),
                    format!(
                        "a weight works with the kmeans algorithm only; this segmentation uses {}",
                        self.algorithm.name()
                    ),
                );
            }
        }
        for (i, name) in self.log1p.iter().enumerate() {
            if !self.features.contains(name) {
                err(
                    format!("log1p[{i}]"),
                    format!("`{name}` is not among the features"),
                );
            }
        }
        if let Some(p) = self.pca
            && !(1..=self.features.len() as i64).contains(&p)
        {
            err(
                "pca".into(),
                format!(
                    "must be between 1 and the number of features ({}), got {p}",
                    self.features.len()
                ),
            );
        }
        let k_choice = |k: &KConfig,
                        min: i64,
                        max: i64,
                        rule: KRuleConfig,
                        err: &mut dyn FnMut(String, String)| match k {
            KConfig::Fixed(k) if !(1..=MAX_K).contains(k) => {
                err(
                    "algorithm.k".into(),
                    format!("must be between 1 and {MAX_K}, got {k}"),
                );
                KChoice::Fixed(1)
            }
            KConfig::Fixed(k) => KChoice::Fixed(*k as usize),
            KConfig::Auto(_) => {
                if min < 2 {
                    err(
                        "algorithm.k_min".into(),
                        format!("must be at least 2, got {min}"),
                    );
                }
                if max < min || max > MAX_K {
                    err(
                        "algorithm.k_max".into(),
                        format!("must be between k_min ({min}) and {MAX_K}, got {max}"),
                    );
                }
                KChoice::Auto {
                    min: min.max(2) as usize,
                    max: max.max(2) as usize,
                    rule: match rule {
                        KRuleConfig::Silhouette => KRule::Silhouette,
                        KRuleConfig::Elbow => KRule::Elbow,
                    },
                }
            }
        };
        let mut kmeans = KMeansParams::new(1);
        let mut restarts = |n_init: &NInitConfig| match *n_init {
            NInitConfig::Auto(_) => Restarts::Auto,
            NInitConfig::Fixed(n) => {
                if !(1..=MAX_N_INIT).contains(&n) {
                    err(
                        "algorithm.n_init".into(),
                        format!("must be between 1 and {MAX_N_INIT} or \"auto\", got {n}"),
                    );
                }
                Restarts::Fixed(n.clamp(1, MAX_N_INIT) as usize)
            }
        };
        let (algorithm, k) = match &self.algorithm {
            AlgorithmConfig::Kmeans {
                k,
                k_min,
                k_max,
                k_rule,
                n_init,
                seed,
                init: _,
            } => {
                kmeans = kmeans.restarts(restarts(n_init)).seed(*seed);
                (
                    Algorithm::KMeans,
                    k_choice(k, *k_min, *k_max, *k_rule, &mut err),
                )
            }
            AlgorithmConfig::MinibatchKmeans {
                k,
                k_min,
                k_max,
                k_rule,
                batch_size,
                max_iter,
                seed,
            } => {
                let mut within = |name: &str, value: i64, max: i64| {
                    if !(1..=max).contains(&value) {
                        err(
                            format!("algorithm.{name}"),
                            format!("must be between 1 and {max}, got {value}"),
                        );
                    }
                    value.clamp(1, max) as usize
                };
                let batch_size = within("batch_size", *batch_size, MAX_BATCH_SIZE);
                let max_iter = within("max_iter", *max_iter, MAX_MINIBATCH_ITER);
                kmeans = kmeans.seed(*seed);
                (
                    Algorithm::MiniBatchKMeans {
                        batch_size,
                        max_iter,
                        max_no_improvement: 10,
                    },
                    k_choice(k, *k_min, *k_max, *k_rule, &mut err),
                )
            }
            AlgorithmConfig::Bisecting {
                k,
                k_min,
                k_max,
                k_rule,
                n_init,
                seed,
            } => {
                kmeans = kmeans.restarts(restarts(n_init)).seed(*seed);
                (
                    Algorithm::Bisecting,
                    k_choice(k, *k_min, *k_max, *k_rule, &mut err),
                )
            }
            AlgorithmConfig::Gmm {
                k,
                k_min,
                k_max,
                k_rule,
                seed,
                covariance,
            } => {
                kmeans = kmeans.seed(*seed);
                (
                    Algorithm::Gmm {
                        covariance: match covariance {
                            CovarianceConfig::Full => Covariance::Full,
                            CovarianceConfig::Diag => Covariance::Diag,
                        },
                    },
                    k_choice(k, *k_min, *k_max, *k_rule, &mut err),
                )
            }
            AlgorithmConfig::Ward {
                k,
                k_min,
                k_max,
                k_rule,
            } => (
                Algorithm::Ward,
                k_choice(k, *k_min, *k_max, *k_rule, &mut err),
            ),
            AlgorithmConfig::Dbscan { eps, min_points } => {
                if !(*eps > 0.0 && eps.is_finite()) {
                    err(
                        "algorithm.eps".into(),
                        format!("must be a finite number above 0, got {eps}"),
                    );
                }
                if *min_points < 2 {
                    err(
                        "algorithm.min_points".into(),
                        format!("must be at least 2, got {min_points}"),
                    );
                }
                (
                    Algorithm::Dbscan {
                        eps: *eps,
                        min_points: (*min_points).max(2) as usize,
                    },
                    KChoice::Fixed(1),
                )
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RunParams {
            preprocess: PreprocessParams::new(
                &self.features,
                &self.log1p,
                match self.scaling {
                    ScalingConfig::None => Scaling::None,
                    ScalingConfig::Standard => Scaling::Standard,
                    ScalingConfig::Minmax => Scaling::MinMax,
                    ScalingConfig::Robust => Scaling::Robust,
                },
                match self.missing {
                    MissingConfig::Drop => Missing::Drop,
                    MissingConfig::ImputeMedian => Missing::ImputeMedian,
                },
            )
            .weighted_by(self.weight.clone())
            .with_categories(&self.categorical, self.category_weight),
            k,
            kmeans,
            algorithm,
            reduce: self.pca.map(|p| p as usize),
            chart_sample: Some(crate::segmentation::sample::CHART_SAMPLE),
            sweep_sample: pipeline::SWEEP_SAMPLE_ROWS,
            warm_start: None,
        })
    }
}

fn numeric_names(catalogue: &Catalogue) -> String {
    names_of(catalogue, AttributeKind::Numeric)
}

/// The catalogue's attributes of a kind, quoted, or what to do when there are none.
fn names_of(catalogue: &Catalogue, kind: AttributeKind) -> String {
    let names: Vec<String> = catalogue
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| format!("`{}`", a.name))
        .collect();
    if names.is_empty() {
        "none yet (import customers first)".into()
    } else {
        names.join(", ")
    }
}
