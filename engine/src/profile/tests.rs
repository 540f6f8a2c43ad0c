//! Profiles' tests: statistics in original units, lifts, labels and personas.

use super::labels::{Level, lower_first, phrase};
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
