//! DBSCAN, Gaussian-mixture and default-restarts speed against scikit-learn (engine issue,
//! second step).
//! Generates seeded, standardized data, writes it (raw little-endian f64) for
//! `benches/sklearn_engine.py` to run scikit-learn on the same bytes, writes segstore's
//! labels beside it (little-endian i32, -1 for noise) and prints one JSON object:
//!
//!   cargo bench --bench engine -- DIR        (DIR receives the data and label files)
//!
//! `benches/engine.sh` runs both and prints the comparison recorded in BENCHMARKS.md.

mod shared;

use ndarray::Array2;
use segstore::ingest::dataset::columns_from_csv;
use segstore::segmentation::bisecting;
use segstore::segmentation::dbscan::{self, DbscanParams};
use segstore::segmentation::gmm::{self, Covariance, GmmParams};
use segstore::segmentation::kmeans::{self, KMeansParams, RandomStream};
use serde_json::{Value, json};
use shared::{best_of, blobs, blobs_spread, standardize, status_kb, write};
use std::path::Path;

/// DBSCAN on 1M × 2: a radius that keeps scikit-learn's neighbour lists (which it holds for
/// every row at once) within this machine's memory.
const EPS_1M: f64 = 0.02;
const MIN_POINTS_1M: usize = 20;

fn write_labels(path: &Path, labels: impl Iterator<Item = i32>) {
    let bytes: Vec<u8> = labels.flat_map(i32::to_le_bytes).collect();
    std::fs::write(path, bytes).unwrap();
}

fn dbscan_case(
    dir: &Path,
    name: &str,
    x: &Array2<f64>,
    eps: f64,
    min_points: usize,
    runs: usize,
) -> Value {
    let params = DbscanParams { eps, min_points };
    let (seconds, fit) = best_of(runs, || dbscan::dbscan(x.view(), &params).unwrap());
    write_labels(
        &dir.join(format!("{name}.labels")),
        fit.labels.iter().map(|l| l.map_or(-1, |c| c as i32)),
    );
    json!({"seconds": seconds, "eps": eps, "min_points": min_points,
           "clusters": fit.n_clusters, "noise": fit.n_noise,
           "core_rows": fit.model.core_points.nrows()})
}

fn gmm_case(x: &Array2<f64>, k: usize, covariance: Covariance) -> Value {
    // scikit-learn's random stream: the K-Means initialisation GaussianMixture(random_state=42)
    // makes, so both run EM from the same start and the fits can be compared figure for figure.
    let params = GmmParams {
        seed: 42,
        stream: RandomStream::ScikitLearn,
        covariance,
        ..GmmParams::new(k)
    };
    let (seconds, fit) = best_of(3, || gmm::gmm(x.view(), &params).unwrap());
    json!({"seconds": seconds, "n_iter": fit.n_iter, "converged": fit.converged,
           "mean_log_likelihood": fit.mean_log_likelihood, "bic": fit.bic,
           "seconds_per_iter": seconds / (fit.n_iter as f64 + 1.0)})
}

/// A CSV file's named columns as a matrix (`log1p`: ln(1 + x) first), standardized as
/// scikit-learn's `StandardScaler` does.
fn table(csv: &str, features: &[&str], log1p: bool) -> Array2<f64> {
    let columns = columns_from_csv(&std::fs::read(csv).unwrap(), None).unwrap();
    let mut x = Array2::zeros((columns.rows(), features.len()));
    for (j, name) in features.iter().enumerate() {
        let c = columns.names().iter().position(|n| n == name).unwrap();
        for (i, &v) in columns.column(c).iter().enumerate() {
            assert!(!v.is_nan(), "`{name}` has a missing value");
            x[[i, j]] = if log1p { v.ln_1p() } else { v };
        }
    }
    standardize(x)
}

/// The default K-Means (`n_init: "auto"`) at k = 2..8: seconds (best of 5) and inertia.
fn restarts_case(dir: &Path, name: &str, x: &Array2<f64>) -> Value {
    write(&dir.join(format!("{name}.f64")), x);
    let per_k: Vec<Value> = (2..=8)
        .map(|k| {
            let params = KMeansParams::new(k).seed(42);
            let (seconds, fit) = best_of(5, || kmeans::fit(x.view(), &params).unwrap());
            json!({"k": k, "seconds": seconds, "inertia": fit.inertia,
                   "restarts": fit.restart_inertias.len()})
        })
        .collect();
    json!({"cols": x.ncols(), "per_k": per_k})
}

/// Bisecting K-Means, k = 8, default restarts: seconds (best of `runs`) and inertia.
fn bisecting_case(x: &Array2<f64>, runs: usize) -> Value {
    let params = KMeansParams::new(8).seed(42);
    let (seconds, fit) = best_of(runs, || bisecting::fit(x.view(), 8, &params).unwrap());
    json!({"seconds": seconds, "inertia": fit.inertia, "restarts": fit.restarts,
           "n_iter": fit.n_iter})
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "/tmp/segstore-engine-bench".into());
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();

    // Real data: the default restarts at k = 2..8.
    let mall = restarts_case(
        &dir,
        "restarts_mall",
        &table(
            "tests/fixtures/Mall_Customers.csv",
            &["age", "annual_income_k", "spending_score"],
            false,
        ),
    );
    let spend = [
        "fresh",
        "milk",
        "grocery",
        "frozen",
        "detergents_paper",
        "delicassen",
    ];
    let wholesale = restarts_case(
        &dir,
        "restarts_wholesale",
        &table("examples/data/wholesale_customers.csv", &spend, true),
    );

    // 100,000 × 8 around 8 centres, standardized: the K-Means benchmark's sweep data
    // (overlapping; DBSCAN with eps 0.5 finds dense cores in a sea of noise there) and the
    // same centres with a quarter of the spread (separated: DBSCAN's own case).
    let x100 = standardize(blobs(100_000, 8, 8, 2));
    write(&dir.join("x_100k_8.f64"), &x100);
    let dbscan_100k = dbscan_case(&dir, "dbscan_100k_8", &x100, 0.5, 5, 3);
    let separated = standardize(blobs_spread(100_000, 8, 8, 2, 0.5));
    write(&dir.join("x_100k_8_separated.f64"), &separated);
    let dbscan_separated = dbscan_case(&dir, "dbscan_100k_8_separated", &separated, 0.5, 5, 3);
    let bisecting_100k = bisecting_case(&x100, 3);
    let gmm_full = gmm_case(&x100, 8, Covariance::Full);
    let gmm_diag = gmm_case(&x100, 8, Covariance::Diag);

    // 1,000,000 × 8 around 8 centres: bisecting where Ward cannot go.
    let x1m8 = standardize(blobs(1_000_000, 8, 8, 2));
    write(&dir.join("x_1m_8.f64"), &x1m8);
    let bisecting_1m = bisecting_case(&x1m8, 2);
    drop(x1m8);

    // 1,000,000 × 2 (two features, as income and spending score), standardized.
    let x1m = standardize(blobs(1_000_000, 2, 8, 3));
    write(&dir.join("x_1m_2.f64"), &x1m);
    let before = status_kb("VmHWM:");
    let dbscan_1m = dbscan_case(&dir, "dbscan_1m_2", &x1m, EPS_1M, MIN_POINTS_1M, 2);
    let peak = status_kb("VmHWM:");

    println!(
        "{}",
        json!({
            "threads": rayon::current_num_threads(),
            "restarts_mall": mall,
            "restarts_wholesale": wholesale,
            "bisecting_100k_8": bisecting_100k,
            "bisecting_1m_8": bisecting_1m,
            "dbscan_100k_8": dbscan_100k,
            "dbscan_100k_8_separated": dbscan_separated,
            "gmm_100k_8_full": gmm_full,
            "gmm_100k_8_diag": gmm_diag,
            "dbscan_1m_2": dbscan_1m,
            "memory": {"peak_rss_mb": peak / 1e3, "peak_before_dbscan_1m_mb": before / 1e3,
                       "data_1m_mb": 16.0},
        })
    );
}
