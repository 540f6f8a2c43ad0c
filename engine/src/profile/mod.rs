//! Segment profiles in original units, and the labels a marketer reads.

mod labels;

use super::categorical::{self, CategoryShares, Encoded};
use super::moments::mean_std;
use super::preprocess::{Transform, forward, quantile_in_place};
pub use labels::humanize;
use labels::{category_phrase, label, persona};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// Lift (in population standard deviations) from which a feature counts as high or low.
pub const LEVEL_THRESHOLD: f64 = 0.5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

impl FeatureStats {
    /// The statistics of `values`, which must not be empty (segments never are).
    fn of(mut values: Vec<f64>) -> Self {
        let (mean, std) = mean_std(values.iter().copied());
        let q1 = quantile_in_place(&mut values, 0.25);
        Self {
            mean,
            std,
            min: values[0],
            q1,
            median: quantile_in_place(&mut values, 0.5),
            q3: quantile_in_place(&mut values, 0.75),
            max: values[values.len() - 1],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentProfile {
    pub segment: usize,
    pub size: usize,
    /// size / rows clustered.
    pub share: f64,
    /// Mean of the members, original units, per feature.
    pub centroid: Vec<f64>,
    pub stats: Vec<FeatureStats>,
    /// (segment mean − population mean) / population std, per feature, in the space the
    /// features are clustered in (after `log1p` where asked; scaling does not change it), so
    /// a heavy tail does not hide a segment that spends ten times the typical customer.
    pub lift: Vec<f64>,
    /// Feature names, most distinguishing (largest |lift|) first; at most 3.
    pub top_features: Vec<String>,
    /// e.g. "High annual income · High spending score".
    pub label: String,
    /// For the income/spend picture: VIP, Impulsive, Potential converters, …
    pub persona: Option<String>,
    /// With a weight: the segment's total weight, its share of all the weight and its
    /// weighted means (`size`, `share` and `centroid` stay per customer).
    pub weighted: Option<Weighted>,
    /// Per categorical feature: each level's share of the members and its lift (the share
    /// over everyone's).
    pub categories: Vec<CategoryShares>,
}

/// Weight totals and weighted means, of a segment or of everyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weighted {
    /// Sum of the members' weights.
    pub weight: f64,
    /// weight / the weight of every row clustered.
    pub share: f64,
    /// `Σ w·x / Σ w` per feature, original units (`null` for a segment of no weight).
    pub mean: Vec<Option<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profiles {
    pub features: Vec<String>,
    pub population: Vec<FeatureStats>,
    /// With a weight: everyone's weight and weighted means.
    pub weighted: Option<Weighted>,
    /// Per categorical feature: each level's share of everyone.
    pub categories: Vec<CategoryShares>,
    pub segments: Vec<SegmentProfile>,
}

/// The weight total and weighted means of `rows` (their share of `all`).
fn weighted(original: ArrayView2<f64>, w: &[f64], rows: &[usize], all: f64) -> Weighted {
    let total: f64 = rows.iter().map(|&i| w[i]).sum();
    Weighted {
        weight: total,
        share: total / all,
        mean: (0..original.ncols())
            .map(|j| {
                (total > 0.0)
                    .then(|| rows.iter().map(|&i| w[i] * original[[i, j]]).sum::<f64>() / total)
            })
            .collect(),
    }
}

/// Profiles of the `k` segments of `original` (rows in original units); `transforms` are the
/// features' transforms before scaling, in which lift is measured. With `weights` (one per
/// row), each profile has its weight, weight share and weighted means too; the labels and
/// lifts describe the customers (unweighted). `categories` are the rows' categorical
/// features: each segment gets its shares of their levels, and a label that starts with the
/// level it is mostly of, if any ("Mostly female · …").
pub fn profile(
    original: ArrayView2<f64>,
    features: &[String],
    transforms: &[Transform],
    labels: &[usize],
    k: usize,
    weights: Option<&[f64]>,
    categories: &[Encoded],
) -> Profiles {
    let n = original.nrows();
    let everyone_shares: Vec<CategoryShares> = categories
        .iter()
        .map(|c| categorical::shares(c, None, None))
        .collect();
    let all_weight: f64 = weights.map_or(0.0, |w| w.iter().sum());
    let everyone: Vec<usize> = if weights.is_some() {
        (0..n).collect()
    } else {
        Vec::new()
    };
    let population: Vec<FeatureStats> = (0..features.len())
        .map(|j| FeatureStats::of(original.column(j).to_vec()))
        .collect();
    // Mean and population std of each feature in the space it is clustered in.
    let value = |i: usize, j: usize| forward(transforms[j], original[[i, j]]);
    let mean = |j: usize, rows: &[usize]| -> f64 { mean_std(rows.iter().map(|&i| value(i, j))).0 };
    let scale: Vec<(f64, f64)> = (0..features.len())
        .map(|j| mean_std((0..n).map(|i| value(i, j))))
        .collect();
    let mut segments: Vec<SegmentProfile> = (0..k)
        .map(|s| {
            let members: Vec<usize> = (0..n).filter(|&i| labels[i] == s).collect();
            let stats: Vec<FeatureStats> = (0..features.len())
                .map(|j| FeatureStats::of(members.iter().map(|&i| original[[i, j]]).collect()))
                .collect();
            let lift: Vec<f64> = (0..features.len())
                .map(|j| {
                    let (population_mean, std) = scale[j];
                    if std > 0.0 {
                        (mean(j, &members) - population_mean) / std
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut order: Vec<usize> = (0..features.len()).collect();
            order.sort_by(|&a, &b| lift[b].abs().total_cmp(&lift[a].abs()).then(a.cmp(&b)));
            order.truncate(3);
            let shares: Vec<CategoryShares> = categories
                .iter()
                .zip(&everyone_shares)
                .map(|(c, e)| categorical::shares(c, Some(&members), Some(e)))
                .collect();
            let numeric = label(features, &lift, &order);
            SegmentProfile {
                segment: s,
                size: members.len(),
                share: members.len() as f64 / n as f64,
                centroid: stats.iter().map(|s| s.mean).collect(),
                top_features: order.iter().map(|&j| features[j].clone()).collect(),
                label: match category_phrase(&shares) {
                    Some(phrase) => format!("{phrase} · {numeric}"),
                    None => numeric,
                },
                categories: shares,
                persona: persona(features, &lift),
                weighted: weights.map(|w| weighted(original, w, &members, all_weight)),
                stats,
                lift,
            }
        })
        .collect();
    // The same label twice gets a number: "… (2)".
    let bases: Vec<String> = segments.iter().map(|s| s.label.clone()).collect();
    for (i, segment) in segments.iter_mut().enumerate() {
        let before = bases[..i].iter().filter(|b| **b == bases[i]).count();
        if before > 0 {
            segment.label = format!("{} ({})", bases[i], before + 1);
        }
    }
    Profiles {
        features: features.to_vec(),
        population,
        weighted: weights.map(|w| weighted(original, w, &everyone, all_weight)),
        categories: everyone_shares,
        segments,
    }
}

#[cfg(test)]
mod tests;
