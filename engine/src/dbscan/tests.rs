use super::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// scikit-learn's DBSCAN as it is written (`dbscan_inner`): every row's neighbour list, then
/// a depth-first walk from each unlabelled core row in input order.
fn sklearn(x: &Array2<f64>, eps: f64, min_points: usize) -> Vec<Option<usize>> {
    let n = x.nrows();
    let neighbours: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| {
                    x.row(i)
                        .iter()
                        .zip(x.row(j).iter())
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        <= eps * eps
                })
                .collect()
        })
        .collect();
    let core: Vec<bool> = neighbours.iter().map(|v| v.len() >= min_points).collect();
    let mut labels: Vec<Option<usize>> = vec![None; n];
    let mut next = 0;
    for start in 0..n {
        if labels[start].is_some() || !core[start] {
            continue;
        }
        let mut stack = Vec::new();
        let mut i = start;
        loop {
            if labels[i].is_none() {
                labels[i] = Some(next);
                if core[i] {
                    stack.extend(neighbours[i].iter().filter(|&&v| labels[v].is_none()));
                }
            }
            match stack.pop() {
                Some(v) => i = v,
                None => break,
            }
        }
        next += 1;
    }
    labels
}

fn blobs(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let centres: Vec<Vec<f64>> = (0..4)
        .map(|_| (0..d).map(|_| rng.r#gen::<f64>() * 10.0).collect())
        .collect();
    Array2::from_shape_fn((n, d), |(i, f)| {
        // Rounded: duplicate rows and rows exactly eps apart occur.
        let v = centres[i % 4][f] + (rng.r#gen::<f64>() - 0.5) * 3.0;
        (v * 4.0).round() / 4.0
    })
}

#[test]
fn labels_are_scikit_learns_border_rows_and_numbering_included() {
    for (n, d, eps, min_points) in [
        (400, 2, 0.5, 5),
        (600, 2, 0.25, 3),
        (300, 3, 1.0, 8),
        (500, 8, 2.5, 4),
        (200, 1, 0.25, 2),
        (1500, 2, 0.3, 10),
    ] {
        let x = blobs(n, d, n as u64 + d as u64);
        let fit = dbscan(x.view(), &DbscanParams { eps, min_points }).unwrap();
        let want = sklearn(&x, eps, min_points);
        assert_eq!(
            fit.labels, want,
            "n {n} d {d} eps {eps} min_points {min_points}"
        );
        assert_eq!(
            fit.n_clusters,
            want.iter().flatten().max().map_or(0, |m| m + 1)
        );
        assert_eq!(fit.n_noise, want.iter().filter(|l| l.is_none()).count());
        // Core rows predict their own cluster; far away is noise.
        let predicted = fit.model.predict(fit.model.core_points.view());
        assert!(
            predicted
                .iter()
                .zip(&fit.model.core_labels)
                .all(|(p, &l)| *p == Some(l))
        );
        let far = Array2::from_elem((1, d), 1e6);
        assert_eq!(fit.model.predict(far.view()), vec![None]);
    }
}

#[test]
fn every_row_identical_is_one_cluster_and_too_few_are_noise() {
    let x = Array2::from_elem((50, 3), 1.5);
    let fit = dbscan(
        x.view(),
        &DbscanParams {
            eps: 0.1,
            min_points: 50,
        },
    )
    .unwrap();
    assert_eq!((fit.n_clusters, fit.n_noise), (1, 0));
    let fit = dbscan(
        x.view(),
        &DbscanParams {
            eps: 0.1,
            min_points: 51,
        },
    )
    .unwrap();
    assert_eq!((fit.n_clusters, fit.n_noise), (0, 50));
}

#[test]
fn bad_parameters_and_oversized_input_are_named() {
    let x = Array2::zeros((3, 2));
    let err = |p: DbscanParams| dbscan(x.view(), &p).unwrap_err().to_string();
    assert_eq!(
        err(DbscanParams {
            eps: 0.0,
            min_points: 3
        }),
        "eps must be a finite number > 0, got 0"
    );
    assert_eq!(
        err(DbscanParams {
            eps: f64::NAN,
            min_points: 3
        }),
        "eps must be a finite number > 0, got NaN"
    );
    assert_eq!(
        err(DbscanParams {
            eps: 1.0,
            min_points: 1
        }),
        "min_points must be at least 2, got 1"
    );
    let empty = Array2::<f64>::zeros((0, 2));
    assert!(matches!(
        dbscan(
            empty.view(),
            &DbscanParams {
                eps: 1.0,
                min_points: 2
            }
        ),
        Err(EngineError::Empty { .. })
    ));
    // The size rule is checked before any work (a view of one row repeated, no allocation).
    let row = [0.0, 0.0];
    let one = ndarray::ArrayView1::from(&row[..]);
    let huge = one.broadcast((DBSCAN_MAX_ROWS + 1, 2)).unwrap();
    let e = dbscan(
        huge,
        &DbscanParams {
            eps: 1.0,
            min_points: 2,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("rows must be at most 2000000 for DBSCAN"),
        "{e}"
    );
}

#[test]
fn the_model_round_trips_through_json_and_predicts_the_same() {
    let x = blobs(300, 2, 9);
    let fit = dbscan(
        x.view(),
        &DbscanParams {
            eps: 0.5,
            min_points: 4,
        },
    )
    .unwrap();
    let back: DbscanModel =
        serde_json::from_value(serde_json::to_value(&fit.model).unwrap()).unwrap();
    assert_eq!(back, fit.model);
    assert_eq!(back.predict(x.view()), fit.model.predict(x.view()));
    // A new point joins the cluster of its nearest core point within eps, as the scan did.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let probes = Array2::from_shape_fn((200, 2), |_| rng.r#gen::<f64>() * 12.0);
    let scan: Vec<Option<usize>> = probes
        .rows()
        .into_iter()
        .map(|r| {
            fit.model
                .core_points
                .rows()
                .into_iter()
                .zip(&fit.model.core_labels)
                .map(|(c, &l)| {
                    (
                        c.iter()
                            .zip(r.iter())
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum::<f64>(),
                        l,
                    )
                })
                .filter(|(d, _)| *d <= 0.25)
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, l)| l)
        })
        .collect();
    assert_eq!(fit.model.predict(probes.view()), scan);
}
