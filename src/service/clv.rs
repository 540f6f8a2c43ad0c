//! Predicted customer value, as its steps, in one transaction that holds off imports and
//! erasures: read every customer's purchase days (kept by the last refresh, read again from
//! the counted order lines of those whose lines changed since, and kept) →
//! the summaries → fit BG/NBD and Gamma-Gamma (off the async runtime) → score every customer
//! → optionally backtest on a holdout → write the four `clv_*` figures (a fresh partition of
//! `customer_clv`) and the model. A fit that cannot be made is a 422 naming what is missing;
//! nothing is written.

use crate::charts::{CalibrationChart, CalibrationPoint};
use crate::domain::clv::{
    Backtest, BgNbdFit, BgNbdParams, CalibrationRow, ClvModel, ClvSettings, ClvTimings, FitFigures,
    GammaGammaFit, GammaGammaParams, ValueDistribution,
};
use crate::domain::{AttributeKind, AttributeName};
use crate::error::{Error, Result};
use crate::store::clv as store;
use crate::store::purchase_days::{self as days, Lines, PurchaseDays};
use crate::store::{Pool, attributes};
use chrono::NaiveDate;
use segstore_engine::clv::Summary;
use segstore_engine::clv::summary::{days_between, summarise_days};
use segstore_engine::clv::{self, ClvError, FitReport, Horizon};
use std::sync::Arc;
use std::time::Instant;

/// The attributes a refresh writes, in this order.
pub use crate::store::clv::ATTRIBUTES;

/// Whether a segmentation's features need a refresh first.
pub fn uses_clv(features: &[String]) -> bool {
    features.iter().any(|f| ATTRIBUTES.contains(&f.as_str()))
}

/// A stored model with its id.
pub struct Stored {
    pub model_id: i64,
    pub model: ClvModel,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Refits both models and rewrites every customer's `clv_*` attributes.
#[tracing::instrument(skip(pool))]
pub async fn refresh(pool: &Pool, settings: ClvSettings) -> Result<Stored> {
    let started = Instant::now();
    // One transaction from the read to the write, holding off imports and erasures: the
    // figures are written for exactly the customers and lines that were read.
    let mut tx = crate::store::begin(pool).await?;
    store::lock(&mut tx).await?;
    let (stale, kept) = days::counts(&mut tx).await?;
    // Every line when no days are kept or most customers' lines changed; else the lines of
    // those whose did, kept in place of their old days, then every customer's kept days.
    let all = kept == 0 || stale * 2 > kept;
    tracing::info!(stale, kept, all, "reading purchase days");
    let lines = if all {
        days::read_lines(&mut tx, Lines::All).await?
    } else {
        if stale > 0 {
            let changed = days::read_lines(&mut tx, Lines::Stale).await?;
            days::keep(&mut tx, &changed, Lines::Stale).await?;
        }
        days::read_kept(&mut tx).await?
    };
    let earliest = lines.days.earliest();
    let end = match settings.as_of {
        Some(day) => {
            let end = (day - days::epoch()).num_days();
            if earliest.is_none_or(|first| first > end) {
                return Err(Error::invalid(
                    "as_of",
                    format!("no counted order line on or before {day}"),
                ));
            }
            end
        }
        None => lines.days.latest().ok_or_else(|| {
            Error::invalid(
                "orders",
                "no counted order line: predicted value needs order lines (import them with \
                 POST /v1/orders/import)",
            )
        })?,
    };
    let summary_ms = ms(started);
    let end_day = days::epoch() + chrono::Days::new(end as u64);
    let lines = Arc::new(lines);
    let computing = tokio::task::spawn_blocking({
        let lines = lines.clone();
        move || compute(settings, lines, end)
    });
    // Every line was read: they are kept while the models are fitted.
    let (computed, kept) = if all {
        tokio::join!(computing, days::keep(&mut tx, &lines, Lines::All))
    } else {
        (computing.await, Ok(()))
    };
    drop(lines);
    kept?;
    let computed = computed.map_err(|e| Error::Internal(e.into()))??;
    let Computed {
        ids,
        figures,
        max_t_days,
        max_frequency,
        bgnbd,
        gamma_gamma,
        backtest,
        mut timings,
    } = computed;
    timings.summary += summary_ms;

    let write_started = Instant::now();
    let wanted: Vec<(AttributeName, AttributeKind)> = ATTRIBUTES
        .iter()
        .map(|f| {
            (
                AttributeName::parse(f).expect("valid name"),
                AttributeKind::Numeric,
            )
        })
        .collect();
    // A fixed handful of attributes: the limit is for what clients send.
    attributes::register(&mut tx, &wanted, usize::MAX)
        .await?
        .map_err(crate::service::customers::catalogue_full)?;
    let columns: [&[f64]; 4] = [&figures[0], &figures[1], &figures[2], &figures[3]];
    let model_id = store::next_model_id(&mut tx).await?;
    let (with, without) = store::write(&mut tx, model_id, &ids, columns).await?;
    let mut model = ClvModel {
        fitted_at: chrono::Utc::now(),
        settings,
        observation_end: end_day,
        months: Horizon::days(settings.horizon_days, settings.discount_rate).months,
        bgnbd,
        gamma_gamma,
        customers_with_clv: with,
        customers_without_clv: without,
        total_expected_orders: figures[1].iter().sum(),
        total_value: figures[3].iter().sum(),
        attributes: ATTRIBUTES.iter().map(|a| a.to_string()).collect(),
        value_distribution: ValueDistribution::of(&figures[3]),
        max_t_days,
        max_frequency,
        backtest,
        ms: timings,
    };
    model.ms.write = ms(write_started);
    model.ms.total = ms(started);
    store::insert_model(&mut tx, model_id, &model).await?;
    crate::store::commit(tx).await?;
    // The first refresh adds the attributes to the report views.
    crate::service::report::sync(pool).await;
    Ok(Stored { model_id, model })
}

/// A summary as of a day, with each customer's purchase days after it (the holdout).
struct Summaries {
    /// The last day observed.
    end: NaiveDate,
    /// The summary's day: `end` less the holdout.
    calibration_end: NaiveDate,
    ids: Vec<String>,
    summary: Summary,
    holdout: Vec<u32>,
}

/// The summary as of `end` − `holdout_days` (day numbers), of the customers with a purchase
/// by then, with their purchase days after it up to `end`.
fn summaries(lines: &PurchaseDays, end: i64, holdout_days: i64) -> Summaries {
    let calibration_end = end - holdout_days;
    let (customers, summary) = summarise_days(&lines.days, calibration_end);
    let holdout = customers
        .iter()
        .map(|&c| days_between(&lines.days.days[c], calibration_end, end))
        .collect();
    let day = |n: i64| days::epoch() + chrono::Days::new(n as u64);
    Summaries {
        end: day(end),
        calibration_end: day(calibration_end),
        ids: customers.iter().map(|&c| lines.ids[c].clone()).collect(),
        summary,
        holdout,
    }
}

/// What the CPU part of a refresh produced.
struct Computed {
    ids: Vec<String>,
    max_t_days: f64,
    max_frequency: u32,
    /// Per attribute (in [`ATTRIBUTES`]' order), per customer.
    figures: [Vec<f64>; 4],
    bgnbd: BgNbdFit,
    gamma_gamma: GammaGammaFit,
    backtest: Option<Backtest>,
    timings: ClvTimings,
}

/// Fits, scores and backtests (off the async runtime).
fn compute(settings: ClvSettings, lines: Arc<PurchaseDays>, end: i64) -> Result<Computed> {
    let mut timings = ClvTimings::default();
    // Both summaries from the one read: the backtest and the fit see the same lines.
    let started = Instant::now();
    let full = summaries(&lines, end, 0);
    let calibration = settings
        .holdout_days
        .map(|days| summaries(&lines, end, days as i64));
    drop(lines);
    timings.summary = ms(started);
    let started = Instant::now();
    let fitted = clv::fit(&full.summary, settings.penalizer).map_err(refused)?;
    timings.fit = ms(started);
    let started = Instant::now();
    let horizon = Horizon::days(settings.horizon_days, settings.discount_rate);
    let predictions = clv::predict(
        &fitted.bgnbd.params,
        &fitted.gamma_gamma.params,
        horizon,
        &full.summary,
    )
    .map_err(|e| {
        let limits = [&fitted.bgnbd.at_limit[..], &fitted.gamma_gamma.at_limit[..]].concat();
        match e {
            ClvError::NotFinite { what, .. } if !limits.is_empty() => Error::invalid(
                "orders",
                format!(
                    "the fit sits at a limit of the model ({}), where {what} cannot be \
                     computed; {} of {} customers have a repeat purchase day: more order \
                     history, or a penalizer (e.g. 0.01), gives a model inside its limits",
                    limits.join(", "),
                    fitted.gamma_gamma.customers,
                    full.summary.len()
                ),
            ),
            e => refused_for(&full.ids, e),
        }
    })?;
    let mut figures: [Vec<f64>; 4] = Default::default();
    for p in &predictions {
        figures[0].push(p.p_alive);
        figures[1].push(p.expected_orders);
        figures[2].push(p.expected_order_value);
        figures[3].push(p.value);
    }
    timings.score = ms(started);
    let started = Instant::now();
    let backtest = calibration.map(|c| backtest(settings, c)).transpose()?;
    timings.backtest = ms(started);
    Ok(Computed {
        max_t_days: full.summary.t.iter().fold(0.0, |m: f64, &t| m.max(t)),
        max_frequency: full.summary.frequency.iter().copied().max().unwrap_or(0),
        ids: full.ids,
        figures,
        bgnbd: bgnbd_fit(&fitted.bgnbd),
        gamma_gamma: GammaGammaFit {
            params: gg_params(&fitted.gamma_gamma.params),
            standard_errors: fitted.gamma_gamma.standard_errors.as_ref().map(gg_params),
            population_mean_order_value: fitted.gamma_gamma.params.population_mean(),
            fit: figures_of(&fitted.gamma_gamma),
        },
        backtest,
        timings,
    })
}

/// Fits BG/NBD on the calibration period and scores it against the holdout.
fn backtest(settings: ClvSettings, calibration: Summaries) -> Result<Backtest> {
    let holdout_days = settings.holdout_days.expect("a backtest has a holdout");
    let (end, calibration_end) = (calibration.end, calibration.calibration_end);
    let in_calibration = |e: ClvError| {
        Error::invalid(
            "holdout_days",
            format!(
                "the backtest fits on the lines up to {calibration_end} ({holdout_days} days \
                 before {end}): {e}"
            ),
        )
    };
    if calibration.summary.is_empty() {
        return Err(in_calibration(ClvError::NoCustomers));
    }
    let fitted =
        clv::fit_bgnbd(&calibration.summary, settings.penalizer).map_err(in_calibration)?;
    let table = clv::calibrate(
        &fitted.params,
        &calibration.summary,
        &calibration.holdout,
        holdout_days as f64,
    )
    .map_err(in_calibration)?;
    Ok(Backtest {
        holdout_days,
        calibration_end,
        observation_end: end,
        customers: calibration.summary.len() as i64,
        bgnbd: bgnbd_fit(&fitted),
        by_frequency: table
            .rows
            .into_iter()
            .map(|r| CalibrationRow {
                frequency: r.frequency,
                frequency_max: r.frequency_max,
                customers: r.customers as i64,
                actual: r.actual,
                predicted: r.predicted,
            })
            .collect(),
        mean_absolute_error: table.mean_absolute_error,
        predicted_orders: table.predicted_orders,
        actual_orders: table.actual_orders,
    })
}

fn bg_params(p: &clv::BgNbd) -> BgNbdParams {
    BgNbdParams {
        r: p.r,
        alpha: p.alpha,
        a: p.a,
        b: p.b,
    }
}

fn gg_params(p: &clv::GammaGamma) -> GammaGammaParams {
    GammaGammaParams {
        p: p.p,
        q: p.q,
        v: p.v,
    }
}

fn figures_of<P>(report: &FitReport<P>) -> FitFigures {
    FitFigures {
        customers: report.customers as i64,
        log_likelihood: report.log_likelihood,
        objective: report.objective,
        converged: true,
        iterations: report.iterations as i64,
        gradient_norm: report.gradient_norm,
        at_limit: report.at_limit.clone(),
    }
}

fn bgnbd_fit(report: &FitReport<clv::BgNbd>) -> BgNbdFit {
    BgNbdFit {
        params: bg_params(&report.params),
        standard_errors: report.standard_errors.as_ref().map(bg_params),
        fit: figures_of(report),
    }
}

/// A fit that cannot be made, as a 422 naming what the client can change: the penalizer for
/// a fit that does not converge or a heavy tail, else the order lines.
fn refused(e: ClvError) -> Error {
    let field = match e {
        ClvError::NotConverged { .. } | ClvError::HeavyTail { .. } | ClvError::Penalizer(_) => {
            "penalizer"
        }
        _ => "orders",
    };
    Error::invalid(field, e.to_string())
}

/// As [`refused`], with a summary row named by its customer.
fn refused_for(ids: &[String], e: ClvError) -> Error {
    match e {
        ClvError::NotFinite { what, row } => Error::invalid(
            "orders",
            format!(
                "{what} is not a finite number for customer {}: check their order lines for \
                 extreme amounts",
                crate::error::quote(&ids[row])
            ),
        ),
        e => refused(e),
    }
}

/// The latest refresh's model; with `backtest`, the latest that has one.
pub async fn latest(pool: &Pool, backtest: bool) -> Result<Option<Stored>> {
    Ok(store::latest_model(pool, backtest)
        .await?
        .map(|(model_id, model)| Stored { model_id, model }))
}

/// Settings for a refresh a run makes: the latest refresh's, without its holdout and `as_of`
/// (a run predicts from every line); the defaults before the first.
pub async fn settings_for_runs(pool: &Pool) -> Result<ClvSettings> {
    Ok(match latest(pool, false).await? {
        Some(stored) => ClvSettings {
            holdout_days: None,
            as_of: None,
            ..stored.model.settings
        },
        None => ClvSettings::default(),
    })
}

/// The latest backtest as a chart (`None`: no backtest yet).
pub async fn calibration_chart(pool: &Pool) -> Result<Option<CalibrationChart>> {
    let Some(backtest) = latest(pool, true).await?.and_then(|s| s.model.backtest) else {
        return Ok(None);
    };
    Ok(Some(CalibrationChart {
        title: "Backtest: predicted against actual purchases".into(),
        subtitle: Some(format!(
            "BG/NBD fitted on the lines up to {}, predicting the {} days to {}; {} customers, \
             mean absolute error {:.3} purchase days",
            backtest.calibration_end,
            backtest.holdout_days,
            backtest.observation_end,
            backtest.customers,
            backtest.mean_absolute_error
        )),
        points: backtest
            .by_frequency
            .iter()
            .map(|row| CalibrationPoint {
                label: match row.frequency_max {
                    Some(_) => format!("{}+", row.frequency),
                    None => row.frequency.to_string(),
                },
                customers: row.customers,
                actual: row.actual,
                predicted: row.predicted,
            })
            .collect(),
    }))
}
