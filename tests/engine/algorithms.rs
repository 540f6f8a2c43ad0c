//! DBSCAN and the Gaussian mixture against scikit-learn on the standardized Mall features:
//! `tests/fixtures/reference/dbscan_gmm.py` computed the expected labels and fit statistics.

use super::{f, matrix, rel};
use segstore::segmentation::dbscan::{DbscanParams, dbscan};
use segstore::segmentation::gmm::{Covariance, GmmParams, gmm};
use segstore::segmentation::kmeans::RandomStream;
use segstore::segmentation::preprocess::Scaling;
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("../fixtures/reference/dbscan_gmm.json")).unwrap()
}

fn features(case: &Value) -> Vec<&str> {
    case["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn dbscan_labels_are_scikit_learns_row_for_row() {
    // Same numbering (clusters in order of their first row), same noise, same border rows:
    // scikit-learn gives a border row to the first cluster that reaches it, as we do.
    for case in reference()["dbscan"].as_array().unwrap() {
        let prepared = matrix(&features(case), Scaling::Standard);
        let fit = dbscan(
            prepared.view(),
            &DbscanParams {
                eps: f(&case["eps"]),
                min_points: case["min_points"].as_u64().unwrap() as usize,
            },
        )
        .unwrap();
        let want: Vec<i64> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let got: Vec<i64> = fit
            .labels
            .iter()
            .map(|l| l.map_or(-1, |c| c as i64))
            .collect();
        assert_eq!(got, want, "eps {} min {}", case["eps"], case["min_points"]);
        assert_eq!(
            fit.model.core_points.nrows(),
            case["core_rows"].as_array().unwrap().len()
        );
        assert_eq!(fit.n_noise, want.iter().filter(|&&l| l < 0).count());
    }
}

#[test]
fn gaussian_mixtures_full_and_diagonal_match_scikit_learn() {
    // With scikit-learn's random stream the K-Means initialisation is the one
    // `GaussianMixture(random_state=42)` makes, so EM walks the same path: the same iterations
    // and the same optimum.
    for case in reference()["gmm"].as_array().unwrap() {
        let prepared = matrix(&features(case), Scaling::Standard);
        let k = case["k"].as_u64().unwrap() as usize;
        let covariance = match case["covariance"].as_str().unwrap() {
            "full" => Covariance::Full,
            _ => Covariance::Diag,
        };
        let params = GmmParams {
            seed: case["seed"].as_u64().unwrap(),
            stream: RandomStream::ScikitLearn,
            covariance,
            ..GmmParams::new(k)
        };
        let fit = gmm(prepared.view(), &params).unwrap();
        let what = format!("k {k} {}", covariance.as_str());
        for (got, key) in [
            (fit.mean_log_likelihood, "mean_log_likelihood"),
            (fit.bic, "bic"),
            (fit.aic, "aic"),
        ] {
            assert!(
                rel(got, f(&case[key])) <= 1e-6,
                "{what} {key}: {got} vs {}",
                case[key]
            );
        }
        assert_eq!(
            fit.n_iter as u64,
            case["n_iter"].as_u64().unwrap(),
            "{what}"
        );
        assert!(fit.converged, "{what}");
        let mut sizes = vec![0i64; k];
        for &l in &fit.labels {
            sizes[l] += 1;
        }
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let want: Vec<i64> = case["sizes_desc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(sizes, want, "{what}");
        assert_eq!(fit.model.covariance, covariance);
    }
}
