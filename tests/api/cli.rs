use std::process::Command;

fn segstore(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    assert_eq!(segstore(&["openapi"]), committed);
}

/// Every setting of `serve`: its flag, its environment variable and its default.
const SETTINGS: [(&str, &str, Option<&str>); 39] = [
    ("--log", "SEGSTORE_LOG", Some("info")),
    ("--log-format", "SEGSTORE_LOG_FORMAT", Some("pretty")),
    ("--database-url", "DATABASE_URL", None),
    ("--data-dir", "SEGSTORE_DATA_DIR", Some(".segstore")),
    (
        "--db-max-connections",
        "SEGSTORE_DB_MAX_CONNECTIONS",
        Some("16"),
    ),
    ("--database-direct-url", "DATABASE_DIRECT_URL", None),
    ("--database-read-url", "DATABASE_READ_URL", None),
    (
        "--read-max-wait-ms",
        "SEGSTORE_READ_MAX_WAIT_MS",
        Some("500"),
    ),
    ("--bind", "SEGSTORE_BIND", Some("127.0.0.1:8080")),
    ("--max-batch", "SEGSTORE_MAX_BATCH", Some("10000")),
    (
        "--max-json-bytes",
        "SEGSTORE_MAX_JSON_BYTES",
        Some("33554432"),
    ),
    (
        "--max-csv-field-bytes",
        "SEGSTORE_MAX_CSV_FIELD_BYTES",
        Some("1048576"),
    ),
    (
        "--max-csv-line-bytes",
        "SEGSTORE_MAX_CSV_LINE_BYTES",
        Some("4194304"),
    ),
    (
        "--max-decompressed-bytes",
        "SEGSTORE_MAX_DECOMPRESSED_BYTES",
        Some("4294967296"),
    ),
    ("--max-attributes", "SEGSTORE_MAX_ATTRIBUTES", Some("512")),
    ("--public-url", "SEGSTORE_PUBLIC_URLS", None),
    ("--cors-origin", "SEGSTORE_CORS_ORIGINS", None),
    ("--rate-limit", "SEGSTORE_RATE_LIMIT", Some("100")),
    (
        "--rate-limit-burst",
        "SEGSTORE_RATE_LIMIT_BURST",
        Some("200"),
    ),
    (
        "--lookup-rate-limit",
        "SEGSTORE_LOOKUP_RATE_LIMIT",
        Some("10000"),
    ),
    (
        "--lookup-rate-limit-burst",
        "SEGSTORE_LOOKUP_RATE_LIMIT_BURST",
        Some("20000"),
    ),
    (
        "--refusal-summary-seconds",
        "SEGSTORE_REFUSAL_SUMMARY_SECONDS",
        Some("60"),
    ),
    (
        "--bootstrap-admin-key",
        "SEGSTORE_BOOTSTRAP_ADMIN_KEY",
        None,
    ),
    ("--metrics-bind", "SEGSTORE_METRICS_BIND", None),
    ("--http-workers", "SEGSTORE_HTTP_WORKERS", None),
    (
        "--shutdown-timeout",
        "SEGSTORE_SHUTDOWN_TIMEOUT",
        Some("30"),
    ),
    ("--run-workers", "SEGSTORE_RUN_WORKERS", Some("1")),
    (
        "--run-lease-seconds",
        "SEGSTORE_RUN_LEASE_SECONDS",
        Some("30"),
    ),
    ("--run-poll-ms", "SEGSTORE_RUN_POLL_MS", Some("1000")),
    ("--run-max-attempts", "SEGSTORE_RUN_MAX_ATTEMPTS", Some("3")),
    ("--keep-assignments", "SEGSTORE_KEEP_ASSIGNMENTS", Some("5")),
    ("--lookup-cache-mb", "SEGSTORE_LOOKUP_CACHE_MB", Some("512")),
    ("--lookup-ttl-ms", "SEGSTORE_LOOKUP_TTL_MS", Some("1000")),
    ("--webhook-workers", "SEGSTORE_WEBHOOK_WORKERS", Some("2")),
    ("--webhook-allow", "SEGSTORE_WEBHOOK_ALLOW", None),
    (
        "--webhook-timeout-seconds",
        "SEGSTORE_WEBHOOK_TIMEOUT_SECONDS",
        Some("10"),
    ),
    (
        "--webhook-retry-base-ms",
        "SEGSTORE_WEBHOOK_RETRY_BASE_MS",
        Some("5000"),
    ),
    (
        "--webhook-give-up-seconds",
        "SEGSTORE_WEBHOOK_GIVE_UP_SECONDS",
        Some("86400"),
    ),
    ("--webhook-poll-ms", "SEGSTORE_WEBHOOK_POLL_MS", Some("500")),
];

#[test]
fn help_documents_every_setting_with_its_variable() {
    let help = segstore(&["serve", "--help"]);
    // Each setting's paragraph: from its flag to the next flag.
    let paragraph = |flag: &str| -> String {
        let at = help
            .find(&format!("      {flag} "))
            .or_else(|| help.find(&format!("      {flag}\n")))
            .unwrap_or_else(|| panic!("`serve --help` does not list {flag}:\n{help}"));
        let rest = &help[at + flag.len() + 6..];
        let end = rest.find("\n      -").unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    for (flag, variable, default) in SETTINGS {
        let text = paragraph(flag);
        assert!(
            text.contains(&format!("[env: {variable}")),
            "{flag} does not name {variable}:\n{text}"
        );
        match default {
            Some(default) => assert!(
                text.contains(&format!("[default: {default}]")),
                "{flag} does not give its default {default}:\n{text}"
            ),
            None => assert!(!text.contains("[default:"), "{flag}:\n{text}"),
        }
    }
    // And nothing else: a new setting joins the list above.
    let flags = help
        .lines()
        .filter(|l| l.trim_start().starts_with("--") && !l.contains("--help"))
        .count();
    assert_eq!(flags, SETTINGS.len(), "{help}");
    let top = segstore(&["--help"]);
    for command in [
        "serve",
        "keys",
        "report-role",
        "migrate",
        "openapi",
        "cluster",
    ] {
        assert!(top.contains(command), "{top}");
    }
}

#[test]
fn every_setting_is_read_from_its_environment_variable() {
    // A value clap refuses, given only through the variable: the refusal names the flag.
    for (flag, variable, bad) in [
        ("--max-batch", "SEGSTORE_MAX_BATCH", "0"),
        ("--webhook-allow", "SEGSTORE_WEBHOOK_ALLOW", "internet"),
        (
            "--webhook-timeout-seconds",
            "SEGSTORE_WEBHOOK_TIMEOUT_SECONDS",
            "0",
        ),
        (
            "--webhook-retry-base-ms",
            "SEGSTORE_WEBHOOK_RETRY_BASE_MS",
            "1",
        ),
        (
            "--webhook-give-up-seconds",
            "SEGSTORE_WEBHOOK_GIVE_UP_SECONDS",
            "0",
        ),
        ("--webhook-poll-ms", "SEGSTORE_WEBHOOK_POLL_MS", "x"),
        ("--webhook-workers", "SEGSTORE_WEBHOOK_WORKERS", "-1"),
        (
            "--db-max-connections",
            "SEGSTORE_DB_MAX_CONNECTIONS",
            "many",
        ),
        ("--run-lease-seconds", "SEGSTORE_RUN_LEASE_SECONDS", "1"),
        ("--run-poll-ms", "SEGSTORE_RUN_POLL_MS", "5"),
        ("--run-max-attempts", "SEGSTORE_RUN_MAX_ATTEMPTS", "0"),
        ("--keep-assignments", "SEGSTORE_KEEP_ASSIGNMENTS", "0"),
        ("--log-format", "SEGSTORE_LOG_FORMAT", "xml"),
        ("--lookup-ttl-ms", "SEGSTORE_LOOKUP_TTL_MS", "-1"),
        ("--shutdown-timeout", "SEGSTORE_SHUTDOWN_TIMEOUT", "soon"),
        ("--http-workers", "SEGSTORE_HTTP_WORKERS", "x"),
        ("--lookup-cache-mb", "SEGSTORE_LOOKUP_CACHE_MB", "x"),
        ("--run-workers", "SEGSTORE_RUN_WORKERS", "x"),
        ("--max-json-bytes", "SEGSTORE_MAX_JSON_BYTES", "x"),
        ("--max-csv-field-bytes", "SEGSTORE_MAX_CSV_FIELD_BYTES", "0"),
        ("--max-csv-line-bytes", "SEGSTORE_MAX_CSV_LINE_BYTES", "x"),
        ("--max-attributes", "SEGSTORE_MAX_ATTRIBUTES", "0"),
        (
            "--public-url",
            "SEGSTORE_PUBLIC_URLS",
            "https://a.example/path",
        ),
        ("--cors-origin", "SEGSTORE_CORS_ORIGINS", "ftp://a.example"),
        ("--rate-limit", "SEGSTORE_RATE_LIMIT", "-1"),
        ("--rate-limit-burst", "SEGSTORE_RATE_LIMIT_BURST", "0"),
        ("--lookup-rate-limit", "SEGSTORE_LOOKUP_RATE_LIMIT", "x"),
        (
            "--lookup-rate-limit-burst",
            "SEGSTORE_LOOKUP_RATE_LIMIT_BURST",
            "0",
        ),
        (
            "--refusal-summary-seconds",
            "SEGSTORE_REFUSAL_SUMMARY_SECONDS",
            "0",
        ),
        (
            "--bootstrap-admin-key",
            "SEGSTORE_BOOTSTRAP_ADMIN_KEY",
            "maybe",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_segstore"))
            .arg("serve")
            .env(variable, bad)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{variable}={bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{variable}={bad}: {stderr}");
    }
}

#[test]
fn a_bad_setting_is_refused_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .args(["serve", "--max-batch", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-batch"), "{stderr}");
}

const MALL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/Mall_Customers.csv"
);

fn cluster(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("cluster")
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn cluster_prints_five_labelled_mall_segments() {
    let out = cluster(&[
        MALL,
        "--features",
        "annual_income_k,spending_score",
        "--k",
        "auto",
    ]);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("k = 5 (best silhouette)"), "{table}");
    // The default restarts on 200 rows: 25,000 / 200.
    assert!(table.contains("(best of 125 restarts)"), "{table}");
    for label in [
        "Low annual income · High spending score         Impulsive",
        "Low annual income · Low spending score          Bargain / low value",
        "Average annual income · Average spending score  Average",
        "High annual income · High spending score        VIP",
        "High annual income · Low spending score         Potential converters",
    ] {
        assert!(table.contains(label), "{label} missing from\n{table}");
    }
    assert!(table.contains("← elbow, best silhouette"), "{table}");
    let numbers: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("segment"))
        .skip(1)
        .take(5)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(numbers, ["1", "2", "3", "4", "5"], "{table}");
}

#[test]
fn cluster_json_and_assignments_reproduce_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    let assignments = dir.path().join("out.csv");
    let out = cluster(&[
        MALL,
        "--features",
        "annual_income_k,spending_score",
        "--k",
        "5",
        "--scaling",
        "none",
        "--rng",
        "sklearn",
        "--format",
        "json",
        "--assignments",
        assignments.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["k"], 5);
    assert_eq!(json["k_rule"], "given");
    // `--n-init auto` (the default) is scikit-learn's n_init=10 with its stream.
    assert_eq!(json["restarts"], 10);
    assert!((json["metrics"]["inertia"].as_f64().unwrap() - 44448.455448).abs() < 1e-3);
    let sizes: Vec<u64> = json["profiles"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [22, 23, 81, 39, 35]);
    assert_eq!(json["centroids_model_space"].as_array().unwrap().len(), 5);
    let phases: Vec<&str> = json["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["preprocess", "fit", "metrics", "profiles"]);

    let csv = std::fs::read_to_string(&assignments).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 201);
    assert_eq!(lines[0], "id,segment,distance");
    // Segments are numbered from 1 everywhere (the server's ids, the dashboard's #1…#5).
    assert!(lines[1].starts_with("0001,2,"), "{}", lines[1]);
    let numbers: Vec<u64> = json["profiles"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["segment"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
}

#[test]
fn cluster_refuses_bad_input_with_a_message() {
    for (args, needle) in [
        (
            vec![MALL, "--features", "income"],
            "unknown feature `income`; the data has `age`, `annual_income_k`, `spending_score`",
        ),
        (
            vec![MALL, "--features", "age", "--k", "0"],
            "k must be at least 1",
        ),
        (
            vec![MALL, "--features", "age", "--k", "201"],
            "more than the 200 rows",
        ),
        (
            vec![MALL, "--features", "age", "--k", "many"],
            "--k must be a whole number or `auto`",
        ),
        (
            vec![MALL, "--features", "age", "--k-min", "1"],
            "invalid k range 1..=10",
        ),
        (
            vec![MALL, "--features", "age", "--log1p", "spending_score"],
            "not among --features",
        ),
        (
            vec![MALL, "--features", "age", "--covariance", "diag"],
            "--covariance applies to --algorithm gmm only",
        ),
        (
            vec![MALL, "--features", "age", "--algorithm", "spectral"],
            "--algorithm must be one of kmeans, gmm, dbscan, ward, bisecting, minibatch_kmeans, hdbscan, got `spectral`",
        ),
        (
            vec![MALL, "--features", "age", "--param", "eps=0.5"],
            "--param eps: --algorithm kmeans has no such parameter; its parameters are n_init, seed, init",
        ),
        (
            vec![MALL, "--features", "age", "--param", "k=3"],
            "--param k: k is set with --k, --k-min, --k-max and --k-rule",
        ),
        (
            vec![MALL, "--features", "age", "--param", "seed"],
            "--param takes NAME=VALUE, got `seed`",
        ),
        (
            vec![
                MALL,
                "--features",
                "age",
                "--algorithm",
                "hdbscan",
                "--param",
                "min_cluster_size=1",
            ],
            "--param min_cluster_size: must be between 2 and 1000000, got 1",
        ),
        (
            vec![
                MALL,
                "--features",
                "age",
                "--algorithm",
                "hdbscan",
                "--param",
                "cluster_selection_method=tallest",
            ],
            "--algorithm hdbscan: --param cluster_selection_method: unknown variant `tallest`, expected `eom` or `leaf`",
        ),
        (
            vec![
                MALL,
                "--features",
                "age",
                "--algorithm",
                "gmm",
                "--max-no-improvement",
                "3",
            ],
            "--max-no-improvement applies to --algorithm minibatch_kmeans only",
        ),
        (
            vec![MALL, "--features", "age", "--sweep-sample", "1"],
            "--sweep-sample",
        ),
        (
            vec![MALL, "--features", "age", "--n-init", "0"],
            "invalid value '0' for '--n-init <N_INIT>': must be between 1 and 1000 or auto, got 0",
        ),
        (
            vec![MALL, "--features", "age", "--n-init", "often"],
            "must be between 1 and 1000 or auto, got often",
        ),
        (
            vec!["/nonexistent.csv", "--features", "age"],
            "reading /nonexistent.csv",
        ),
    ] {
        let out = cluster(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn cluster_runs_hdbscan_with_its_parameters_as_the_api_names_them() {
    // scikit-learn 1.9's HDBSCAN(min_cluster_size=10, min_samples=5) on the standardized
    // features: 2 segments, 39 customers noise (tests/fixtures/reference/hdbscan.py).
    let dir = tempfile::tempdir().unwrap();
    let out_csv = dir.path().join("hdbscan.csv");
    let out = cluster(&[
        MALL,
        "--features",
        "age,annual_income_k,spending_score",
        "--algorithm",
        "hdbscan",
        "--param",
        "min_cluster_size=10",
        "--param",
        "min_samples=5",
        "--format",
        "json",
        "--assignments",
        out_csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            json["algorithm"].as_str(),
            json["k"].as_u64(),
            json["noise"].as_u64(),
            json["k_rule"].as_str(),
            json["score"].as_str()
        ),
        (
            Some("hdbscan"),
            Some(2),
            Some(39),
            Some("density (HDBSCAN)"),
            Some("probability")
        )
    );
    let csv = std::fs::read_to_string(&out_csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,segment,probability"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 200);
    assert_eq!(rows.iter().filter(|r| r.ends_with(",noise,")).count(), 39);
    for row in rows.iter().filter(|r| !r.ends_with(",noise,")) {
        let strength: f64 = row.rsplit(',').next().unwrap().parse().unwrap();
        assert!(strength > 0.0 && strength <= 1.0, "{row}");
    }
    // The table says how the segments were found.
    let out = cluster(&[
        MALL,
        "--features",
        "age,annual_income_k,spending_score",
        "--algorithm",
        "hdbscan",
        "--param",
        "min_cluster_size=10",
        "--param",
        "cluster_selection_method=leaf",
    ]);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("clustered by hdbscan"), "{table}");
}

#[test]
fn cluster_runs_the_other_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    let out_csv = dir.path().join("dbscan.csv");
    let out = cluster(&[
        MALL,
        "--features",
        "annual_income_k,spending_score",
        "--algorithm",
        "dbscan",
        "--format",
        "json",
        "--assignments",
        out_csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            json["algorithm"].as_str(),
            json["k"].as_u64(),
            json["noise"].as_u64()
        ),
        (Some("dbscan"), Some(2), Some(8))
    );
    let csv = std::fs::read_to_string(&out_csv).unwrap();
    assert_eq!(csv.lines().filter(|l| l.ends_with(",noise,")).count(), 8);

    let gmm_csv = dir.path().join("gmm.csv");
    let out = cluster(&[
        MALL,
        "--features",
        "annual_income_k,spending_score",
        "--algorithm",
        "gmm",
        "--k",
        "5",
        "--scaling",
        "none",
        "--format",
        "json",
        "--assignments",
        gmm_csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((json["mixture"]["bic"].as_f64().unwrap() - 3664.452185).abs() / 3664.452185 < 1e-3);
    let csv = std::fs::read_to_string(&gmm_csv).unwrap();
    assert!(csv.starts_with("id,segment,probability\n"), "{csv}");

    // Diagonal covariances, with scikit-learn's random stream: GaussianMixture(5,
    // covariance_type="diag", random_state=42) on the standardized features, iteration for
    // iteration (tests/fixtures/reference/dbscan_gmm.py).
    let out = cluster(&[
        MALL,
        "--features",
        "annual_income_k,spending_score",
        "--algorithm",
        "gmm",
        "--covariance",
        "diag",
        "--k",
        "5",
        "--rng",
        "sklearn",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = -2.2862910980855222;
    let got = json["mixture"]["mean_log_likelihood"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-6 * want.abs(), "{got}");
    assert_eq!(json["n_iter"], 3, "{json:#}");

    // Mini-batch K-Means: every step when early stopping is off (200 rows, batches of 32, one
    // pass: 7 steps), near Lloyd's inertia on Mall's five groups.
    let out = cluster(&[
        MALL,
        "--features",
        "annual_income_k,spending_score",
        "--algorithm",
        "minibatch-kmeans",
        "--batch-size",
        "32",
        "--minibatch-max-iter",
        "1",
        "--max-no-improvement",
        "0",
        "--k",
        "5",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["algorithm"].as_str(), json["n_iter"].as_u64()),
        (Some("minibatch_kmeans"), Some(7))
    );
    let out = cluster(&[
        MALL,
        "--features",
        "annual_income_k,spending_score",
        "--algorithm",
        "minibatch-kmeans",
        "--batch-size",
        "0",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--batch-size"),
        "{out:?}"
    );

    let out = cluster(&[
        MALL,
        "--features",
        "annual_income_k,spending_score",
        "--algorithm",
        "ward",
        "--k",
        "auto",
        "--scaling",
        "none",
    ]);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("clustered by ward") && table.contains("k = 5 (best silhouette)"),
        "{table}"
    );

    let out = cluster(&[
        MALL,
        "--features",
        "age",
        "--algorithm",
        "dbscan",
        "--eps",
        "0.0001",
        "--min-points",
        "50",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("every row is noise"));
}

#[test]
fn cluster_on_principal_components() {
    let out = cluster(&[
        MALL,
        "--features",
        "age,annual_income_k,spending_score",
        "--pca",
        "2",
        "--k",
        "5",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ratios: Vec<f64> = json["pca"]["explained_variance_ratio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        (ratios[0] - 0.4426616720824504).abs() < 1e-9
            && (ratios[1] - 0.33308378461522425).abs() < 1e-9,
        "{ratios:?}"
    );
    // Profiles stay in the features' units.
    assert_eq!(
        json["profiles"]["features"],
        serde_json::json!(["age", "annual_income_k", "spending_score"])
    );
    let out = cluster(&[MALL, "--features", "age", "--pca", "2"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("pca components must be between 1 and the number of features")
    );
}

const WHOLESALE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/wholesale_customers.csv"
);

#[test]
fn cluster_reads_a_file_without_an_id_column_as_published() {
    // The UCI Wholesale customers file has no id column: rows are numbered 1..440, and the
    // assignments file says so in its header.
    let dir = tempfile::tempdir().unwrap();
    let out_csv = dir.path().join("wholesale.csv");
    let spend = "fresh,milk,grocery,frozen,detergents_paper,delicassen";
    let out = cluster(&[
        WHOLESALE,
        "--features",
        spend,
        "--log1p",
        spend,
        "--k",
        "3",
        "--assignments",
        out_csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no customer id column") && stderr.contains("numbered 1..n"),
        "{stderr}"
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.starts_with("440 customers clustered by kmeans"),
        "{table}"
    );
    let csv = std::fs::read_to_string(&out_csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("row,segment,distance"));
    let rows: Vec<usize> = lines
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(rows, (1..=440).collect::<Vec<_>>());

    // Naming a column whose values repeat as the id is refused, as the import refuses it.
    let out = cluster(&[WHOLESALE, "--features", spend, "--id-column", "Channel"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("customer id `2` appears more than once (at lines 2, 3, 4"),
        "{stderr}"
    );
}

#[test]
fn cluster_bisects_and_prints_the_split_tree() {
    let spend = "fresh,milk,grocery,frozen,detergents_paper,delicassen";
    let args = [
        WHOLESALE,
        "--features",
        spend,
        "--log1p",
        spend,
        "--algorithm",
        "bisecting",
        "--k",
        "4",
    ];
    let out = cluster(&args);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("440 customers clustered by bisecting"),
        "{table}"
    );
    assert!(table.contains("(best of 56 restarts per split)"), "{table}");
    let splits: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("split tree"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(splits.len(), 3, "{table}");
    assert!(
        splits[0].starts_with("   1. segments 1, 2, 3, 4 (440) → "),
        "{table}"
    );
    // The JSON carries the tree, its leaves numbered as the segments are shown (from 1).
    let out = cluster(&[&args[..], &["--format", "json"]].concat());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["algorithm"], "bisecting");
    let nodes = json["split_tree"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 7);
    let mut leaves: Vec<u64> = nodes.iter().filter_map(|n| n["cluster"].as_u64()).collect();
    leaves.sort_unstable();
    assert_eq!(leaves, [1, 2, 3, 4]);
}

/// The README's `segstore cluster` example prints, line for line, what the README shows under
/// it (`…` ends a line whose rest varies: the timings).
#[test]
fn the_readme_cluster_example_prints_what_the_readme_shows() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let command = "cargo run --release -- cluster ";
    let at = readme.find(command).expect("the README's cluster example");
    let args: Vec<&str> = readme[at + command.len()..]
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let shown_at = at + readme[at..].find("```\n```\n").expect("its output block") + 8;
    let shown = &readme[shown_at..shown_at + readme[shown_at..].find("\n```").unwrap()];
    let out = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("cluster")
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let printed: Vec<&str> = printed.lines().collect();
    let shown: Vec<&str> = shown.lines().collect();
    assert_eq!(
        printed.len(),
        shown.len(),
        "printed:\n{}",
        printed.join("\n")
    );
    for (p, s) in printed.iter().zip(&shown) {
        match s.strip_suffix('…') {
            Some(prefix) => assert!(p.starts_with(prefix), "`{p}` is not `{s}`"),
            None => assert_eq!(p, s),
        }
    }
}

/// `DATABASE_URL=` (an env file's empty line) means no URL, as unset does: the embedded
/// PostgreSQL, not a refusal of "" as a URL. The same for the direct and read URLs.
#[test]
fn empty_database_urls_mean_none() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    // Reachable by the postgres user the embedded server runs as under root.
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("migrate")
        .env("DATABASE_URL", "")
        .env("DATABASE_DIRECT_URL", " ")
        .env("DATABASE_READ_URL", "")
        .env("SEGSTORE_DATA_DIR", data.path())
        .env("SEGSTORE_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("embedded PostgreSQL"), "{stderr}");
    assert!(data.path().join("postgres/PG_VERSION").exists(), "{stderr}");
    // A URL that is not one is still refused, naming the variable.
    let out = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("migrate")
        .env("DATABASE_URL", "not a url")
        .env("SEGSTORE_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL is not a valid PostgreSQL URL")
    );
}
