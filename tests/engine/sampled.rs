//! `k: auto` on a seeded sample of the rows: the sweep fits the sample, the chosen k is fitted
//! on every row from the sample's centroids, and the run says so.

use super::preprocess;
use segstore::ingest::dataset::columns_from_csv;
use segstore::segmentation::kmeans::KMeansParams;
use segstore::segmentation::kmeans::plugin::KMeansAlgorithm;
use segstore::segmentation::pipeline::{self, Algorithm, KChoice, RunParams, RunResult};
use segstore::segmentation::preprocess::Scaling;
use segstore::segmentation::selection::KRule;
use std::fmt::Write as _;

/// 1,500 customers around 5 centres in 3 features (a seeded linear congruential generator,
/// so the test needs no data file).
fn customers() -> Vec<u8> {
    let centres = [
        [20.0, 20.0, 80.0],
        [60.0, 50.0, 50.0],
        [30.0, 90.0, 20.0],
        [70.0, 100.0, 85.0],
        [45.0, 15.0, 15.0],
    ];
    let mut state = 12345u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut csv = String::from("id,age,annual_income_k,spending_score\n");
    for i in 0..1500 {
        let c = centres[i % 5];
        let mut v = [0.0; 3];
        for (j, x) in v.iter_mut().enumerate() {
            // Sum of four uniforms: roughly normal, spread about 5.
            let noise: f64 = (0..4).map(|_| uniform() - 0.5).sum::<f64>() * 8.7;
            *x = c[j] + noise;
        }
        writeln!(csv, "{i},{:.3},{:.3},{:.3}", v[0], v[1], v[2]).unwrap();
    }
    csv.into_bytes()
}

fn run(sweep_sample: usize, seed: u64) -> RunResult {
    let csv = customers();
    let columns = columns_from_csv(&csv[..], None).unwrap();
    let params = RunParams {
        preprocess: preprocess(
            &["age", "annual_income_k", "spending_score"],
            Scaling::Standard,
        ),
        k: KChoice::Auto {
            min: 2,
            max: 8,
            rule: KRule::Silhouette,
        },
        kmeans: KMeansParams::new(1).n_init(10).seed(seed),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample,
        warm_start: None,
    };
    pipeline::run(&columns, &params).unwrap()
}

#[test]
fn a_sampled_sweep_chooses_the_full_sweeps_k_and_fits_every_row() {
    let full = run(pipeline::SWEEP_SAMPLE_ROWS, 42);
    let full_selection = full.k_selection.as_ref().unwrap();
    assert_eq!(
        (full_selection.rows, full_selection.sampled),
        (Some(1500), false)
    );
    assert!(!full.k_rule.contains("sample"), "{}", full.k_rule);

    let sampled = run(300, 42);
    let selection = sampled.k_selection.as_ref().unwrap();
    assert_eq!((selection.rows, selection.sampled), (Some(300), true));
    assert_eq!(
        sampled.k_rule,
        "best silhouette, on a seeded sample of 300 of the 1500 rows"
    );
    assert_eq!((sampled.k, full.k), (5, 5));
    // The curve is the sample's: its k = 1 inertia is the sample's total variance.
    assert!(selection.curve[0].metrics.inertia < 0.2 * full_selection.curve[0].metrics.inertia);
    // Every row is assigned, and Lloyd from the sample's centroids ends where ten restarts of
    // k-means++ on every row end.
    assert_eq!(sampled.assignments.len(), 1500);
    let rel = (sampled.metrics.inertia - full.metrics.inertia).abs() / full.metrics.inertia;
    assert!(
        rel < 1e-9,
        "{} vs {}",
        sampled.metrics.inertia,
        full.metrics.inertia
    );
    let segments = |r: &RunResult| r.assignments.iter().map(|a| a.1).collect::<Vec<_>>();
    assert_eq!(segments(&sampled), segments(&full));

    // The sample is seeded: the same seed gives the same sample and the same result.
    let again = run(300, 42);
    assert_eq!(again.k_selection, sampled.k_selection);
    assert_eq!(again.assignments, sampled.assignments);
}
