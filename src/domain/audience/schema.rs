//! The rule as OpenAPI documents it, for generated clients: the parser is
//! [`super::Rule`]'s own.

use super::SegmentCondition;
use super::history::{BoughtProduct, Window};
use serde::Serialize;
use utoipa::ToSchema;

/// An audience's rule: one of these objects, nested.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AudienceRule)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RuleSchema {
    /// Every rule holds.
    All {
        #[schema(no_recursion)]
        all: Vec<RuleSchema>,
    },
    /// At least one rule holds.
    Any {
        #[schema(no_recursion)]
        any: Vec<RuleSchema>,
    },
    /// The rule does not hold.
    Not {
        #[schema(no_recursion)]
        not: Box<RuleSchema>,
    },
    /// Membership of a segmentation's active run.
    Segment { segment: SegmentCondition },
    /// A counted order line in the last days (the window ends at the latest counted line).
    OrderedWithin {
        #[schema(minimum = 1, maximum = 36500, example = 30)]
        ordered_within_days: u32,
    },
    /// The customer's distinct orders in a window, tested (0 without any).
    Orders { orders: Window },
    /// The customer's total spend in a window, tested (0 without any).
    Spent { spent: Window },
    /// A counted line of the product in a window (ever without one).
    Bought { bought_product: BoughtProduct },
    /// A condition on an attribute: `attribute` and exactly one operator.
    Attribute(AttributeConditionSchema),
}

/// `{"attribute": "annual_income_k", "gte": 70}`: the attribute and exactly one operator.
/// Numeric attributes take `eq`, `lt`, `lte`, `gt`, `gte`, `between`; categorical ones `in`,
/// `not_in`; either `is_null`. A customer without a value meets only `is_null: true`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AttributeConditionSchema {
    #[schema(example = "annual_income_k")]
    pub attribute: String,
    pub eq: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    /// `[low, high]`, both included.
    #[schema(min_items = 2, max_items = 2)]
    pub between: Option<Vec<f64>>,
    #[serde(rename = "in")]
    pub in_: Option<Vec<String>>,
    pub not_in: Option<Vec<String>>,
    pub is_null: Option<bool>,
}
