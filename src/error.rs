//! The one error type that crosses the HTTP boundary. Store and parser errors convert into it;
//! `http::problem` renders it as RFC 9457 problem+json.

/// One problem with one part of the input.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where: a JSON path (`customers[3].attributes.age`), a query parameter or a CSV column.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "customers[0].attributes.age")]
    pub field: Option<String>,
    /// The CSV line (1-based, the header is line 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[schema(example = "`abc` is not a number")]
    pub message: String,
}

impl FieldError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            line: None,
            message: message.into(),
        }
    }

    /// A value given more than once: `what` appears at these source lines.
    pub fn repeated(field: &str, what: String, lines: &[i64]) -> Self {
        let at: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        Self {
            field: Some(field.to_owned()),
            line: lines.first().map(|&l| l as u64),
            message: format!("{what} appears more than once (at {})", at.join(", ")),
        }
    }

    pub fn line(line: u64, field: Option<String>, message: impl Into<String>) -> Self {
        Self {
            field,
            line: Some(line),
            message: message.into(),
        }
    }
}

/// Reported at most this many individual errors per response.
impl std::fmt::Display for FieldError {
    /// `field: message` (the field may be absent).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

pub const MAX_REPORTED_ERRORS: usize = 100;

/// Bytes of a client's value an error message repeats.
pub const MAX_QUOTED_BYTES: usize = 100;

/// A client's value as an error message quotes it: in backticks, cut to
/// [`MAX_QUOTED_BYTES`] (at a character boundary) with `…` when longer. Error bodies never
/// echo unbounded input.
pub fn quote(value: &str) -> String {
    if value.len() <= MAX_QUOTED_BYTES {
        return format!("`{value}`");
    }
    let mut end = MAX_QUOTED_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("`{}…` ({} bytes)", &value[..end], value.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_are_cut_at_a_character_boundary() {
        assert_eq!(super::quote("abc"), "`abc`");
        let long = "é".repeat(80);
        let quoted = super::quote(&long);
        assert!(quoted.len() < 120, "{quoted}");
        assert!(quoted.ends_with("…` (160 bytes)"), "{quoted}");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Well-formed input whose content is refused (422).
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Input that cannot be read at all: broken JSON, not UTF-8 (400).
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    MethodNotAllowed { detail: String, allow: Vec<String> },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No representation the client accepts (406).
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    Conflict(String),
    /// A run of the segmentation is queued or running already.
    #[error("{detail}")]
    RunPending { detail: String, run_id: uuid::Uuid },
    /// The resource existed and was removed on purpose (retention).
    #[error("{0}")]
    Gone(String),
    /// The database cannot be reached; the client may retry (503).
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else; details go to the log, never to the client (500).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A 422 about one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self::Validation {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::field(field, message)],
        }
    }

    /// A 422 listing several problems (at most [`MAX_REPORTED_ERRORS`] are kept).
    /// Several invalid fields; the detail names the first.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = errors.first().map(|e| e.to_string()).unwrap_or_default();
        Self::invalid_many(detail, errors)
    }

    pub fn invalid_many(detail: impl Into<String>, mut errors: Vec<FieldError>) -> Self {
        errors.truncate(MAX_REPORTED_ERRORS);
        Self::Validation {
            detail: detail.into(),
            errors,
        }
    }
}
