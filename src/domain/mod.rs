//! Validated domain types: values that cannot be constructed invalid.

pub mod activation;
mod attribute;
pub mod audience;
pub mod clv;
mod customer;
pub mod drift;
mod ids;
pub mod key;
pub mod merge_patch;
pub mod order;
pub mod run;
pub mod schedule;
pub mod segmentation;
pub mod session;
pub mod webhook;

pub use attribute::{
    Attribute, AttributeKind, AttributeName, AttributeValue, Catalogue, MISSING_TOKENS,
    NumericValue, is_missing,
};
pub use customer::{ExternalId, Update};
pub use ids::{DeliveryId, RunId, SegmentationId, WebhookId};

/// Why a raw value was refused; the caller adds the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);
