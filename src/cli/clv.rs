//! `segstore clv`: predicted customer value offline, from an orders CSV (no database): the
//! same summary, models and figures as `POST /v1/clv/refresh`.

use crate::domain::order::DateOrder;
use crate::ingest::csv::RecordReader;
use crate::ingest::orders::{OrderImportOptions, OrderRecord, OrderRecords, Parsed};
use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::Args;
use segstore_engine::clv::summary::{Purchase, summarise};
use segstore_engine::clv::{self, Horizon};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ClvArgs {
    /// The orders CSV (`-`: standard input). The Online Retail header and common alternatives
    /// are detected, as `POST /v1/orders/import` detects them.
    pub file: PathBuf,
    /// Where to write one row per customer (`customer,frequency,recency,T,monetary_value,
    /// p_alive,expected_orders,expected_order_value,value`); `-` for standard output, the
    /// model then goes to standard error.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Days over which expected orders count (30 … 3650); the value sums its whole months.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(30..=3650))]
    pub horizon_days: u32,
    /// Monthly discount rate of the value.
    #[arg(long, default_value_t = 0.01)]
    pub discount_rate: f64,
    /// lifetimes' L2 penalizer (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// The last day observed (YYYY-MM-DD); default: the latest counted line's day.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// ISO-8859-1 instead of UTF-8.
    #[arg(long)]
    pub latin1: bool,
    /// Slashed dates are day first (`12/1/2010` is 12 January).
    #[arg(long)]
    pub day_first: bool,
}

/// The counted lines (RFM's rules) as purchases, with the customers' ids by index.
fn purchases(bytes: &[u8], args: &ClvArgs) -> anyhow::Result<(Vec<String>, Vec<Purchase>)> {
    let mut records = OrderRecords::new(OrderImportOptions {
        date_order: if args.day_first {
            DateOrder::DayFirst
        } else {
            DateOrder::MonthFirst
        },
        latin1: args.latin1,
        ..OrderImportOptions::default()
    });
    let mut ids: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Purchase> = Vec::new();
    let mut bad: Option<String> = None;
    let mut on_record = |r: crate::ingest::csv::Record<'_>| {
        records.read(r, &mut |record| match record {
            OrderRecord::Line {
                line,
                parsed: Err((column, e)),
                ..
            } => {
                bad.get_or_insert_with(|| format!("line {line}: {column}: {}", e.0));
            }
            OrderRecord::Width {
                line,
                expected,
                found,
            } => {
                bad.get_or_insert_with(|| {
                    format!("line {line}: {found} fields, the header has {expected}")
                });
            }
            OrderRecord::Line {
                parsed: Ok(Parsed::Line(l)),
                ..
            } => {
                if l.counted() {
                    let id = l.customer.as_str();
                    let customer = *index.entry(id.to_owned()).or_insert_with(|| {
                        ids.push(id.to_owned());
                        ids.len() - 1
                    });
                    out.push(Purchase {
                        customer,
                        day: l.ordered_at.date_naive().to_epoch_days() as i64,
                        amount: l.amount,
                    });
                }
            }
            OrderRecord::Line {
                parsed: Ok(Parsed::NoCustomer),
                ..
            }
            | OrderRecord::Header(_) => {}
        })
    };
    let mut reader = RecordReader::new();
    reader
        .feed(bytes, &mut on_record)
        .and_then(|()| reader.finish(&mut on_record))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(bad) = bad {
        bail!("{bad}");
    }
    Ok((ids, out))
}

pub fn run(args: &ClvArgs) -> anyhow::Result<()> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b)?;
        b
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    if !(args.discount_rate.is_finite() && (0.0..=1.0).contains(&args.discount_rate)) {
        bail!("--discount-rate must be between 0 and 1");
    }
    let (ids, purchases) =
        purchases(&bytes, args).with_context(|| format!("reading {}", args.file.display()))?;
    let Some(latest) = purchases.iter().map(|p| p.day).max() else {
        bail!("{}: no counted order line", args.file.display());
    };
    let end = match args.as_of {
        Some(day) => day.to_epoch_days() as i64,
        None => latest,
    };
    let (customers, summary) = summarise(purchases, end);
    if summary.is_empty() {
        bail!("no counted order line on or before --as-of");
    }
    let fitted = clv::fit(&summary, args.penalizer)?;
    let horizon = Horizon::days(args.horizon_days, args.discount_rate);
    let predictions = clv::predict(
        &fitted.bgnbd.params,
        &fitted.gamma_gamma.params,
        horizon,
        &summary,
    )?;
    let mut csv = String::from(
        "customer,frequency,recency,T,monetary_value,p_alive,expected_orders,expected_order_value,value\n",
    );
    let mut order: Vec<usize> = (0..customers.len()).collect();
    order.sort_by(|&a, &b| ids[customers[a]].cmp(&ids[customers[b]]));
    for i in order {
        let p = &predictions[i];
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{}",
            crate::ingest::csv::field(&ids[customers[i]]),
            summary.frequency[i],
            summary.recency[i],
            summary.t[i],
            summary.monetary[i],
            p.p_alive,
            p.expected_orders,
            p.expected_order_value,
            p.value
        );
    }
    let bg = &fitted.bgnbd;
    let gg = &fitted.gamma_gamma;
    let end_day = NaiveDate::from_epoch_days(end as i32).expect("a day of the file");
    let total: f64 = predictions.iter().map(|p| p.value).sum();
    let model = format!(
        "Observation end {end_day}; {} customers, {} with a repeat purchase day\n\
         BG/NBD       r {:.6}  alpha {:.6}  a {:.6}  b {:.6}  log-likelihood {:.3}{}\n\
         Gamma-Gamma  p {:.6}  q {:.6}  v {:.6}  log-likelihood {:.3}{}\n\
         Over {} days ({} months, discount {}/month): {:.1} expected orders, value {:.2}\n",
        summary.len(),
        gg.customers,
        bg.params.r,
        bg.params.alpha,
        bg.params.a,
        bg.params.b,
        bg.log_likelihood,
        limits(&bg.at_limit),
        gg.params.p,
        gg.params.q,
        gg.params.v,
        gg.log_likelihood,
        limits(&gg.at_limit),
        args.horizon_days,
        horizon.months,
        args.discount_rate,
        predictions.iter().map(|p| p.expected_orders).sum::<f64>(),
        total,
    );
    if args.output.as_os_str() == "-" {
        std::io::stdout().write_all(csv.as_bytes())?;
        std::io::stderr().write_all(model.as_bytes())?;
    } else {
        std::fs::write(&args.output, csv)
            .with_context(|| format!("writing {}", args.output.display()))?;
        std::io::stdout().write_all(model.as_bytes())?;
    }
    Ok(())
}

fn limits(at_limit: &[String]) -> String {
    if at_limit.is_empty() {
        String::new()
    } else {
        format!("  (at a limit: {})", at_limit.join(", "))
    }
}
