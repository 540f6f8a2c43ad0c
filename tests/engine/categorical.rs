//! Categorical features: Mall clustered on age, income, spending score and gender against
//! scikit-learn with the same encoding (`tests/fixtures/reference/categorical.py`: numeric
//! features standardised, gender one-hot times 1/√2): with scikit-learn's random stream every
//! label and the inertia are its own; profiles give each segment's share of women and men
//! with lift, and labels say when a segment is mostly one of them.

use super::{MALL, real_data};
use segstore::ingest::dataset::{categories_from_csv, columns_from_csv};
use segstore::segmentation::categorical::DEFAULT_WEIGHT;
use segstore::segmentation::kmeans::plugin::KMeansAlgorithm;
use segstore::segmentation::kmeans::{KMeansParams, RandomStream};
use segstore::segmentation::pipeline::{self, Algorithm, KChoice, RunParams, RunResult};
use segstore::segmentation::preprocess::Columns;
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("../fixtures/reference/categorical.json")).unwrap()
}

fn mall_with_gender() -> Columns {
    let mut columns = columns_from_csv(MALL, None).unwrap();
    columns.categories = categories_from_csv(MALL, &["gender".to_owned()], columns.rows()).unwrap();
    columns
}

fn run(columns: &Columns, k: usize, kmeans: KMeansParams) -> RunResult {
    run_weighing(columns, k, kmeans, DEFAULT_WEIGHT)
}

fn run_weighing(columns: &Columns, k: usize, kmeans: KMeansParams, weight: f64) -> RunResult {
    let (_, preprocess) = real_data("mall");
    let params = RunParams {
        preprocess: preprocess.with_categories(&["gender".to_owned()], weight),
        k: KChoice::Fixed(k),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: Some(100),
        sweep_sample: pipeline::SWEEP_SAMPLE_ROWS,
        kmeans,
        warm_start: None,
    };
    pipeline::run(columns, &params).unwrap()
}

#[test]
fn with_scikit_learns_stream_every_label_and_the_inertia_are_its_own() {
    let reference = reference();
    let columns = mall_with_gender();
    for k in 2..=8 {
        let want = &reference[k.to_string()];
        let params = KMeansParams::new(k)
            .n_init(10)
            .seed(42)
            .stream(RandomStream::ScikitLearn);
        let r = run(&columns, k, params);
        let inertia = want["inertia"].as_f64().unwrap();
        assert!(
            (r.metrics.inertia - inertia).abs() <= 1e-9 * inertia,
            "k = {k}: {} vs {inertia}",
            r.metrics.inertia
        );
        // Segments are renumbered canonically: compare the partitions and each cluster's
        // share of women.
        let labels: Vec<usize> = r.assignments.iter().map(|a| a.1.unwrap()).collect();
        let theirs: Vec<usize> = want["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let mut pairs: Vec<(usize, usize)> = labels.iter().copied().zip(theirs).collect();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), k, "k = {k}: the same partition");
        for &(ours, theirs) in &pairs {
            let shares = &r.profiles.segments[ours].categories[0];
            assert_eq!(shares.feature, "gender");
            assert_eq!(shares.levels[0].level, "Female");
            let want = want["female_share"][theirs].as_f64().unwrap();
            assert!((shares.levels[0].share - want).abs() < 1e-12, "k = {k}");
        }
    }
    assert_eq!(reference["levels"], serde_json::json!(["Female", "Male"]));
}

/// The labelling rule on every segment; returns how many are mostly one gender.
fn check_labels(r: &RunResult) -> usize {
    let everyone = &r.profiles.categories[0];
    assert_eq!(everyone.levels[1].share, 88.0 / 200.0);
    assert_eq!(everyone.levels[0].share, 112.0 / 200.0);
    assert_eq!(everyone.levels[1].share, 88.0 / 200.0);
    let mut mostly = 0;
    for p in &r.profiles.segments {
        let g = &p.categories[0];
        let total: f64 = g.levels.iter().map(|l| l.share).sum();
        assert!((total - 1.0).abs() < 1e-12);
        for (l, e) in g.levels.iter().zip(&everyone.levels) {
            assert!((l.lift - l.share / e.share).abs() < 1e-12);
        }
        let leading = g
            .levels
            .iter()
            .max_by(|a, b| a.share.total_cmp(&b.share))
            .unwrap();
        let stands_out = leading.share >= 2.0 / 3.0 && leading.lift >= 1.15;
        let word = leading.level.to_lowercase();
        if stands_out {
            mostly += 1;
            assert!(
                p.label.starts_with(&format!("Mostly {word} · "))
                    || p.label.starts_with(&format!("All {word} · ")),
                "{}",
                p.label
            );
        } else {
            assert!(
                !p.label.contains("Mostly") && !p.label.contains("All "),
                "{}",
                p.label
            );
        }
        println!(
            "{:>4} {:>5.1}% women  {}",
            p.size,
            g.levels[0].share * 100.0,
            p.label
        );
    }
    mostly
}

#[test]
fn profiles_give_shares_and_lift_and_labels_a_marketer_reads() {
    let columns = mall_with_gender();
    // At the default weight gender barely moves Mall's segments (it is not what they differ
    // in): no segment is mostly one gender.
    let r = run(&columns, 6, KMeansParams::new(1).seed(42));
    assert_eq!(check_labels(&r), 0);
    // Weighing it more, segments split by it and say so.
    let heavy = run_weighing(&columns, 6, KMeansParams::new(1).seed(42), 2.0);
    assert!(check_labels(&heavy) >= 4);
    // Profiles, the chart sample and the model stay in the numeric features' units.
    assert_eq!(r.profiles.features.len(), 3);
    let chart = r.chart.as_ref().unwrap();
    assert_eq!(chart.values.len(), chart.rows.len() * 3);
    assert!(chart.pca.is_some());
    assert_eq!(r.model.centroids.ncols(), 5);
}

#[test]
fn scoring_takes_levels_and_names_an_unseen_one() {
    let columns = mall_with_gender();
    let r = run(&columns, 5, KMeansParams::new(1).seed(42));
    // Every customer scored as a new one lands where training put it.
    let rows = ndarray::Array2::from_shape_fn((200, 3), |(i, j)| columns.get(j, i).unwrap());
    let levels: Vec<Vec<String>> = (0..200)
        .map(|i| vec![columns.categories[0].value(i).unwrap().to_owned()])
        .collect();
    let scored = r.model.score_mixed(rows.view(), &levels).unwrap();
    for (s, a) in scored.iter().zip(r.assignments.iter()) {
        assert_eq!(s.segment, a.1);
    }
    let err = r
        .model
        .score_mixed(
            rows.slice(ndarray::s![..1, ..]),
            &[vec!["Other".to_owned()]],
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`gender` has no level `Other` in this run's training data; it knows Female, Male"
    );
    let err = r.model.score(rows.view()).unwrap_err().to_string();
    assert!(
        err.contains("categorical values must be given for every row scored"),
        "{err}"
    );
}

#[test]
fn categorical_rules_are_errors() {
    let columns = mall_with_gender();
    let (_, preprocess) = real_data("mall");
    let mut params = RunParams {
        preprocess: preprocess.with_categories(&["region".to_owned()], DEFAULT_WEIGHT),
        k: KChoice::Fixed(3),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample: pipeline::SWEEP_SAMPLE_ROWS,
        kmeans: KMeansParams::new(3),
        warm_start: None,
    };
    let err = pipeline::run(&columns, &params).unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown categorical feature `region`; the data has `gender`"
    );
    params.preprocess.categorical = vec!["gender".into(), "gender".into()];
    let err = pipeline::run(&columns, &params).unwrap_err().to_string();
    assert_eq!(err, "feature `gender` is listed twice");
    params.preprocess.categorical = vec!["gender".into()];
    params.preprocess.category_weight = 0.0;
    let err = pipeline::run(&columns, &params).unwrap_err().to_string();
    assert_eq!(
        err,
        "category weight must be a finite number above 0, got 0"
    );
    // A customer without a gender is left out, or takes the most frequent when imputing.
    params.preprocess.category_weight = DEFAULT_WEIGHT;
    let mut gaps = columns.clone();
    gaps.categories[0].codes[4] = None;
    let r = pipeline::run(&gaps, &params).unwrap();
    assert_eq!((r.rows_used, r.rows_dropped), (199, 1));
    params.preprocess.missing = segstore::segmentation::preprocess::Missing::ImputeMedian;
    let r = pipeline::run(&gaps, &params).unwrap();
    assert_eq!((r.rows_used, r.values_imputed), (200, 1));
}

/// A warm start carries the categorical levels: the previous centroids' share of each level,
/// by name, into the retrain's one-hot columns. From its own converged centroids, a retrain of
/// the same rows is where it was, also through a projection on (all five) principal
/// components.
#[test]
fn a_warm_start_carries_the_levels_shares() {
    use segstore::segmentation::kmeans::plugin::KMeansAlgorithm;
    use segstore::segmentation::pipeline::WarmStart;
    let columns = mall_with_gender();
    let (_, preprocess) = real_data("mall");
    let mut params = RunParams {
        preprocess: preprocess.with_categories(&["gender".to_owned()], 2.0),
        k: KChoice::Fixed(6),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample: pipeline::SWEEP_SAMPLE_ROWS,
        kmeans: KMeansParams::new(1).seed(42),
        warm_start: None,
    };
    let first = pipeline::run(&columns, &params).unwrap();
    let warm = WarmStart::from_model(&first.model);
    let shares = &warm.categories[0];
    assert_eq!(shares.levels, ["Female", "Male"]);
    for (i, p) in first.profiles.segments.iter().enumerate() {
        // Centroids are member means: their one-hot part over the weight is the shares.
        let female = p.categories[0].levels[0].share;
        assert!((shares.shares[[i, 0]] - female).abs() < 1e-9, "{i}");
    }
    for reduce in [None, Some(5)] {
        params.reduce = reduce;
        params.warm_start = None;
        let first = pipeline::run(&columns, &params).unwrap();
        params.warm_start = Some(WarmStart::from_model(&first.model));
        let again = pipeline::run(&columns, &params).unwrap();
        assert!(
            again.warm_start.as_ref().unwrap().used,
            "{:?}",
            again.warm_start
        );
        let (a, b) = (first.metrics.inertia, again.metrics.inertia);
        assert!((a - b).abs() <= 1e-9 * a, "{reduce:?}: {a} vs {b}");
        assert!(again.n_iter.unwrap() <= 2, "{reduce:?}");
    }

    // Without the categorical feature it is another configuration.
    let mut other = params.clone();
    other.preprocess.categorical.clear();
    other.reduce = None;
    let report = pipeline::run(&columns, &other).unwrap().warm_start.unwrap();
    assert!(!report.used);
    assert_eq!(
        report.reason.as_deref(),
        Some("the categorical features changed (previously gender): k-means++ restarts instead")
    );
}
