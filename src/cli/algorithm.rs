//! The `algorithm` member `segstore cluster`'s flags describe, read as the API reads it.

use crate::segmentation::algorithm::{self, AlgorithmConfig, KFields};
use crate::segmentation::kmeans::Restarts;
use crate::segmentation::pipeline::KChoice;
use crate::segmentation::selection::KRule;
use anyhow::{Context, anyhow, bail};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value};

/// The algorithm and its parameters.
#[derive(Debug, Clone, Args)]
pub struct AlgorithmArgs {
    /// The algorithm, as the API's `algorithm.type` names it: kmeans, gmm, dbscan, hdbscan,
    /// ward, bisecting, minibatch_kmeans (or minibatch-kmeans). Its parameters are the API's
    /// (docs/segmentations.md): `--param NAME=VALUE`, or the flags below.
    #[arg(long, default_value = "kmeans")]
    pub algorithm: String,
    /// One of the algorithm's parameters, as the API names it, e.g. `--param
    /// min_cluster_size=15` (hdbscan) or `--param covariance=diag` (gmm); repeat for more. The
    /// value is read as JSON, else as text.
    #[arg(long, value_name = "NAME=VALUE")]
    pub param: Vec<String>,
    /// `--param eps=…` (dbscan: the neighbourhood radius, in scaled units; 0.5 when not given).
    #[arg(long)]
    pub eps: Option<f64>,
    /// `--param min_points=…` (dbscan: rows within eps, the row included, that make a core
    /// point; 5 when not given).
    #[arg(long)]
    pub min_points: Option<usize>,
    /// `--param batch_size=…` (minibatch_kmeans: rows per step).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub batch_size: Option<usize>,
    /// `--param max_iter=…` (minibatch_kmeans: passes' worth of steps at most).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000))]
    pub minibatch_max_iter: Option<usize>,
    /// Mini-batch K-Means: steps without improvement of the smoothed batch inertia before it
    /// stops (0: never early, run every step); the service keeps scikit-learn's 10.
    #[arg(long)]
    pub max_no_improvement: Option<usize>,
    /// `--param covariance=…` (gmm: `full`, the default, or `diag`).
    #[arg(long)]
    pub covariance: Option<String>,
    /// The number of segments, or `auto` to choose it in --k-min..=--k-max (with the K-Means
    /// sweep). DBSCAN finds its own.
    #[arg(long, default_value = "auto")]
    pub k: String,
    #[arg(long, default_value_t = 2)]
    pub k_min: usize,
    #[arg(long, default_value_t = 10)]
    pub k_max: usize,
    /// How `--k auto` chooses.
    #[arg(long, value_enum, default_value_t = KRuleArg::Silhouette)]
    pub k_rule: KRuleArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KRuleArg {
    /// The k with the best mean silhouette.
    Silhouette,
    /// The knee of the inertia curve (Kneedle).
    Elbow,
}

/// The flags that set an algorithm's field, and the value scikit-learn's estimator defaults
/// it to when the API requires it.
const FIELD_FLAGS: [(&str, &str, Option<&str>); 5] = [
    ("eps", "--eps", Some("0.5")),
    ("min_points", "--min-points", Some("5")),
    ("batch_size", "--batch-size", None),
    ("max_iter", "--minibatch-max-iter", None),
    ("covariance", "--covariance", None),
];

/// The flag that sets an algorithm's field.
pub(super) fn flag_of(field: &str) -> String {
    match FIELD_FLAGS.iter().find(|(f, _, _)| *f == field) {
        Some((_, flag, _)) => flag.to_string(),
        None if field == "n_init" || field == "seed" => {
            format!("--{}", field.replace('_', "-"))
        }
        None => format!("--param {field}"),
    }
}

/// The `algorithm` member the flags describe, read as the API reads it: the registered
/// algorithm's parameters from `--param`, the flags naming its fields, and the restart and
/// seed flags when it has those fields (k is [`k_choice`]'s).
pub(super) fn algorithm_config(
    args: &AlgorithmArgs,
    seed: u64,
    n_init: Restarts,
) -> anyhow::Result<AlgorithmConfig> {
    let kind = args.algorithm.replace('-', "_");
    let Some(fields) = AlgorithmConfig::fields(&kind) else {
        bail!(
            "--algorithm must be one of {}, got `{}`",
            algorithm::NAMES.join(", "),
            args.algorithm
        );
    };
    let has = |field: &str| fields.iter().any(|f| f == field);
    let mut member = Map::new();
    member.insert("type".into(), kind.clone().into());
    if has("seed") {
        member.insert("seed".into(), seed.into());
    }
    if has("n_init") {
        let n_init = match n_init {
            Restarts::Auto => Value::from("auto"),
            Restarts::Fixed(n) => Value::from(n),
        };
        member.insert("n_init".into(), n_init);
    }
    let given: [(&str, Option<Value>); 5] = [
        ("eps", args.eps.map(Value::from)),
        ("min_points", args.min_points.map(Value::from)),
        ("batch_size", args.batch_size.map(Value::from)),
        ("max_iter", args.minibatch_max_iter.map(Value::from)),
        ("covariance", args.covariance.clone().map(Value::from)),
    ];
    for ((field, flag, default), (_, value)) in FIELD_FLAGS.iter().zip(given) {
        match value {
            Some(_) if !has(field) => bail!(
                "{flag} applies to --algorithm {} only",
                having(field).join(" or ")
            ),
            Some(value) => {
                member.insert(field.to_string(), value);
            }
            None => {
                if let (true, Some(default)) = (has(field), default) {
                    let default = serde_json::from_str(default).expect("a default is JSON");
                    member.insert(field.to_string(), default);
                }
            }
        }
    }
    for param in &args.param {
        let Some((name, raw)) = param.split_once('=') else {
            bail!("--param takes NAME=VALUE, got `{param}`");
        };
        if KFields::NAMES.contains(&name) {
            bail!("--param {name}: k is set with --k, --k-min, --k-max and --k-rule");
        }
        if name == "type" || !has(name) {
            let own: Vec<&str> = fields[1..]
                .iter()
                .map(String::as_str)
                .filter(|f| !KFields::NAMES.contains(f))
                .collect();
            bail!(
                "--param {name}: --algorithm {kind} has no such parameter; its parameters are {}",
                if own.is_empty() {
                    "k's alone".to_owned()
                } else {
                    own.join(", ")
                }
            );
        }
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::from(raw));
        member.insert(name.to_owned(), value);
    }
    let mut config = AlgorithmConfig::from_map(member).map_err(|e| {
        let (field, message) = algorithm::locate("", &e.to_string());
        anyhow!("--algorithm {kind}: {}: {message}", flag_of(&field))
    })?;
    if let Some(n) = args.max_no_improvement {
        match &mut config.params {
            algorithm::Params::MinibatchKmeans(p) => p.max_no_improvement = n,
            _ => bail!("--max-no-improvement applies to --algorithm minibatch_kmeans only"),
        }
    }
    Ok(config)
}

/// The number of segments the k flags ask for. The command line's own: any k the rows allow
/// (the engine says when they do not), where the service's configurations stop at 50.
pub(super) fn k_choice(args: &AlgorithmArgs) -> anyhow::Result<KChoice> {
    Ok(if args.k == "auto" {
        KChoice::Auto {
            min: args.k_min,
            max: args.k_max,
            rule: match args.k_rule {
                KRuleArg::Silhouette => KRule::Silhouette,
                KRuleArg::Elbow => KRule::Elbow,
            },
        }
    } else {
        KChoice::Fixed(
            args.k.parse().with_context(|| {
                format!("--k must be a whole number or `auto`, got `{}`", args.k)
            })?,
        )
    })
}

/// The algorithms that have a field.
fn having(field: &str) -> Vec<&'static str> {
    algorithm::NAMES
        .iter()
        .copied()
        .filter(|n| AlgorithmConfig::fields(n).is_some_and(|f| f.iter().any(|f| f == field)))
        .collect()
}
