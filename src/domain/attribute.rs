use super::Invalid;
use crate::error::quote;
use serde::{Deserialize, Serialize};

/// An attribute name: lower-case snake_case, starting with a letter, at most 63 characters.
///
/// Derived attributes (added by later features) use a namespace prefix such as `rfm.`; names
/// sent by clients never contain a dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeName(String);

impl AttributeName {
    pub const MAX_LEN: usize = 63;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !first_ok || !rest_ok || raw.len() > Self::MAX_LEN {
            return Err(Invalid(format!(
                "{} is not a valid attribute name: use 1 to {} characters of a-z, 0-9 and _, starting with a letter",
                quote(raw),
                Self::MAX_LEN
            )));
        }
        if raw == "id" {
            return Err(Invalid(
                "`id` is reserved for the customer id and cannot be an attribute".into(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// For names read back from the catalogue, which the database already checked.
    pub(crate) fn from_trusted(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AttributeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttributeKind {
    /// A number (stored as a 64-bit float); usable as a clustering feature.
    Numeric,
    /// A text label such as `Female`; reported with its most frequent values.
    Categorical,
}

impl AttributeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Numeric => "numeric",
            Self::Categorical => "categorical",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "numeric" => Some(Self::Numeric),
            "categorical" => Some(Self::Categorical),
            _ => None,
        }
    }
}

/// A finite number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct NumericValue(f64);

impl NumericValue {
    pub fn new(value: f64) -> Result<Self, Invalid> {
        if value.is_finite() {
            Ok(Self(value))
        } else {
            Err(Invalid(format!("{value} is not a finite number")))
        }
    }

    /// Parses text such as `15`, `-2.5` or `1e3`; surrounding white space is ignored.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let value: f64 = trimmed
            .parse()
            .map_err(|_| Invalid(format!("{} is not a number", quote(raw))))?;
        Self::new(value).map_err(|_| Invalid(format!("{} is not a finite number", quote(raw))))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// One attribute value as written by a client.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Numeric(NumericValue),
    Categorical(String),
    /// Explicitly cleared (JSON `null`, an empty CSV cell).
    Missing,
}

impl AttributeValue {
    /// The kind this value would give a new attribute.
    pub fn kind(&self) -> Option<AttributeKind> {
        match self {
            Self::Numeric(_) => Some(AttributeKind::Numeric),
            Self::Categorical(_) => Some(AttributeKind::Categorical),
            Self::Missing => None,
        }
    }
}

/// An attribute of the catalogue: its name, kind and place in the customer row.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: AttributeName,
    pub kind: AttributeKind,
    /// 1-based position in `numeric_values` or `categorical_values` (by kind).
    pub position: usize,
}

/// The whole catalogue, in creation order.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    attributes: Vec<Attribute>,
}

impl Catalogue {
    /// The catalogue of these attributes (in creation order).
    pub fn new(attributes: Vec<Attribute>) -> Self {
        Self { attributes }
    }

    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name.as_str() == name)
    }

    /// The length an array of this kind needs to hold every attribute.
    pub fn width(&self, kind: AttributeKind) -> usize {
        self.attributes
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| a.position)
            .max()
            .unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Attribute> {
        self.attributes.iter()
    }

    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }
}

/// Cell values read as "no value" (compared case-insensitively, after trimming).
pub const MISSING_TOKENS: &[&str] = &["", "na", "n/a", "null", "nan", "none", "-"];

/// Whether a cell holds no value.
pub fn is_missing(value: &str) -> bool {
    let v = value.trim();
    MISSING_TOKENS.iter().any(|t| v.eq_ignore_ascii_case(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_are_snake_case() {
        assert!(AttributeName::parse("annual_income_k").is_ok());
        assert!(AttributeName::parse("a1").is_ok());
        for bad in ["", "Age", "1st", "_x", "a-b", "a.b", "id", &"a".repeat(64)] {
            assert!(AttributeName::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn numeric_values_are_finite() {
        assert_eq!(NumericValue::parse(" 15 ").unwrap().get(), 15.0);
        assert_eq!(NumericValue::parse("1e3").unwrap().get(), 1000.0);
        assert!(NumericValue::parse("NaN").is_err());
        assert!(NumericValue::parse("inf").is_err());
        assert!(NumericValue::parse("12a").is_err());
        assert!(NumericValue::new(f64::NEG_INFINITY).is_err());
    }
}
