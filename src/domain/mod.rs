//! Validated domain types: values that cannot be constructed invalid.

mod attribute;
mod customer;
pub mod order;
pub mod run;
pub mod segmentation;

pub use attribute::{AttributeKind, AttributeName, AttributeValue, NumericValue};
pub use customer::ExternalId;

/// Why a raw value was refused; the caller adds the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);
