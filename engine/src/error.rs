/// Why the engine refused its input. Every rule of the parameters and the data has its own
/// variant; none of them panics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("no features selected: name at least one numeric feature")]
    NoFeatures,
    #[error("unknown feature `{name}`; the data has {available}")]
    UnknownFeature { name: String, available: String },
    #[error("feature `{feature}` is listed twice")]
    DuplicateFeature { feature: String },
    #[error("row `{row}`: feature `{feature}` is {value}, not a finite number")]
    NonFinite {
        row: String,
        feature: String,
        value: f64,
    },
    #[error("row `{row}`: log1p of feature `{feature}` needs values above -1, got {value}")]
    LogDomain {
        row: String,
        feature: String,
        value: f64,
    },
    #[error(
        "row `{row}`: feature `{feature}` is {value:e}, too far from the others to cluster with \
         `{scaling}` scaling (distances would overflow); use `standard` or `robust` scaling, or \
         correct the value"
    )]
    OutOfRange {
        row: String,
        feature: String,
        value: f64,
        scaling: &'static str,
    },
    #[error("unknown categorical feature `{name}`; the data has {available}")]
    UnknownCategory { name: String, available: String },
    #[error("`{feature}` has no level `{value}` in this run's training data; it knows {known}")]
    UnseenCategory {
        feature: String,
        value: String,
        known: String,
    },
    #[error(
        "categorical feature `{feature}` has {levels} levels; at most {max} can be one-hot encoded"
    )]
    TooManyLevels {
        feature: String,
        levels: usize,
        max: usize,
    },
    #[error("unknown weight column `{name}`; the data has {available}")]
    UnknownWeight { name: String, available: String },
    #[error("row `{row}`: weight `{weight}` is {value}; weights must be finite and >= 0")]
    InvalidWeight {
        row: String,
        weight: String,
        value: f64,
    },
    #[error("weight `{weight}` is 0 for all {rows} rows to cluster: nothing would pull a centroid")]
    ZeroWeights { weight: String, rows: usize },
    #[error("no rows to cluster{reason}")]
    Empty { reason: String },
    #[error("k must be at least 1, got {k}")]
    KTooSmall { k: usize },
    #[error("k = {k} is more than the {rows} rows to cluster")]
    KTooLarge { k: usize, rows: usize },
    #[error("k = {k} but the data has only {distinct} distinct point(s)")]
    TooFewDistinctPoints { k: usize, distinct: usize },
    #[error("invalid k range {min}..={max}: need 2 <= min <= max")]
    InvalidKRange { min: usize, max: usize },
    #[error("{name} must be {rule}, got {value}")]
    InvalidParameter {
        name: &'static str,
        rule: &'static str,
        value: String,
    },
    #[error(transparent)]
    Linfa(#[from] LinfaError),
}

impl EngineError {
    /// The row (customer) the error is about, when it names one.
    pub fn row(&self) -> Option<&str> {
        match self {
            Self::NonFinite { row, .. }
            | Self::LogDomain { row, .. }
            | Self::OutOfRange { row, .. }
            | Self::InvalidWeight { row, .. } => Some(row),
            _ => None,
        }
    }

    /// A parameter outside its rule: `name` must be `rule`, got `value`.
    pub fn invalid(name: &'static str, rule: &'static str, value: impl ToString) -> Self {
        Self::InvalidParameter {
            name,
            rule,
            value: value.to_string(),
        }
    }
}

/// linfa's error, kept as text so [`EngineError`] stays `Clone + PartialEq`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct LinfaError(pub String);

impl From<linfa::Error> for EngineError {
    fn from(e: linfa::Error) -> Self {
        Self::Linfa(LinfaError(e.to_string()))
    }
}

/// The rules every algorithm with a k shares: k >= 1, some rows, k <= rows.
pub fn check_k(k: usize, rows: usize) -> Result<(), EngineError> {
    if k == 0 {
        return Err(EngineError::KTooSmall { k: 0 });
    }
    if rows == 0 {
        return Err(EngineError::Empty {
            reason: String::new(),
        });
    }
    if k > rows {
        return Err(EngineError::KTooLarge { k, rows });
    }
    Ok(())
}
