//! Audiences as their steps: a rule checked for size → its names resolved against the
//! catalogue and the segmentations' active runs (a 422 names the path of what does not
//! resolve) → one set-based SQL statement counts and samples its members.

use crate::domain::audience::{
    Column, MAX_CONDITIONS, MAX_DEPTH, Resolved, Rule, SegmentCondition, Test,
};
use crate::domain::{AttributeKind, Catalogue};
use crate::error::{Error, Result};
use crate::store::{self, Pool};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// Members a preview lists.
pub const SAMPLE: i64 = 20;

/// A segmentation's active run and its stable segment ids.
struct ActiveRun {
    run_id: Uuid,
    segments: BTreeSet<i32>,
}

/// What a preview answers.
pub struct Preview {
    pub counts: store::audiences::Preview,
    /// The run the breakdown is by.
    pub breakdown_run: Option<Uuid>,
}

/// Counts the customers `rule` selects, lists the first [`SAMPLE`] by id and, given a
/// segmentation, breaks them down by the segments of its active run.
pub async fn preview(pool: &Pool, rule: &Rule, breakdown_by: Option<Uuid>) -> Result<Preview> {
    let resolved = resolve(pool, rule).await?;
    let breakdown_run = match breakdown_by {
        None => None,
        Some(id) => Some(active_run(pool, id, "breakdown_by").await?.run_id),
    };
    let counts = store::audiences::preview(pool, &resolved, SAMPLE, breakdown_run).await?;
    Ok(Preview {
        counts,
        breakdown_run,
    })
}

/// The rule, bounded, with its attributes and segmentations resolved.
pub async fn resolve(pool: &Pool, rule: &Rule) -> Result<Resolved> {
    let (conditions, depth) = rule.size();
    if conditions > MAX_CONDITIONS || depth > MAX_DEPTH {
        return Err(Error::invalid(
            "rule",
            format!(
                "{conditions} conditions nested {depth} deep: a rule holds at most \
                 {MAX_CONDITIONS} conditions, nested at most {MAX_DEPTH} deep"
            ),
        ));
    }
    let catalogue = store::attributes::load(pool).await?;
    let mut segmentations = Vec::new();
    segmentations_of(rule, "rule", &mut segmentations);
    let mut runs = HashMap::new();
    for (id, path) in segmentations {
        if let Entry::Vacant(slot) = runs.entry(id) {
            slot.insert(active_run(pool, id, &format!("{path}.segmentation")).await?);
        }
    }
    resolved(rule, "rule", &catalogue, &runs)
}

/// The segmentations a rule names, with the path of each condition.
fn segmentations_of(rule: &Rule, path: &str, out: &mut Vec<(Uuid, String)>) {
    match rule {
        Rule::All(rules) | Rule::Any(rules) => {
            let key = if matches!(rule, Rule::All(_)) {
                "all"
            } else {
                "any"
            };
            for (i, r) in rules.iter().enumerate() {
                segmentations_of(r, &format!("{path}.{key}[{i}]"), out);
            }
        }
        Rule::Not(r) => segmentations_of(r, &format!("{path}.not"), out),
        Rule::Segment(SegmentCondition { segmentation, .. }) => {
            out.push((*segmentation, format!("{path}.segment")))
        }
        Rule::Attribute(_) | Rule::History(_) => {}
    }
}

/// The active run of segmentation `id`, or a 422 naming `field`.
async fn active_run(pool: &Pool, id: Uuid, field: &str) -> Result<ActiveRun> {
    let Some(segmentation) = store::segmentations::find(pool, id).await? else {
        return Err(Error::invalid(field, format!("no segmentation {id}")));
    };
    let Some(run_id) = segmentation.active_run_id else {
        return Err(Error::invalid(
            field,
            format!("segmentation {id} has no active run yet: train it first"),
        ));
    };
    let segments = store::segments::segments(pool, run_id)
        .await?
        .into_iter()
        .map(|s| s.stable_id)
        .collect();
    Ok(ActiveRun { run_id, segments })
}

fn resolved(
    rule: &Rule,
    path: &str,
    catalogue: &Catalogue,
    runs: &HashMap<Uuid, ActiveRun>,
) -> Result<Resolved> {
    let all = |rules: &[Rule], key: &str| -> Result<Vec<Resolved>> {
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| resolved(r, &format!("{path}.{key}[{i}]"), catalogue, runs))
            .collect()
    };
    Ok(match rule {
        Rule::All(rules) => Resolved::All(all(rules, "all")?),
        Rule::Any(rules) => Resolved::Any(all(rules, "any")?),
        Rule::Not(r) => Resolved::Not(Box::new(resolved(
            r,
            &format!("{path}.not"),
            catalogue,
            runs,
        )?)),
        Rule::History(history) => Resolved::History(history.clone()),
        Rule::Segment(condition) => {
            let run = &runs[&condition.segmentation];
            if let Some((i, unknown)) = condition
                .segments
                .iter()
                .enumerate()
                .find(|(_, s)| !run.segments.contains(s))
            {
                return Err(Error::invalid(
                    format!("{path}.segment.in[{i}]"),
                    format!(
                        "no segment {unknown} in the active run of segmentation {}: its \
                         segments are {}",
                        condition.segmentation,
                        run.segments
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            Resolved::Segment {
                run_id: run.run_id,
                segments: condition.segments.clone(),
            }
        }
        Rule::Attribute(condition) => {
            let Some(attribute) = catalogue.get(&condition.attribute) else {
                return Err(Error::invalid(
                    format!("{path}.attribute"),
                    format!("no attribute `{}` in the catalogue", condition.attribute),
                ));
            };
            let numeric = !matches!(condition.test, Test::In(_) | Test::NotIn(_));
            let any_kind = matches!(condition.test, Test::IsNull(_));
            let wanted = if numeric {
                AttributeKind::Numeric
            } else {
                AttributeKind::Categorical
            };
            if !any_kind && attribute.kind != wanted {
                return Err(Error::invalid(
                    format!("{path}.{}", condition.test.key()),
                    format!(
                        "`{}` tests a {} attribute; `{}` is {}",
                        condition.test.key(),
                        wanted.as_str(),
                        condition.attribute,
                        attribute.kind.as_str()
                    ),
                ));
            }
            let column = match attribute.kind {
                AttributeKind::Numeric => Column::Numeric {
                    name: condition.attribute.clone(),
                    position: attribute.position,
                },
                AttributeKind::Categorical => Column::Categorical {
                    position: attribute.position,
                },
            };
            Resolved::Test {
                column,
                test: condition.test.clone(),
            }
        }
    })
}
