//! `segstore cluster`: the notebook as one command. Reads a CSV file, runs the engine and
//! prints the segments (a table, or JSON), optionally writing every assignment.

use super::algorithm::AlgorithmArgs;
use super::table::{Asked, shown_segment, table};
use crate::ingest::dataset::{RowIds, categories_from_csv, read_csv};
use crate::segmentation::bisecting::SplitTree;
use crate::segmentation::categorical;
use crate::segmentation::kmeans::{KMeansParams, RandomStream, Restarts};
use crate::segmentation::model::Assign;
use crate::segmentation::pipeline::{self, RunParams, RunResult};
use crate::segmentation::preprocess::{Missing, PreprocessParams, Scaling};
use anyhow::{Context, anyhow, bail};
use clap::{Args, ValueEnum};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    Table,
    /// JSON for programs: k, metrics, elbow curve, profiles, labels, timings.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScalingArg {
    None,
    /// z-scores with the population standard deviation (scikit-learn's StandardScaler).
    Standard,
    Minmax,
    /// (x - median) / IQR.
    Robust,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RngArg {
    /// segstore's own streams (xoshiro256++).
    Segstore,
    /// numpy's MT19937, drawn as scikit-learn's KMeans(random_state=SEED) does: the same
    /// restarts, and so the same result, as a scikit-learn notebook.
    Sklearn,
}

#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The CSV file: a header line, a customer id column, numeric feature columns. Headers are
    /// read as the import endpoint reads them (`Annual Income (k$)` is `annual_income_k`).
    pub file: PathBuf,
    /// Comma-separated features to cluster on, e.g. `annual_income_k,spending_score`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub features: Vec<String>,
    #[command(flatten)]
    pub algorithm: AlgorithmArgs,
    /// `--k auto` sweeps a seeded sample of this many rows when there are more, then fits the
    /// chosen k on every row (as the service does). A number at least the rows' sweeps them
    /// all.
    #[arg(long, default_value_t = pipeline::SWEEP_SAMPLE_ROWS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..))]
    pub sweep_sample: usize,
    #[arg(long, value_enum, default_value_t = ScalingArg::Standard)]
    pub scaling: ScalingArg,
    /// Comma-separated features to transform with ln(1 + x) before scaling.
    #[arg(long, value_delimiter = ',')]
    pub log1p: Vec<String>,
    /// Cluster on this many principal components of the scaled features (PCA) instead of the
    /// features themselves; profiles stay in the features' units.
    #[arg(long)]
    pub pca: Option<usize>,
    /// Fill missing values with the feature's median instead of leaving the rows out.
    #[arg(long)]
    pub impute_median: bool,
    /// Comma-separated categorical columns to cluster on too (one-hot encoded), e.g.
    /// `gender`; any column, read as text (numeric codes such as `channel` included).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// The one-hot columns' weight: two customers of different levels are √2 × this apart
    /// (the default, 1/√2, makes that one standard deviation of a standardised feature).
    #[arg(long, default_value_t = categorical::DEFAULT_WEIGHT)]
    pub category_weight: f64,
    /// A numeric column weighing each customer (e.g. revenue), as scikit-learn's
    /// `sample_weight`; K-Means only. Rows without it are left out; a negative value is an
    /// error. The table adds each segment's share of the weight.
    #[arg(long)]
    pub weight: Option<String>,
    /// K-Means restarts (the lowest inertia is kept): 1 to 1000, or `auto`: 25,000 / rows,
    /// between 3 and 1,000 (10 with `--rng sklearn`, as `KMeans(n_init=10)`).
    #[arg(long, default_value = "auto", value_parser = parse_n_init)]
    pub n_init: Restarts,
    #[arg(long, default_value_t = 300)]
    pub max_iter: usize,
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// The seed: the same data, parameters and seed give the same segments.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = RngArg::Segstore)]
    pub rng: RngArg,
    /// The id column's header, when it is not CustomerID, customer_id or id.
    #[arg(long)]
    pub id_column: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Also write `id,segment,distance` (`probability` for gmm; segment `noise` for DBSCAN's
    /// noise) for every customer clustered to this CSV file.
    #[arg(long)]
    pub assignments: Option<PathBuf>,
}

pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let started = std::time::Instant::now();
    let dataset = read_csv(&bytes, args.id_column.as_deref())
        .with_context(|| format!("reading {}", args.file.display()))?;
    let numbered = dataset.ids == RowIds::Numbered;
    if numbered {
        eprintln!(
            "{} has no customer id column (CustomerID, customer_id, id, …; or --id-column): \
             its rows are numbered 1..n in file order{}",
            args.file.display(),
            if args.assignments.is_some() {
                ", the `row` column of --assignments"
            } else {
                ""
            }
        );
    }
    let mut columns = dataset.columns;
    columns.categories = categories_from_csv(&bytes, &args.categorical, columns.rows())
        .with_context(|| format!("reading {}", args.file.display()))?;
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    let params = params(args)?;
    let result = pipeline::run(&columns, &params)?;
    let out = match args.format {
        OutputFormat::Table => table(
            &result,
            &Asked {
                scaling: format!("{:?}", args.scaling).to_lowercase(),
                categorical: &args.categorical,
                category_weight: args.category_weight,
                weight: args.weight.as_deref(),
            },
        ),
        OutputFormat::Json => json(&result, args, read_ms)?,
    };
    std::io::stdout().write_all(out.as_bytes())?;
    if let Some(path) = &args.assignments {
        let id = if numbered { "row" } else { "id" };
        let mut csv = format!("{id},segment,{}\n", result.score);
        for (row, segment, score) in result.assignments.iter() {
            let id = crate::ingest::csv::field(&columns.row_ids[row]);
            let _ = match segment {
                Some(s) => writeln!(csv, "{id},{},{score}", shown_segment(s)),
                None => writeln!(csv, "{id},noise,"),
            };
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn params(args: &ClusterArgs) -> anyhow::Result<RunParams> {
    for name in &args.log1p {
        if !args.features.contains(name) {
            bail!("--log1p names `{name}`, which is not among --features");
        }
    }
    let mut kmeans = KMeansParams::new(1)
        .restarts(args.n_init)
        .max_iter(args.max_iter)
        .tol(args.tol)
        .seed(args.seed)
        .stream(match args.rng {
            RngArg::Segstore => RandomStream::Segstore,
            RngArg::Sklearn => RandomStream::ScikitLearn,
        });
    let config = super::algorithm::algorithm_config(&args.algorithm, args.seed, args.n_init)?;
    let checked = config.check(&mut kmeans).map_err(|problems| {
        let problems: Vec<String> = problems
            .into_inner()
            .into_iter()
            .map(|(field, message)| format!("{}: {message}", super::algorithm::flag_of(&field)))
            .collect();
        anyhow!("{}", problems.join("; "))
    })?;
    if args.weight.is_some() && !checked.algorithm.takes_weights() {
        bail!("--weight applies to --algorithm kmeans only");
    }
    Ok(RunParams {
        preprocess: PreprocessParams::new(
            &args.features,
            &args.log1p,
            match args.scaling {
                ScalingArg::None => Scaling::None,
                ScalingArg::Standard => Scaling::Standard,
                ScalingArg::Minmax => Scaling::MinMax,
                ScalingArg::Robust => Scaling::Robust,
            },
            if args.impute_median {
                Missing::ImputeMedian
            } else {
                Missing::Drop
            },
        )
        .weighted_by(args.weight.clone())
        .with_categories(&args.categorical, args.category_weight),
        k: super::algorithm::k_choice(&args.algorithm)?,
        algorithm: checked.algorithm,
        reduce: args.pca,
        chart_sample: None,
        sweep_sample: args.sweep_sample,
        warm_start: None,
        kmeans,
    })
}

fn parse_n_init(raw: &str) -> Result<Restarts, String> {
    if raw == "auto" {
        return Ok(Restarts::Auto);
    }
    match raw.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(Restarts::Fixed(n)),
        _ => Err(format!("must be between 1 and 1000 or auto, got {raw}")),
    }
}

/// The JSON report: the engine's result, the file it read and the model's centroids.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    result: &'a RunResult,
    file: String,
    /// Time to parse the CSV file into columns (after reading its bytes).
    read_ms: f64,
    centroids_model_space: Vec<Vec<f64>>,
    /// Bisecting K-Means' splits (model space), leaves numbered as the segments are shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    split_tree: Option<SplitTree>,
}

pub fn json(r: &RunResult, args: &ClusterArgs, read_ms: f64) -> anyhow::Result<String> {
    let mut shown = r.clone();
    for p in &mut shown.profiles.segments {
        p.segment = shown_segment(p.segment);
    }
    let split_tree = match &r.model.assign {
        Assign::Tree(tree) => {
            let mut tree = tree.clone();
            tree.renumber(&(0..r.k).map(shown_segment).collect::<Vec<_>>());
            Some(tree)
        }
        _ => None,
    };
    let report = Report {
        result: &shown,
        file: args.file.display().to_string(),
        read_ms,
        split_tree,
        centroids_model_space: r
            .model
            .centroids
            .rows()
            .into_iter()
            .map(|row| row.to_vec())
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&report)?;
    s.push('\n');
    Ok(s)
}
