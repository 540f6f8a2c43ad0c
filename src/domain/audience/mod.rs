//! An audience's rule: a tree of `all` / `any` / `not` over conditions on attributes and on a
//! segmentation's active membership, parsed from JSON into these types (the serde errors name
//! the path: `rule.all[2].gte`). What the names refer to is resolved by `service::audiences`.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

mod history;
mod schema;

pub use history::{BoughtProduct, History, Measure, Window};
pub use schema::{AttributeConditionSchema, RuleSchema};

/// Most conditions a rule may hold.
pub const MAX_CONDITIONS: usize = 64;
/// Deepest nesting of `all` / `any` / `not`.
pub const MAX_DEPTH: usize = 8;
/// Most values of an `in` / `not_in` list or segment ids of a segment condition.
pub const MAX_VALUES: usize = 1000;

/// A parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Not(Box<Rule>),
    Attribute(AttributeCondition),
    Segment(SegmentCondition),
    History(History),
}

/// A condition on one attribute of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeCondition {
    pub attribute: String,
    pub test: Test,
}

/// What an attribute condition asks of the value. A customer without a value for the
/// attribute meets none but `is_null: true`.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Eq(f64),
    Lt(f64),
    Lte(f64),
    Gt(f64),
    Gte(f64),
    /// Both ends included.
    Between(f64, f64),
    In(Vec<String>),
    NotIn(Vec<String>),
    IsNull(bool),
}

impl Test {
    /// The operator's key in the rule.
    pub fn key(&self) -> &'static str {
        match self {
            Test::Eq(_) => "eq",
            Test::Lt(_) => "lt",
            Test::Lte(_) => "lte",
            Test::Gt(_) => "gt",
            Test::Gte(_) => "gte",
            Test::Between(..) => "between",
            Test::In(_) => "in",
            Test::NotIn(_) => "not_in",
            Test::IsNull(_) => "is_null",
        }
    }
}

/// Membership of a segmentation's active run, by stable segment id (ids survive retrains).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentCondition {
    /// The segmentation's id.
    pub segmentation: uuid::Uuid,
    /// Stable segment ids; a customer in any of them meets the condition.
    #[serde(rename = "in")]
    #[schema(example = json!([2, 4]))]
    pub segments: Vec<i32>,
}

const OPERATORS: &[&str] = &[
    "eq", "lt", "lte", "gt", "gte", "between", "in", "not_in", "is_null",
];
/// The keys that make a rule object on their own.
const NODES: &str = "`all`, `any`, `not`, `segment`, `ordered_within_days`, `orders`, `spent` \
                     and `bought_product`";
/// Every key a rule object may have.
const KEYS: &[&str] = &[
    "all",
    "any",
    "not",
    "segment",
    "attribute",
    "eq",
    "lt",
    "lte",
    "gt",
    "gte",
    "between",
    "in",
    "not_in",
    "is_null",
];

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RuleVisitor)
    }
}

struct RuleVisitor;

impl<'de> Visitor<'de> for RuleVisitor {
    type Value = Rule;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a rule: {\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}}, {\"segment\": {...}} \
             or {\"attribute\": \"name\", <operator>: value}",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rule, A::Error> {
        let mut node: Option<Rule> = None;
        let mut attribute: Option<String> = None;
        let mut test: Option<Test> = None;
        while let Some(key) = map.next_key::<String>()? {
            let nested = attribute.is_some() || test.is_some();
            match key.as_str() {
                "all"
                | "any"
                | "not"
                | "segment"
                | "ordered_within_days"
                | "orders"
                | "spent"
                | "bought_product" => {
                    if node.is_some() || nested {
                        return refuse(
                            &mut map,
                            format!("`{key}` beside another key: {NODES} stand alone"),
                        );
                    }
                    node = Some(match key.as_str() {
                        "all" => Rule::All(checked(&mut map, rules)?),
                        "any" => Rule::Any(checked(&mut map, rules)?),
                        "not" => Rule::Not(Box::new(map.next_value()?)),
                        "segment" => Rule::Segment(checked(&mut map, segment)?),
                        "ordered_within_days" => Rule::History(History::OrderedWithin {
                            days: checked(&mut map, history::days)?,
                        }),
                        "orders" | "spent" => {
                            let (days, test) = checked(&mut map, history::window)?;
                            let measure = if key == "orders" {
                                Measure::Orders
                            } else {
                                Measure::Spent
                            };
                            Rule::History(History::Measured {
                                measure,
                                days,
                                test,
                            })
                        }
                        _ => {
                            let (product, days) = checked(&mut map, history::bought)?;
                            Rule::History(History::Bought { product, days })
                        }
                    });
                }
                _ if node.is_some() => {
                    return refuse(
                        &mut map,
                        format!("`{key}` beside a rule node: {NODES} stand alone"),
                    );
                }
                "attribute" => {
                    if attribute.is_some() {
                        return refuse(&mut map, "`attribute` given twice".into());
                    }
                    attribute = Some(map.next_value()?);
                }
                op if OPERATORS.contains(&op) => {
                    if let Some(first) = &test {
                        let message =
                            format!("one operator per condition: `{}` and `{op}`", first.key());
                        return refuse(&mut map, message);
                    }
                    test = Some(match op {
                        "eq" => Test::Eq(checked(&mut map, number)?),
                        "lt" => Test::Lt(checked(&mut map, number)?),
                        "lte" => Test::Lte(checked(&mut map, number)?),
                        "gt" => Test::Gt(checked(&mut map, number)?),
                        "gte" => Test::Gte(checked(&mut map, number)?),
                        "between" => {
                            let (low, high) = checked(&mut map, between)?;
                            Test::Between(low, high)
                        }
                        "in" => Test::In(checked(&mut map, values)?),
                        "not_in" => Test::NotIn(checked(&mut map, values)?),
                        _ => Test::IsNull(map.next_value()?),
                    });
                }
                other => {
                    let message = format!(
                        "unknown key `{other}`: a rule object takes {}",
                        KEYS.iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    return refuse(&mut map, message);
                }
            }
        }
        if let Some(node) = node {
            return Ok(node);
        }
        match (attribute, test) {
            (Some(attribute), Some(test)) => {
                Ok(Rule::Attribute(AttributeCondition { attribute, test }))
            }
            (Some(_), None) => Err(de::Error::custom(format!(
                "an attribute condition needs an operator: one of {}",
                OPERATORS.join(", ")
            ))),
            (None, Some(test)) => Err(de::Error::custom(format!(
                "`{}` needs the `attribute` it tests",
                test.key()
            ))),
            (None, None) => Err(de::Error::custom(
                "an empty rule: give `all`, `any`, `not`, `segment` or an attribute condition",
            )),
        }
    }
}

/// Fails on the value of the key just read, so that the error's path ends with that key.
fn refuse<'de, A: MapAccess<'de>, T>(map: &mut A, message: String) -> Result<T, A::Error> {
    struct Refuse(String);
    impl<'de> DeserializeSeed<'de> for Refuse {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
            Err(de::Error::custom(self.0))
        }
    }
    map.next_value_seed(Refuse(message))?;
    unreachable!("Refuse always fails")
}

/// Reads the value of the key just read as a `T` and checks it, so that a refusal's path ends
/// with that key.
fn checked<'de, A: MapAccess<'de>, T: Deserialize<'de>, U>(
    map: &mut A,
    check: fn(T) -> Result<U, String>,
) -> Result<U, A::Error> {
    struct Checked<T, U>(fn(T) -> Result<U, String>);
    impl<'de, T: Deserialize<'de>, U> DeserializeSeed<'de> for Checked<T, U> {
        type Value = U;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<U, D::Error> {
            (self.0)(T::deserialize(d)?).map_err(de::Error::custom)
        }
    }
    map.next_value_seed(Checked(check))
}

fn rules(rules: Vec<Rule>) -> Result<Vec<Rule>, String> {
    if rules.is_empty() {
        return Err("an empty list: give at least one rule".into());
    }
    Ok(rules)
}

fn number(x: f64) -> Result<f64, String> {
    if !x.is_finite() {
        return Err("a finite number".into());
    }
    Ok(x)
}

fn between([low, high]: [f64; 2]) -> Result<(f64, f64), String> {
    let (low, high) = (number(low)?, number(high)?);
    if low > high {
        return Err(format!("`between` runs from low to high: {low} > {high}"));
    }
    Ok((low, high))
}

fn values(values: Vec<String>) -> Result<Vec<String>, String> {
    if values.is_empty() || values.len() > MAX_VALUES {
        return Err(format!("from 1 to {MAX_VALUES} values"));
    }
    if values.iter().any(|v| v.contains('\0')) {
        return Err("a value holds a NUL character".into());
    }
    Ok(values)
}

fn segment(condition: SegmentCondition) -> Result<SegmentCondition, String> {
    if condition.segments.is_empty() || condition.segments.len() > MAX_VALUES {
        return Err(format!("`in` holds from 1 to {MAX_VALUES} segment ids"));
    }
    Ok(condition)
}

impl Rule {
    /// The conditions it holds and its depth (a condition alone: 0).
    pub fn size(&self) -> (usize, usize) {
        match self {
            Rule::All(rules) | Rule::Any(rules) => rules.iter().fold((0, 1), |(n, d), r| {
                let (rn, rd) = r.size();
                (n + rn, d.max(rd + 1))
            }),
            Rule::Not(rule) => {
                let (n, d) = rule.size();
                (n, d + 1)
            }
            Rule::Attribute(_) | Rule::Segment(_) | Rule::History(_) => (1, 0),
        }
    }
}

/// Where a resolved condition reads its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// A numeric attribute: its name (predicted figures are read from their own table) and
    /// position.
    Numeric {
        name: String,
        position: usize,
    },
    Categorical {
        position: usize,
    },
}

/// A rule resolved against the catalogue and the active runs: what the SQL tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    All(Vec<Resolved>),
    Any(Vec<Resolved>),
    Not(Box<Resolved>),
    Test {
        column: Column,
        test: Test,
    },
    /// Assigned, in the run, to one of these stable segment ids.
    Segment {
        run_id: uuid::Uuid,
        segments: Vec<i32>,
    },
    History(History),
}

impl Resolved {
    /// Whether it reads a predicted figure (`clv_*`).
    pub fn reads(&self, wanted: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Resolved::All(rules) | Resolved::Any(rules) => rules.iter().any(|r| r.reads(wanted)),
            Resolved::Not(rule) => rule.reads(wanted),
            Resolved::Test {
                column: Column::Numeric { name, .. },
                ..
            } => wanted(name),
            Resolved::Test { .. } | Resolved::Segment { .. } | Resolved::History(_) => false,
        }
    }

    /// Whether it reads the order history.
    pub fn reads_history(&self) -> bool {
        match self {
            Resolved::All(rules) | Resolved::Any(rules) => {
                rules.iter().any(Resolved::reads_history)
            }
            Resolved::Not(rule) => rule.reads_history(),
            Resolved::History(_) => true,
            Resolved::Test { .. } | Resolved::Segment { .. } => false,
        }
    }
}
