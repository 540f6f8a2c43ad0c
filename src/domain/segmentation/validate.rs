//! A configuration checked against the attribute catalogue: every field at fault named, and
//! the engine's parameters.

use super::*;
use crate::segmentation::kmeans::KMeansParams;
use crate::segmentation::pipeline::{self, RunParams};
use crate::segmentation::preprocess::{Missing, PreprocessParams, Scaling};

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
        // The algorithm's own check, its problems named under `algorithm.`.
        let mut kmeans = KMeansParams::new(1);
        let checked = self.algorithm.check(&mut kmeans).map_err(|problems| {
            for (field, message) in problems.into_inner() {
                err(format!("algorithm.{field}"), message);
            }
        });
        if let (Some(_), Ok(checked)) = (&self.weight, &checked)
            && !checked.algorithm.takes_weights()
        {
            err(
                "weight".into(),
                format!(
                    "a weight works with the kmeans algorithm only; this segmentation uses {}",
                    self.algorithm.name()
                ),
            );
        }
        let checked = match checked {
            Ok(checked) if errors.is_empty() => checked,
            _ => return Err(errors),
        };
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
            k: checked.k,
            kmeans,
            algorithm: checked.algorithm,
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
