use super::*;

fn columns() -> Columns {
    Columns::from_options(
        ["a", "b", "c", "d"].into_iter().collect(),
        vec![
            ("x".into(), vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)]),
            ("y".into(), vec![Some(10.0), None, Some(30.0), Some(50.0)]),
        ],
    )
}

fn params(names: &[&str], scaling: Scaling, missing: Missing) -> PreprocessParams {
    PreprocessParams {
        features: names
            .iter()
            .map(|n| Feature {
                name: (*n).into(),
                transform: Transform::None,
            })
            .collect(),
        scaling,
        missing,
        weight: None,
        categorical: Vec::new(),
        category_weight: 1.0,
    }
}

fn held<'a>(p: &'a Prepared) -> &'a Array2<f64> {
    p.matrix.as_ref().expect("prepare holds the matrix")
}

#[test]
fn standard_scaling_uses_the_population_std_and_drops_missing_rows() {
    let c = columns();
    let p = prepare(&c, &params(&["x", "y"], Scaling::Standard, Missing::Drop)).unwrap();
    assert_eq!(p.kept, [0, 2, 3]);
    assert_eq!(p.dropped, 1);
    let mean: f64 = 8.0 / 3.0;
    let std = ((1.0 - mean).powi(2) + (3.0 - mean).powi(2) + (4.0 - mean).powi(2)) / 3.0;
    assert!((p.preprocessor.scale[0] - std.sqrt()).abs() < 1e-12);
    assert!((held(&p).column(0).sum()).abs() < 1e-12);
    let back = p.preprocessor.invert(held(&p).row(1).as_slice().unwrap());
    assert!((back[0] - 3.0).abs() < 1e-12 && (back[1] - 30.0).abs() < 1e-12);
}

#[test]
fn median_imputation_and_robust_scaling() {
    let c = columns();
    let p = prepare(&c, &params(&["y"], Scaling::Robust, Missing::ImputeMedian)).unwrap();
    assert_eq!(p.imputed, 1);
    assert_eq!(p.original.column(0).to_vec(), [10.0, 30.0, 30.0, 50.0]);
    assert_eq!(p.preprocessor.center, [30.0]);
    assert_eq!(p.preprocessor.scale, [10.0]); // q3 35 - q1 25
}

#[test]
fn complete_columns_are_read_in_place_and_nan_is_missing() {
    let mut c = columns();
    c.column_mut(1)[1] = 20.0;
    let p = prepare(&c, &params(&["x", "y"], Scaling::Standard, Missing::Drop)).unwrap();
    // No copy in original units: the columns themselves.
    assert!(p.original.is_view());
    assert_eq!(p.original.as_ptr(), c.column(0).as_ptr());
    assert_eq!(p.original.row(1).to_vec(), [2.0, 20.0]);
    assert!(held(&p).is_standard_layout());
    // Reordered features, or a missing value, are copied.
    let p = prepare(&c, &params(&["y", "x"], Scaling::Standard, Missing::Drop)).unwrap();
    assert!(!p.original.is_view());
    assert_eq!(p.original.row(1).to_vec(), [20.0, 2.0]);
    c.column_mut(0)[3] = f64::NAN;
    let p = prepare(&c, &params(&["x", "y"], Scaling::Standard, Missing::Drop)).unwrap();
    assert!(!p.original.is_view());
    assert_eq!((p.dropped, p.kept.clone()), (1, vec![0, 1, 2]));
}

#[test]
fn minmax_log1p_and_constant_features() {
    let mut c = columns();
    c.column_mut(1).fill(7.0);
    let mut p = params(&["x", "y"], Scaling::MinMax, Missing::Drop);
    p.features[0].transform = Transform::Log1p;
    let prep = prepare(&c, &p).unwrap();
    assert!((held(&prep)[[0, 0]]).abs() < 1e-12 && (held(&prep)[[3, 0]] - 1.0).abs() < 1e-12);
    assert_eq!(
        prep.preprocessor.scale[1], 1.0,
        "a constant feature is not scaled"
    );
    let z = prep.preprocessor.apply(&[2.0, 7.0]);
    let x = prep.preprocessor.invert(&z);
    assert!((x[0] - 2.0).abs() < 1e-12 && x[1] == 7.0);
}

#[test]
fn every_rule_is_a_clear_error() {
    let c = columns();
    assert_eq!(
        prepare(&c, &params(&[], Scaling::None, Missing::Drop)).unwrap_err(),
        EngineError::NoFeatures
    );
    assert!(matches!(
        prepare(&c, &params(&["z"], Scaling::None, Missing::Drop)),
        Err(EngineError::UnknownFeature { .. })
    ));
    assert!(matches!(
        prepare(&c, &params(&["x", "x"], Scaling::None, Missing::Drop)),
        Err(EngineError::DuplicateFeature { .. })
    ));
    let mut bad = c.clone();
    bad.column_mut(0)[2] = f64::INFINITY;
    let err = prepare(&bad, &params(&["x"], Scaling::None, Missing::Drop)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "row `c`: feature `x` is inf, not a finite number"
    );
    let mut none = c.clone();
    none.column_mut(1).fill(f64::NAN);
    assert!(matches!(
        prepare(&none, &params(&["y"], Scaling::None, Missing::Drop)),
        Err(EngineError::Empty { .. })
    ));
    let empty = Columns::from_options(Ids::default(), vec![("x".into(), vec![])]);
    assert!(matches!(
        prepare(&empty, &params(&["x"], Scaling::None, Missing::Drop)),
        Err(EngineError::Empty { .. })
    ));
    let mut neg = c;
    neg.column_mut(0)[0] = -1.0;
    let mut p = params(&["x"], Scaling::None, Missing::Drop);
    p.features[0].transform = Transform::Log1p;
    assert!(matches!(
        prepare(&neg, &p),
        Err(EngineError::LogDomain { .. })
    ));
}
