//! Segment profiles in original units, and the labels a marketer reads.

use super::categorical::{self, CategoryShares, Encoded};
use super::moments::mean_std;
use super::preprocess::{Transform, forward, quantile_in_place};
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

/// The phrase a segment's categories give its label, if one stands out: "All female" (every
/// member, where not everyone is), "Mostly female" (at least 2/3 of the members and 15% over
/// everyone's share); of several, the largest lift. A level that is a code ("2") is named
/// with its feature ("Mostly channel 2").
fn category_phrase(categories: &[CategoryShares]) -> Option<String> {
    categories
        .iter()
        .flat_map(|c| c.levels.iter().map(move |l| (c, l)))
        .filter(|(_, l)| l.share >= categorical::MOSTLY_SHARE && l.lift >= categorical::MOSTLY_LIFT)
        .max_by(|a, b| a.1.lift.total_cmp(&b.1.lift))
        .map(|(c, l)| {
            let quantifier = if l.share >= 1.0 { "All" } else { "Mostly" };
            let code = l.level.parse::<f64>().is_ok() || l.level.chars().count() == 1;
            if code {
                format!("{quantifier} {} {}", humanize(&c.feature), l.level)
            } else {
                format!("{quantifier} {}", lower_first(&l.level))
            }
        })
}

/// "Female" → "female", but "UK" and "VIP" stay as written.
fn lower_first(level: &str) -> String {
    let mut chars = level.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            first.to_lowercase().chain(level.chars().skip(1)).collect()
        }
        _ => level.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Level {
    Low,
    Average,
    High,
}

fn level(lift: f64) -> Level {
    if lift >= LEVEL_THRESHOLD {
        Level::High
    } else if lift <= -LEVEL_THRESHOLD {
        Level::Low
    } else {
        Level::Average
    }
}

/// `annual_income_k` → "annual income", `spending_score` → "spending score".
pub fn humanize(feature: &str) -> String {
    let name = feature.rsplit('.').next().unwrap_or(feature);
    let mut words: Vec<&str> = name.split('_').filter(|w| !w.is_empty()).collect();
    if words.len() > 1 && words.last().is_some_and(|w| w.len() == 1) {
        words.pop();
    }
    words.join(" ")
}

/// Up to three features by the order given (most distinguishing first when there are more),
/// each with its level.
fn label(features: &[String], lift: &[f64], top: &[usize]) -> String {
    let mut shown: Vec<usize> = if features.len() <= 3 {
        (0..features.len()).collect()
    } else {
        top.to_vec()
    };
    if features.len() <= 3 {
        shown.sort_unstable();
    }
    shown
        .iter()
        .map(|&j| phrase(&features[j], level(lift[j])))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A feature at a level, in a marketer's words: RFM features have their own ("Recent",
/// "Frequent", "High spend"); others read "High annual income".
fn phrase(feature: &str, level: Level) -> String {
    let name = humanize(feature);
    let rfm: Option<[&str; 3]> = if name.contains("recency") {
        Some(["Recent", "Average recency", "Lapsed"])
    } else if name.contains("frequency") {
        Some(["Rare", "Occasional", "Frequent"])
    } else if name.contains("monetary") {
        Some(["Low spend", "Average spend", "High spend"])
    } else {
        None
    };
    let i = match level {
        Level::Low => 0,
        Level::Average => 1,
        Level::High => 2,
    };
    match rfm {
        Some(words) => words[i].to_owned(),
        None => format!("{} {name}", ["Low", "Average", "High"][i]),
    }
}

/// The classic income × spending personas, when both kinds of feature are present.
fn persona(features: &[String], lift: &[f64]) -> Option<String> {
    let find = |needle: &str| features.iter().position(|f| f.contains(needle));
    let income = find("income")?;
    let spend = find("spend")?;
    let name = match (level(lift[income]), level(lift[spend])) {
        (Level::High, Level::High) => "VIP",
        (Level::Low, Level::Low) => "Bargain / low value",
        (Level::Low, Level::High) => "Impulsive",
        (Level::High, Level::Low) => "Potential converters",
        (Level::Average, Level::Average) => "Average",
        _ => return None,
    };
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_mostly_of_one_level_says_so() {
        let shares = |feature: &str, level: &str, share: f64, lift: f64| CategoryShares {
            feature: feature.into(),
            levels: vec![categorical::LevelShare {
                level: level.into(),
                share,
                lift,
            }],
        };
        let phrase = |c: CategoryShares| category_phrase(&[c]);
        assert_eq!(
            phrase(shares("gender", "Female", 0.75, 1.2)).unwrap(),
            "Mostly female"
        );
        assert_eq!(
            phrase(shares("gender", "Male", 1.0, 2.5)).unwrap(),
            "All male"
        );
        assert_eq!(
            phrase(shares("channel", "2", 0.9, 2.8)).unwrap(),
            "Mostly channel 2"
        );
        assert_eq!(
            phrase(shares("country", "UK", 0.9, 1.3)).unwrap(),
            "Mostly UK"
        );
        // Two thirds, but everyone is as female: nothing stands out.
        assert_eq!(phrase(shares("gender", "Female", 0.7, 1.1)), None);
        assert_eq!(phrase(shares("gender", "Female", 0.6, 1.5)), None);
        assert_eq!(lower_first("Gold tier"), "gold tier");
    }
    use ndarray::array;

    #[test]
    fn rfm_features_speak_the_marketers_language() {
        assert_eq!(phrase("rfm_recency_days", Level::Low), "Recent");
        assert_eq!(phrase("rfm_recency_days", Level::High), "Lapsed");
        assert_eq!(phrase("rfm_frequency", Level::High), "Frequent");
        assert_eq!(phrase("rfm_frequency", Level::Average), "Occasional");
        assert_eq!(phrase("rfm_monetary", Level::High), "High spend");
        assert_eq!(phrase("annual_income_k", Level::High), "High annual income");
        let features: Vec<String> = ["rfm_recency_days", "rfm_frequency", "rfm_monetary"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            label(&features, &[-1.0, 1.2, 0.9], &[1, 0, 2]),
            "Recent · Frequent · High spend"
        );
    }

    #[test]
    fn profiles_lifts_labels_and_personas() {
        let x = array![
            [20.0, 80.0],
            [22.0, 90.0],
            [90.0, 10.0],
            [88.0, 12.0],
            [55.0, 50.0],
            [56.0, 52.0]
        ];
        let names = vec!["annual_income_k".to_owned(), "spending_score".to_owned()];
        let p = profile(
            x.view(),
            &names,
            &[Transform::None; 2],
            &[0, 0, 1, 1, 2, 2],
            3,
            None,
            &[],
        );
        assert_eq!(p.segments[0].size, 2);
        assert!((p.segments[0].share - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(p.segments[0].centroid, [21.0, 85.0]);
        assert_eq!(
            p.segments[0].label,
            "Low annual income · High spending score"
        );
        assert_eq!(p.segments[0].persona.as_deref(), Some("Impulsive"));
        assert_eq!(
            p.segments[1].persona.as_deref(),
            Some("Potential converters")
        );
        assert_eq!(
            p.segments[2].label,
            "Average annual income · Average spending score"
        );
        assert_eq!(p.segments[2].stats[0].q1, 55.25);
        let lift = (21.0 - p.population[0].mean) / p.population[0].std;
        assert!((p.segments[0].lift[0] - lift).abs() < 1e-12);
    }

    #[test]
    fn duplicate_labels_are_numbered_and_names_humanized() {
        let x = array![[1.0], [1.1], [5.0], [9.0], [9.1]];
        let p = profile(
            x.view(),
            &["visits".to_owned()],
            &[Transform::None],
            &[0, 0, 1, 2, 2],
            3,
            None,
            &[],
        );
        let labels: Vec<_> = p.segments.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["Low visits", "Average visits", "High visits"]);
        let p = profile(
            x.view(),
            &["visits".to_owned()],
            &[Transform::None],
            &[0, 1, 2, 2, 2],
            3,
            None,
            &[],
        );
        assert_eq!(p.segments[1].label, "Low visits (2)");
        assert_eq!(humanize("rfm.recency_days"), "recency days");
        assert_eq!(humanize("annual_income_k"), "annual income");
    }

    #[test]
    fn lift_is_measured_where_the_features_are_clustered() {
        // One whale hides everyone else in original units; after log1p the small spenders
        // read low.
        let x = array![
            [10.0],
            [12.0],
            [100.0],
            [110.0],
            [90.0],
            [1000.0],
            [1100.0],
            [1e6]
        ];
        let names = ["rfm_monetary".to_owned()];
        let labels = [0, 0, 1, 1, 1, 2, 2, 3];
        let read = |t: Transform| -> Vec<String> {
            let p = profile(x.view(), &names, &[t], &labels, 4, None, &[]);
            p.segments.iter().map(|s| s.label.clone()).collect()
        };
        assert_eq!(
            read(Transform::None),
            [
                "Average spend",
                "Average spend (2)",
                "Average spend (3)",
                "High spend"
            ]
        );
        assert_eq!(
            read(Transform::Log1p),
            [
                "Low spend",
                "Average spend",
                "Average spend (2)",
                "High spend"
            ]
        );
        let p = profile(x.view(), &names, &[Transform::Log1p], &labels, 4, None, &[]);
        let logs: Vec<f64> = x.column(0).iter().map(|v| v.ln_1p()).collect();
        let mean = logs.iter().sum::<f64>() / 8.0;
        let std = (logs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 8.0).sqrt();
        assert!((p.segments[0].lift[0] - ((logs[0] + logs[1]) / 2.0 - mean) / std).abs() < 1e-12);
        // Centroids stay in original units.
        assert_eq!(p.segments[0].centroid, [11.0]);
    }
}
