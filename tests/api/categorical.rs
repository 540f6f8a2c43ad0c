//! Categorical features in `segstore cluster` (`--categorical`, `--category-weight`): the
//! leading level of each segment in the table, the shares and lifts in the JSON, labels that
//! name a segment's gender when it stands out, and clear errors.

use serde_json::Value;

fn cluster(file: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("cluster")
        .arg(file)
        .args(args)
        .output()
        .expect("the binary runs")
}

const WHOLESALE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/wholesale_customers.csv"
);

#[test]
fn the_cli_clusters_on_gender_too() {
    let args = [
        "--features",
        "age,annual_income_k,spending_score",
        "--categorical",
        "gender",
        "--k",
        "6",
    ];
    let out = cluster(crate::helpers::MALL_CSV, &args);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains(
            "on age, annual_income_k, spending_score and gender (one-hot, weight 0.7071)"
        ),
        "{table}"
    );
    // The everyone row: 112 of the 200 customers are women.
    assert!(table.contains("56% Female"), "{table}");

    // Weighed more, gender splits the segments and the labels say so.
    let heavy = cluster(
        crate::helpers::MALL_CSV,
        &[&args[..], &["--category-weight", "2", "--format", "json"]].concat(),
    );
    assert!(heavy.status.success(), "{heavy:?}");
    let body: Value = serde_json::from_slice(&heavy.stdout).unwrap();
    let everyone = &body["profiles"]["categories"][0];
    assert_eq!(everyone["feature"], "gender");
    assert_eq!(everyone["levels"][0]["level"], "Female");
    assert_eq!(everyone["levels"][0]["share"], 0.56);
    let segments = body["profiles"]["segments"].as_array().unwrap();
    for s in segments {
        let levels = s["categories"][0]["levels"].as_array().unwrap();
        let female = levels[0]["share"].as_f64().unwrap();
        let lift = levels[0]["lift"].as_f64().unwrap();
        assert!((lift - female / 0.56).abs() < 1e-12, "{s:#}");
        let label = s["label"].as_str().unwrap();
        if female == 1.0 {
            assert!(label.starts_with("All female · "), "{label}");
        } else if female == 0.0 {
            assert!(label.starts_with("All male · "), "{label}");
        }
    }
    assert!(
        segments
            .iter()
            .any(|s| s["label"].as_str().unwrap().starts_with("All female"))
    );
}

/// Numeric codes (the Wholesale file's `channel`: 1 hotel/restaurant/café, 2 retail) are
/// categories too, and a label names the feature with the code.
#[test]
fn numeric_codes_are_categories_named_with_their_feature() {
    let spend = "fresh,milk,grocery,frozen,detergents_paper,delicassen";
    let out = cluster(
        WHOLESALE,
        &[
            "--features",
            spend,
            "--log1p",
            spend,
            "--categorical",
            "channel",
            "--k",
            "4",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("Mostly channel 1 · "), "{table}");
    assert!(table.contains("Mostly channel 2 · "), "{table}");
}

#[test]
fn bad_categorical_options_are_refused_with_a_message() {
    for (extra, message) in [
        (
            vec!["--categorical", "colour"],
            "--categorical names `colour`, which the header does not have",
        ),
        (
            vec!["--categorical", "gender", "--category-weight", "0"],
            "category weight must be a finite number above 0, got 0",
        ),
        (
            vec!["--categorical", "gender,gender"],
            "feature `gender` is listed twice",
        ),
    ] {
        let out = cluster(
            crate::helpers::MALL_CSV,
            &[
                &["--features", "age,spending_score", "--k", "3"],
                &extra[..],
            ]
            .concat(),
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}
