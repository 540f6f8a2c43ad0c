//! The data behind each chart of a run, read from the store and handed to `charts` as plain
//! values.

use super::runs as service;
use crate::charts::{
    ElbowChart, ElbowPoint, ScatterChart, SegmentBar, SegmentKey, SegmentsChart, TransitionChart,
    count, segment_colours,
};
use crate::domain::RunId;
use crate::domain::run::{Run, Segment};
use crate::error::{Error, Result};
use crate::store::Pool;
use crate::store::{charts, segmentations};
use std::collections::HashMap;

/// The largest sample the scatter chart draws, and its default.
pub const MAX_POINTS: usize = crate::segmentation::sample::CHART_SAMPLE;

/// Each segment of the run as charts name and colour it, in the run's order.
fn keys(segments: &[Segment]) -> Vec<SegmentKey> {
    let ids: Vec<i32> = segments.iter().map(|s| s.stable_id).collect();
    segment_colours(&ids)
        .into_iter()
        .zip(segments)
        .map(|(colour, s)| SegmentKey {
            id: Some(s.stable_id),
            label: s.label.clone(),
            colour,
        })
        .collect()
}

fn noise_key() -> SegmentKey {
    SegmentKey {
        id: None,
        label: "Noise (no segment)".to_owned(),
        colour: 0,
    }
}

/// "Segments: Mall, run 5b0c3c7e (2026-11-27 10:00 UTC)".
async fn title(pool: &Pool, run: &Run, what: &str) -> Result<String> {
    let name = segmentations::find(pool, run.segmentation_id)
        .await?
        .map(|s| s.name)
        .unwrap_or_default();
    Ok(format!("{what}: {name}, {}", run_name(run)))
}

/// A run as people see it beside the API: the start of its id (as `git` shortens a commit)
/// and when it finished, "run 5b0c3c7e (2026-11-27 10:00 UTC)".
fn run_name(run: &Run) -> String {
    let id = run.run_id.simple().to_string();
    format!(
        "run {} ({})",
        &id[..8],
        run.finished_at
            .unwrap_or(run.created_at)
            .format("%Y-%m-%d %H:%M UTC")
    )
}

fn features(run: &Run) -> Vec<String> {
    run.summary
        .as_ref()
        .map(|s| s.features.clone())
        .unwrap_or_default()
}

/// What the scatter chart's axes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Axes {
    /// The first two principal components (runs over more than two features).
    Principal,
    /// Two of the run's features, by position.
    Features(usize, usize),
}

/// Axes from the query: both named features of the run, or the default (two features: those;
/// more: the principal components).
pub fn axes(features: &[String], x: Option<&str>, y: Option<&str>) -> Result<Axes> {
    let position = |field: &str, name: &str| {
        features.iter().position(|f| f == name).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "`{name}` is not a feature of this run (its features: {})",
                    features.join(", ")
                ),
            )
        })
    };
    if features.len() < 2 {
        return Err(Error::Conflict(format!(
            "the run clustered one feature ({}); a scatter chart needs two",
            features.join(", ")
        )));
    }
    let (x, y) = match (x, y) {
        (None, None) if features.len() > 2 => return Ok(Axes::Principal),
        (None, None) => (0, 1),
        (Some(x), None) => {
            let x = position("x", x)?;
            (x, usize::from(x == 0))
        }
        (None, Some(y)) => {
            let y = position("y", y)?;
            (usize::from(y == 0), y)
        }
        (Some(x), Some(y)) => (position("x", x)?, position("y", y)?),
    };
    if x == y {
        return Err(Error::invalid("y", "must name another feature than `x`"));
    }
    Ok(Axes::Features(x, y))
}

/// A run's stored chart sample, as front ends draw their own scatter from it.
pub struct Sample {
    pub run_id: uuid::Uuid,
    pub features: Vec<String>,
    /// Customers the run segmented (what the sample was drawn from).
    pub customers: i64,
    /// In the stored random order.
    pub points: Vec<SampledCustomer>,
    /// Share of the variance PC1 and PC2 explain.
    pub explained: Option<[f64; 2]>,
}

pub struct SampledCustomer {
    /// Stable segment id (`None`: noise).
    pub segment: Option<i32>,
    /// In original units.
    pub values: Vec<f64>,
    /// (PC1, PC2) when the run has more than two features.
    pub pc: Option<[f64; 2]>,
}

async fn stored_sample(pool: &Pool, run: &Run) -> Result<charts::ChartSampleRow> {
    charts::find(pool, run.run_id).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "run {} kept no chart sample (it was trained before charts existed); retrain to \
             draw it",
            run.run_id
        ))
    })
}

/// The first `limit` customers of the run's stored random sample.
pub async fn sample(pool: &Pool, run_id: RunId, limit: usize) -> Result<Sample> {
    let (run, _) = service::segments(pool, run_id).await?;
    let stored = stored_sample(pool, &run).await?;
    let d = stored.features.len();
    let n = stored.segment.len().min(limit);
    Ok(Sample {
        run_id: run.run_id,
        customers: i64::from(stored.customers),
        points: (0..n)
            .map(|i| SampledCustomer {
                segment: stored.segment[i],
                values: stored.values[i * d..(i + 1) * d].to_vec(),
                pc: stored.pc.as_ref().map(|pc| [pc[2 * i], pc[2 * i + 1]]),
            })
            .collect(),
        explained: stored
            .pc_explained
            .as_ref()
            .filter(|e| e.len() == 2)
            .map(|e| [e[0], e[1]]),
        features: stored.features,
    })
}

pub async fn scatter(
    pool: &Pool,
    run_id: RunId,
    x: Option<&str>,
    y: Option<&str>,
    points: Option<usize>,
) -> Result<ScatterChart> {
    let (run, segments) = service::segments(pool, run_id).await?;
    let features = features(&run);
    let axes = axes(&features, x, y)?;
    let budget = points.unwrap_or(MAX_POINTS);
    let sample = stored_sample(pool, &run).await?;
    let mut keys = keys(&segments);
    let index: HashMap<i32, usize> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| (s.stable_id, i))
        .collect();
    let shown = sample.segment.len().min(budget);
    if sample.segment[..shown].iter().any(Option::is_none) {
        keys.push(noise_key());
    }
    let noise = keys.len() - 1;
    let d = sample.features.len();
    let seg = |i: usize| sample.segment[i].map_or(noise, |id| index[&id]);
    let (x_label, y_label, drawn, centres) = match axes {
        Axes::Principal => {
            let (Some(pc), Some(explained)) = (&sample.pc, &sample.pc_explained) else {
                return Err(Error::Conflict(format!(
                    "run {} has no principal components to draw (too few distinct customers); \
                     name two features with `x` and `y`",
                    run.run_id
                )));
            };
            let centres = segments
                .iter()
                .map(|s| {
                    sample
                        .pc_centres
                        .as_ref()
                        .and_then(|c| c.get(&s.stable_id))
                        .map(|c| (c[0], c[1]))
                })
                .collect();
            (
                format!("PC1 ({:.0}% of the variance)", explained[0] * 100.0),
                format!("PC2 ({:.0}% of the variance)", explained[1] * 100.0),
                (0..shown)
                    .map(|i| (pc[2 * i], pc[2 * i + 1], seg(i)))
                    .collect::<Vec<_>>(),
                centres,
            )
        }
        Axes::Features(fx, fy) => (
            features[fx].clone(),
            features[fy].clone(),
            (0..shown)
                .map(|i| (sample.values[i * d + fx], sample.values[i * d + fy], seg(i)))
                .collect(),
            segments
                .iter()
                .map(|s| {
                    let c = &s.profile.centroid;
                    Some((*c.get(fx)?, *c.get(fy)?))
                })
                .collect(),
        ),
    };
    let total = sample.customers as usize;
    let subtitle = if shown < total {
        format!(
            "a seeded random sample of {} of the {} customers segmented",
            count(shown as u64),
            count(total as u64)
        )
    } else {
        format!("all {} customers segmented", count(total as u64))
    };
    Ok(ScatterChart {
        title: title(pool, &run, "Customers by segment").await?,
        subtitle: Some(subtitle),
        x_label,
        y_label,
        segments: keys,
        points: drawn,
        centres,
    })
}

pub async fn elbow(pool: &Pool, run_id: RunId) -> Result<ElbowChart> {
    let (run, _) = service::segments(pool, run_id).await?;
    let points: Vec<ElbowPoint> = run
        .summary
        .as_ref()
        .and_then(|s| s.k_selection.as_ref())
        .map(|selection| {
            selection
                .curve
                .iter()
                .map(|p| ElbowPoint {
                    k: p.k,
                    inertia: p.metrics.inertia,
                    silhouette: p.metrics.silhouette,
                })
                .collect()
        })
        .unwrap_or_default();
    if points.is_empty() {
        return Err(Error::Conflict(format!(
            "run {} was given k = {}; an elbow curve exists for runs that choose k (`\"k\": \
             \"auto\"`)",
            run.run_id,
            run.k.unwrap_or_default()
        )));
    }
    Ok(ElbowChart {
        title: title(pool, &run, "Choosing k").await?,
        subtitle: Some(format!(
            "K-Means for each k; the run kept k = {}",
            run.k.unwrap_or_default()
        )),
        chosen: run
            .k
            .map(|k| (k as usize, run.k_rule.clone().unwrap_or_default())),
        points,
    })
}

pub async fn segments(pool: &Pool, run_id: RunId) -> Result<SegmentsChart> {
    let (run, segments) = service::segments(pool, run_id).await?;
    let bars = keys(&segments)
        .into_iter()
        .zip(&segments)
        .map(|(key, s)| SegmentBar {
            key,
            size: s.size.max(0) as u64,
            share: s.share,
            lift: s.profile.lift.clone(),
        })
        .collect();
    Ok(SegmentsChart {
        title: title(pool, &run, "Segments").await?,
        subtitle: Some(format!(
            "{} customers in {} segments; each cell: the segment's mean against everyone's",
            count(run.customers_used.unwrap_or_default().max(0) as u64),
            segments.len()
        )),
        features: features(&run),
        segments: bars,
    })
}

pub async fn transitions(pool: &Pool, a: RunId, b: RunId) -> Result<TransitionChart> {
    let comparison = service::compare(
        pool,
        a,
        b,
        service::MoverFilter {
            from: None,
            to: None,
            after: None,
            limit: 1,
        },
    )
    .await?;
    // compare() has read and checked both runs; only their segments are left to read.
    let from_segments = crate::store::segments::segments(pool, comparison.a.run_id).await?;
    let to_segments = crate::store::segments::segments(pool, comparison.b.run_id).await?;
    let mut from = keys(&from_segments);
    let mut to = keys(&to_segments);
    let has_noise = |pick: fn(&crate::store::assignments::TransitionRow) -> Option<i32>| {
        comparison.transitions.iter().any(|t| pick(t).is_none())
    };
    if has_noise(|t| t.from_segment) {
        from.push(noise_key());
    }
    if has_noise(|t| t.to_segment) {
        to.push(noise_key());
    }
    let place = |keys: &[SegmentKey], id: Option<i32>| keys.iter().position(|k| k.id == id);
    let mut counts = vec![vec![0u64; to.len()]; from.len()];
    let mut moved = 0u64;
    for t in &comparison.transitions {
        if let (Some(i), Some(j)) = (place(&from, t.from_segment), place(&to, t.to_segment)) {
            counts[i][j] += t.customers.max(0) as u64;
            if t.from_segment != t.to_segment {
                moved += t.customers.max(0) as u64;
            }
        }
    }
    let mut subtitle = format!("{} customers changed segment", count(moved));
    if let Some(ari) = comparison.adjusted_rand_index {
        subtitle.push_str(&format!("; adjusted Rand index {ari:.3}"));
    }
    if comparison.only_in_a + comparison.only_in_b > 0 {
        subtitle.push_str(&format!(
            "; {} only in the first run, {} only in the second",
            count(comparison.only_in_a.max(0) as u64),
            count(comparison.only_in_b.max(0) as u64)
        ));
    }
    let title = format!(
        "{} → {}",
        title(pool, &comparison.a, "Segment changes").await?,
        run_name(&comparison.b)
    );
    Ok(TransitionChart {
        title,
        subtitle: Some(subtitle),
        from_name: run_name(&comparison.a),
        to_name: run_name(&comparison.b),
        from,
        to,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_default_to_the_features_or_their_principal_components() {
        let two = ["income".to_owned(), "spend".to_owned()];
        let three = ["age".to_owned(), "income".to_owned(), "spend".to_owned()];
        assert_eq!(axes(&two, None, None).unwrap(), Axes::Features(0, 1));
        assert_eq!(axes(&three, None, None).unwrap(), Axes::Principal);
        assert_eq!(
            axes(&three, Some("spend"), Some("age")).unwrap(),
            Axes::Features(2, 0)
        );
        assert_eq!(
            axes(&three, Some("income"), None).unwrap(),
            Axes::Features(1, 0)
        );
        assert_eq!(
            axes(&three, None, Some("age")).unwrap(),
            Axes::Features(1, 0)
        );
        for (x, y, field) in [
            (Some("height"), None, "x"),
            (None, Some("height"), "y"),
            (Some("age"), Some("age"), "y"),
        ] {
            match axes(&three, x, y) {
                Err(Error::Validation { errors, .. }) => {
                    assert_eq!(errors[0].field.as_deref(), Some(field))
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            axes(&["spend".to_owned()], None, None),
            Err(Error::Conflict(_))
        ));
    }
}
