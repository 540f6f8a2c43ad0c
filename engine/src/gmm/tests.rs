use super::*;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn blobs(n: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array2::from_shape_fn((n, 3), |(i, f)| {
        let centre = [[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 6.0, 4.0]][i % 3][f];
        centre + (rng.r#gen::<f64>() - 0.5) * (1.0 + f as f64)
    })
}

/// The log-likelihood by the textbook formula, one row and one component at a time.
fn direct_log_likelihood(model: &GmmModel, x: &Array2<f64>) -> f64 {
    let d = x.ncols();
    let mut total = 0.0;
    for row in x.rows() {
        let mut sum = 0.0;
        for (j, w) in model.weights.iter().enumerate() {
            let c = &model.covariances[j];
            let l = pass_cholesky(c);
            let diff: Vec<f64> = (0..d).map(|f| row[f] - model.means[[j, f]]).collect();
            // Solve L y = diff.
            let mut y = vec![0.0; d];
            for a in 0..d {
                let s: f64 = (0..a).map(|m| l[a * d + m] * y[m]).sum();
                y[a] = (diff[a] - s) / l[a * d + a];
            }
            let maha: f64 = y.iter().map(|v| v * v).sum();
            let log_det: f64 = 2.0 * (0..d).map(|a| l[a * d + a].ln()).sum::<f64>();
            sum +=
                w * (-0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det + maha)).exp();
        }
        total += sum.ln();
    }
    total
}

fn pass_cholesky(c: &Array2<f64>) -> Vec<f64> {
    let d = c.nrows();
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i * d + m] * l[j * d + m]).sum();
            l[i * d + j] = if i == j {
                (c[[i, i]] - s).sqrt()
            } else {
                (c[[i, j]] - s) / l[j * d + j]
            };
        }
    }
    l
}

#[test]
fn em_raises_the_likelihood_and_the_figures_agree_with_the_formula() {
    let x = blobs(3000, 1);
    for covariance in [Covariance::Full, Covariance::Diag] {
        let params = GmmParams {
            covariance,
            ..GmmParams::new(3)
        };
        let fit = gmm(x.view(), &params).unwrap();
        assert!(
            fit.converged && fit.n_iter >= 1 && fit.n_iter < 100,
            "{covariance:?}"
        );
        let direct = direct_log_likelihood(&fit.model, &x);
        assert!(
            (fit.log_likelihood - direct).abs() <= 1e-9 * direct.abs(),
            "{covariance:?}"
        );
        // Three well-separated blobs: each found, a third of the rows each.
        let mut sizes = crate::sizes(fit.labels.iter().copied(), 3);
        sizes.sort();
        assert_eq!(sizes, vec![1000, 1000, 1000], "{covariance:?}");
        for row in fit.probabilities.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-12);
        }
        let free = match covariance {
            Covariance::Full => 3.0 * 6.0 + 9.0 + 2.0,
            Covariance::Diag => 9.0 + 9.0 + 2.0,
        };
        assert!((fit.bic - (-2.0 * fit.log_likelihood + free * 3000f64.ln())).abs() < 1e-6);
        // Diagonal models keep zeros off the diagonal.
        if covariance == Covariance::Diag {
            assert!(
                fit.model
                    .covariances
                    .iter()
                    .all(|c| c[[0, 1]] == 0.0 && c[[2, 0]] == 0.0)
            );
        }
        // Fewer EM iterations cannot end higher.
        let short = gmm(
            x.view(),
            &GmmParams {
                max_iter: 1,
                ..params.clone()
            },
        )
        .unwrap();
        assert!(!short.converged || short.n_iter == 1);
        assert!(short.log_likelihood <= fit.log_likelihood + 1e-9);
    }
}

#[test]
fn a_fit_is_the_same_on_any_number_of_threads() {
    let x = blobs(9000, 2);
    let params = GmmParams::new(4);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let a = one.install(|| gmm(x.view(), &params).unwrap());
    let b = gmm(x.view(), &params).unwrap();
    assert_eq!(a.log_likelihood.to_bits(), b.log_likelihood.to_bits());
    assert_eq!(a.model, b.model);
}

#[test]
fn a_model_from_before_diagonal_covariances_reads_as_full() {
    let json = serde_json::json!({
        "weights": [1.0],
        "means": {"v": 1, "dim": [1, 2], "data": [0.0, 0.0]},
        "covariances": [{"v": 1, "dim": [2, 2], "data": [1.0, 0.0, 0.0, 1.0]}]
    });
    let model: GmmModel = serde_json::from_value(json).unwrap();
    assert_eq!(model.covariance, Covariance::Full);
    let (ll, p) = model.log_likelihood(Array2::zeros((1, 2)).view()).unwrap();
    assert!((ll - -(2.0 * std::f64::consts::PI).ln()).abs() < 1e-12);
    assert_eq!(p[[0, 0]], 1.0);
}

#[test]
fn bad_parameters_and_collapsed_components_are_named() {
    let x = blobs(30, 3);
    let err = |p: GmmParams| gmm(x.view(), &p).unwrap_err().to_string();
    assert_eq!(
        err(GmmParams {
            max_iter: 0,
            ..GmmParams::new(2)
        }),
        "max_iter must be at least 1, got 0"
    );
    assert_eq!(
        err(GmmParams {
            tol: -1.0,
            ..GmmParams::new(2)
        }),
        "tol must be a finite number >= 0, got -1"
    );
    assert_eq!(
        err(GmmParams {
            reg_covar: f64::NAN,
            ..GmmParams::new(2)
        }),
        "reg_covar must be a finite number >= 0, got NaN"
    );
    // Two distinct rows repeated, no regularisation: a component's covariance is singular.
    let flat = Array2::from_shape_fn((20, 2), |(i, _)| (i % 2) as f64);
    let e = gmm(
        flat.view(),
        &GmmParams {
            reg_covar: 0.0,
            ..GmmParams::new(2)
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("covariance must be positive definite in every component"),
        "{e}"
    );
    assert!(
        gmm(flat.view(), &GmmParams::new(2)).is_ok(),
        "reg_covar keeps it invertible"
    );
}
