//! Feature matrix and preprocessing: selection by name, per-feature `log1p`, scaling
//! (`standard` z-scores with the population std like scikit-learn's `StandardScaler`,
//! `minmax`, `robust` median/IQR), and rows with missing values dropped (counted) or imputed
//! with the median. The fitted [`Preprocessor`] is part of the model: scoring applies exactly
//! what training applied.

use super::EngineError;
use super::categorical::{self, Encoded, Encoding};
pub use super::columns::{Columns, Ids};
use ndarray::{Array2, Axis, CowArray, Ix2};
use serde::{Deserialize, Serialize};

mod params;
pub use params::{Feature, Missing, PreprocessParams, Scaling, Transform};

/// The fitted preprocessing: `z = (transform(x) - center) / scale`, per feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub features: Vec<Feature>,
    pub scaling: Scaling,
    pub center: Vec<f64>,
    pub scale: Vec<f64>,
    /// Medians used to impute missing values (when imputing).
    pub impute: Option<Vec<f64>>,
    /// The categorical features' one-hot encodings, in model-space order after the numeric
    /// features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Encoding>,
}

impl Preprocessor {
    /// Model space from original units.
    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(j, &x)| {
                (forward(self.features[j].transform, x) - self.center[j]) / self.scale[j]
            })
            .collect()
    }

    /// Original units from model space (exact inverse of [`Self::apply`]; one-hot columns
    /// after the numeric features are left out).
    pub fn invert(&self, z: &[f64]) -> Vec<f64> {
        z.iter()
            .take(self.features.len())
            .enumerate()
            .map(|(j, &z)| {
                inverse(
                    self.features[j].transform,
                    z * self.scale[j] + self.center[j],
                )
            })
            .collect()
    }
}

pub(crate) fn forward(t: Transform, x: f64) -> f64 {
    match t {
        Transform::None => x,
        Transform::Log1p => x.ln_1p(),
    }
}

fn inverse(t: Transform, y: f64) -> f64 {
    match t {
        Transform::None => y,
        Transform::Log1p => y.exp_m1(),
    }
}

/// The matrices a clustering run works on.
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    /// Model space: transformed and scaled, rows × features (row-major), when held
    /// ([`Hold::Matrix`]); [`crate::space::Space::of`] reads it either way.
    pub matrix: Option<Array2<f64>>,
    /// The same rows in original units (imputed values included): a view of the columns
    /// when they are those rows and features as they are (no copy), else a copy.
    pub original: CowArray<'a, f64, Ix2>,
    /// Index into the input rows of each matrix row.
    pub kept: Vec<usize>,
    /// Rows left out for a missing value.
    pub dropped: usize,
    /// Values filled in with the median.
    pub imputed: usize,
    /// Each kept row's sample weight (when weighted).
    pub weights: Option<Vec<f64>>,
    /// The categorical features: encodings and each kept row's level.
    pub categories: Vec<Encoded>,
    pub preprocessor: Preprocessor,
}

/// The largest magnitude a feature may have once transformed and scaled: squared and summed
/// over features, distances stay finite.
pub const MAX_MODEL_VALUE: f64 = 1e150;

/// Whether a model-space value is within [`MAX_MODEL_VALUE`] (`NaN` is not).
pub fn in_range(z: f64) -> bool {
    z.abs() <= MAX_MODEL_VALUE
}

/// Whether [`prepare_with`] builds the model-space matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Every row in model space, held (the algorithms that need them all at once).
    Matrix,
    /// Only the columns in original units: model-space rows are computed when read
    /// (mini-batch K-Means, which reads a batch at a time).
    Columns,
}

/// [`prepare_with`] holding the matrix.
pub fn prepare<'a>(
    columns: &'a Columns,
    params: &PreprocessParams,
) -> Result<Prepared<'a>, EngineError> {
    prepare_with(columns, params, Hold::Matrix)
}

/// Selects, checks, imputes and fits the scaling of the features of `params`.
pub fn prepare_with<'a>(
    columns: &'a Columns,
    params: &PreprocessParams,
    hold: Hold,
) -> Result<Prepared<'a>, EngineError> {
    if params.features.is_empty() {
        return Err(EngineError::NoFeatures);
    }
    let mut indexes = Vec::with_capacity(params.features.len());
    for (i, f) in params.features.iter().enumerate() {
        if params.features[..i].iter().any(|g| g.name == f.name) {
            return Err(EngineError::DuplicateFeature {
                feature: f.name.clone(),
            });
        }
        indexes.push(columns.index(&f.name)?);
    }
    let d = indexes.len();
    let n = columns.rows();
    let weight = params
        .weight
        .as_deref()
        .map(|name| {
            columns.index(name).map_err(|e| match e {
                EngineError::UnknownFeature { name, available } => {
                    EngineError::UnknownWeight { name, available }
                }
                other => other,
            })
        })
        .transpose()?;
    if let (Some(c), Some(name)) = (weight, &params.weight) {
        for (r, &v) in columns.column(c).iter().enumerate() {
            if v.is_infinite() || v < 0.0 {
                return Err(EngineError::InvalidWeight {
                    row: columns.row_ids[r].to_owned(),
                    weight: name.clone(),
                    value: v,
                });
            }
        }
    }
    let categories = categorical::columns(
        columns,
        &params.categorical,
        &params.names(),
        params.category_weight,
    )?;
    let has_weight = |r: usize| {
        weight.is_none_or(|c| columns.get(c, r).is_some())
            && (params.missing == Missing::ImputeMedian
                || categories.iter().all(|c| c.codes[r].is_some()))
    };

    // Infinite values are errors, wherever they are (`NaN` is a missing value).
    let mut complete = true;
    for (j, &c) in indexes.iter().enumerate() {
        for (r, &v) in columns.column(c).iter().enumerate() {
            if v.is_nan() {
                complete = false;
                continue;
            }
            if v.is_infinite() {
                return Err(EngineError::NonFinite {
                    row: columns.row_ids[r].to_owned(),
                    feature: params.features[j].name.clone(),
                    value: v,
                });
            }
            if params.features[j].transform == Transform::Log1p && v <= -1.0 {
                return Err(EngineError::LogDomain {
                    row: columns.row_ids[r].to_owned(),
                    feature: params.features[j].name.clone(),
                    value: v,
                });
            }
        }
    }

    let (kept, impute): (Vec<usize>, Option<Vec<f64>>) = match params.missing {
        Missing::Drop => (
            (0..n)
                .filter(|&r| has_weight(r) && indexes.iter().all(|&c| columns.get(c, r).is_some()))
                .collect(),
            None,
        ),
        Missing::ImputeMedian => {
            let medians = indexes
                .iter()
                .map(|&c| {
                    let mut present: Vec<f64> = columns.present(c).collect();
                    quantile_in_place(&mut present, 0.5)
                })
                .collect::<Vec<_>>();
            ((0..n).filter(|&r| has_weight(r)).collect(), Some(medians))
        }
    };
    if kept.is_empty() {
        return Err(EngineError::Empty {
            reason: if n == 0 {
                String::new()
            } else {
                format!(
                    ": all {n} rows miss at least one selected feature{}",
                    params
                        .weight
                        .as_ref()
                        .map_or(String::new(), |w| format!(" or the weight `{w}`"))
                )
            },
        });
    }
    let weights = weight.map(|c| {
        kept.iter()
            .map(|&r| columns.get(c, r).expect("kept rows have a weight"))
            .collect::<Vec<f64>>()
    });
    if let (Some(w), Some(name)) = (&weights, &params.weight)
        && w.iter().all(|&v| v == 0.0)
    {
        return Err(EngineError::ZeroWeights {
            weight: name.clone(),
            rows: w.len(),
        });
    }
    let mut imputed = 0;
    // The columns themselves when they hold exactly these rows and features, in order.
    let original: CowArray<'a, f64, Ix2> =
        if complete && kept.len() == n && indexes.iter().enumerate().all(|(j, &c)| j == c) {
            columns.leading(d).into()
        } else {
            let mut original = Array2::<f64>::zeros((kept.len(), d));
            for (i, &r) in kept.iter().enumerate() {
                for (j, &c) in indexes.iter().enumerate() {
                    original[[i, j]] = match columns.get(c, r) {
                        Some(v) => v,
                        None => {
                            imputed += 1;
                            impute.as_ref().map_or(f64::NAN, |m| m[j])
                        }
                    };
                }
            }
            original.into()
        };
    let (encoded, imputed_levels) =
        categorical::encode(&categories, &kept, params.category_weight)?;
    imputed += imputed_levels;
    let (center, scale): (Vec<f64>, Vec<f64>) = params
        .features
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let values = original.column(j);
            let values = values.iter().map(|&x| forward(f.transform, x));
            let (center, scale) = match params.scaling {
                Scaling::None => (0.0, 1.0),
                Scaling::Standard => super::moments::mean_std(values),
                Scaling::MinMax => {
                    let (min, max) = values
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                            (lo.min(x), hi.max(x))
                        });
                    (min, max - min)
                }
                Scaling::Robust => {
                    let mut v: Vec<f64> = values.collect();
                    let q1 = quantile_in_place(&mut v, 0.25);
                    let median = quantile_in_place(&mut v, 0.5);
                    let q3 = quantile_in_place(&mut v, 0.75);
                    (median, q3 - q1)
                }
            };
            // A constant feature is centred but not scaled (as scikit-learn does).
            (
                center,
                if scale > 0.0 && scale.is_finite() {
                    scale
                } else {
                    1.0
                },
            )
        })
        .unzip();
    for (j, f) in params.features.iter().enumerate() {
        // Distances square and sum these: beyond this, they would overflow.
        let out = original.column(j).iter().position(|&x| {
            ((forward(f.transform, x) - center[j]) / scale[j]).abs() > MAX_MODEL_VALUE
        });
        if let Some(at) = out {
            return Err(EngineError::OutOfRange {
                row: columns.row_ids[kept[at]].to_owned(),
                feature: f.name.clone(),
                value: original[[at, j]],
                scaling: params.scaling.name(),
            });
        }
    }
    // Model space, row-major, whatever the layout of `original`; or nothing, when the run
    // computes its rows block by block ([`crate::space::Space::of`]).
    let matrix = (hold == Hold::Matrix).then(|| {
        let mut matrix = Array2::<f64>::zeros((kept.len(), d));
        matrix.assign(&original);
        for (j, f) in params.features.iter().enumerate() {
            let (c, s) = (center[j], scale[j]);
            matrix
                .column_mut(j)
                .mapv_inplace(|x| (forward(f.transform, x) - c) / s);
        }
        if encoded.is_empty() {
            matrix
        } else {
            let one_hot = categorical::one_hot(&encoded, kept.len());
            ndarray::concatenate(Axis(1), &[matrix.view(), one_hot.view()]).expect("the same rows")
        }
    });
    Ok(Prepared {
        matrix,
        original,
        dropped: n - kept.len(),
        kept,
        imputed,
        weights,
        preprocessor: Preprocessor {
            features: params.features.clone(),
            scaling: params.scaling,
            center,
            scale,
            impute,
            categories: encoded.iter().map(|e| e.encoding.clone()).collect(),
        },
        categories: encoded,
    })
}

/// Linear-interpolation quantile (numpy's default), sorting `values`.
pub fn quantile_in_place(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    let pos = q * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests;
