//! Scoring customers with a segmentation's active model, writing nothing: numeric features as
//! numbers (missing ones imputed as training did), categorical features as their levels (a
//! level training never saw is a 422 naming the customer's field and the levels it knows).

use crate::domain::run::{Run, Segment};
use crate::domain::{RunId, SegmentationId};
use crate::error::{Error, FieldError, Result};
use crate::segmentation::model::Model;
use crate::store::Pool;
use crate::store::models;
use crate::store::runs;
use crate::store::segmentations;
use crate::store::segments as store_segments;
use ndarray::Array2;

pub const MAX_SCORE_BATCH: usize = 10_000;

/// An attribute value given for scoring.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreValue {
    Missing,
    Number(f64),
    /// A string: a categorical feature's level.
    Text(String),
    /// Neither (its JSON text); an error only for a feature the model uses.
    Other(String),
}

impl ScoreValue {
    /// The value as JSON text, for messages.
    fn shown(&self) -> String {
        match self {
            Self::Missing => "null".into(),
            Self::Number(v) => v.to_string(),
            Self::Text(t) => serde_json::Value::String(t.clone()).to_string(),
            Self::Other(json) => json.clone(),
        }
    }
}

/// One customer to score: attribute values by name.
pub struct ScoreInput {
    pub id: Option<String>,
    pub values: Vec<(String, ScoreValue)>,
}

impl ScoreInput {
    fn value(&self, name: &str) -> &ScoreValue {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&ScoreValue::Missing, |v| &v.1)
    }
}

/// A scored customer: its segment (stable id; `None`: noise) and distance or probability.
pub struct ScoreResult {
    pub id: Option<String>,
    pub segment: Option<Segment>,
    pub score: Option<f64>,
}

/// Scores customers with the active run's model, writing nothing.
#[tracing::instrument(skip(pool, inputs), fields(%segmentation_id, customers = inputs.len()))]
pub async fn score(
    pool: &Pool,
    segmentation_id: SegmentationId,
    inputs: Vec<ScoreInput>,
) -> Result<(Run, Vec<ScoreResult>)> {
    if inputs.is_empty() || inputs.len() > MAX_SCORE_BATCH {
        return Err(Error::invalid(
            "customers",
            format!(
                "give 1 to {MAX_SCORE_BATCH} customers, got {}",
                inputs.len()
            ),
        ));
    }
    let id = segmentation_id.uuid();
    let segmentation = segmentations::find(pool, id)
        .await?
        .ok_or_else(|| segmentation_id.not_found())?;
    let active = segmentation.active_run_id.ok_or_else(|| {
        Error::Conflict(format!(
            "segmentation {id} has no active run yet; trigger a run first"
        ))
    })?;
    let run = runs::find(pool, active)
        .await?
        .ok_or_else(|| RunId::from(active).not_found())?;
    let model: Model = models::model(pool, active)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("run {active} has no model")))?;
    let segments = store_segments::segments(pool, active).await?;
    let (matrix, levels) = rows(&model, &inputs)?;
    let scored = tokio::task::spawn_blocking(move || model.score_mixed(matrix.view(), &levels))
        .await
        .map_err(|e| Error::Internal(e.into()))?
        .map_err(|e| Error::Internal(e.into()))?;
    let results = inputs
        .into_iter()
        .zip(scored)
        .map(|(input, s)| ScoreResult {
            id: input.id,
            segment: s.segment.and_then(|k| segments.get(k).cloned()),
            score: Some(s.score).filter(|v| v.is_finite()),
        })
        .collect();
    Ok((run, results))
}

/// The customers' numeric features (original units, missing ones imputed as training did)
/// and categorical levels, or a field error for every value the model cannot take.
fn rows(model: &Model, inputs: &[ScoreInput]) -> Result<(Array2<f64>, Vec<Vec<String>>)> {
    let features: Vec<String> = model.feature_names().map(str::to_owned).collect();
    let encodings = &model.preprocessor.categories;
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(inputs.len() * features.len());
    let mut levels = Vec::with_capacity(if encodings.is_empty() {
        0
    } else {
        inputs.len()
    });
    for (i, input) in inputs.iter().enumerate() {
        let field = |f: &str| format!("customers[{i}].attributes.{f}");
        let mut values: Vec<Option<f64>> = Vec::with_capacity(features.len());
        for f in &features {
            match input.value(f) {
                ScoreValue::Number(v) => values.push(Some(*v)),
                ScoreValue::Missing => values.push(None),
                other => {
                    errors.push(FieldError::field(
                        field(f),
                        format!("{} is not a number", other.shown()),
                    ));
                    values.push(Some(0.0));
                }
            }
        }
        match model.complete(&values) {
            Some(row) => rows.extend(row),
            None => {
                for (f, v) in features.iter().zip(&values) {
                    if v.is_none() {
                        errors.push(FieldError::field(
                            field(f),
                            format!(
                                "missing; the model needs every feature ({}) as a number",
                                features.join(", ")
                            ),
                        ));
                    }
                }
                rows.extend(std::iter::repeat_n(0.0, features.len()));
            }
        }
        if encodings.is_empty() {
            continue;
        }
        let mut row = Vec::with_capacity(encodings.len());
        for e in encodings {
            match input.value(&e.name) {
                ScoreValue::Text(level) if e.levels.binary_search(level).is_ok() => {
                    row.push(level.clone());
                }
                ScoreValue::Text(level) => errors.push(FieldError::field(
                    field(&e.name),
                    format!(
                        "`{level}` is not a level this run was trained on; it knows {}",
                        e.levels.join(", ")
                    ),
                )),
                ScoreValue::Missing => errors.push(FieldError::field(
                    field(&e.name),
                    format!(
                        "missing; `{}` is categorical: give its level ({})",
                        e.name,
                        e.levels.join(", ")
                    ),
                )),
                other => errors.push(FieldError::field(
                    field(&e.name),
                    format!(
                        "{} is not a level; `{}` is categorical: give its level as a string",
                        other.shown(),
                        e.name
                    ),
                )),
            }
        }
        levels.push(row);
    }
    if !errors.is_empty() {
        return Err(Error::invalid_fields(errors));
    }
    let matrix = Array2::from_shape_vec((inputs.len(), features.len()), rows)
        .map_err(|e| Error::Internal(e.into()))?;
    let far = model.out_of_range(matrix.view());
    if !far.is_empty() {
        return Err(Error::invalid_fields(
            far.into_iter()
                .map(|(i, j)| {
                    FieldError::field(
                        format!("customers[{i}].attributes.{}", features[j]),
                        format!(
                            "{:e} is too far from the data the model was trained on to score",
                            matrix[[i, j]]
                        ),
                    )
                })
                .collect(),
        ));
    }
    Ok((matrix, levels))
}
