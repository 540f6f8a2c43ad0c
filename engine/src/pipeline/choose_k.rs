//! Choosing k: given, or by the K-Means sweep over the rows (a seeded sample of them above
//! `sweep_sample` rows).

use super::{EngineError, KChoice, KSelection, RunParams};
use crate::algorithm::KMeansFromSweep;
use crate::selection::{self, KRule, SweepParams};
use crate::space::{self, ModelRows};
use rand::SeedableRng;

/// k, how it was chosen, the sweep's curves, and the sweep's fit of that k (K-Means reuses it).
pub(super) struct ChosenK {
    pub(super) k: usize,
    pub(super) rule: String,
    pub(super) selection: Option<KSelection>,
    pub(super) fit: Option<KMeansFromSweep>,
}

/// k: given, or chosen by the K-Means sweep (density-based algorithms find their own).
pub(super) fn choose_k(
    x: &dyn ModelRows,
    weights: Option<&[f64]>,
    params: &RunParams,
    progress: &(dyn Fn(super::Step, f64) + Sync),
) -> Result<ChosenK, EngineError> {
    let given = |k: usize, rule: &str| ChosenK {
        k,
        rule: rule.to_owned(),
        selection: None,
        fit: None,
    };
    if let Some(rule) = params.algorithm.finds_own_k() {
        return Ok(given(0, rule));
    }
    let (min, max, rule) = match &params.k {
        KChoice::Fixed(k) => return Ok(given(*k, "given")),
        KChoice::Auto { min, max, rule } => (*min, *max, *rule),
    };
    // Above `sweep_sample` rows, sweep a seeded sample of them (in row order).
    let sample = (x.nrows() > params.sweep_sample.max(2)).then(|| {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(params.kmeans.seed);
        let mut rows =
            rand::seq::index::sample(&mut rng, x.nrows(), params.sweep_sample.max(2)).into_vec();
        rows.sort_unstable();
        let w = weights.map(|w| rows.iter().map(|&r| w[r]).collect::<Vec<f64>>());
        (x.select(&rows), w)
    });
    let (rows, swept_weights) = match &sample {
        Some((s, w)) => (s.view().into(), w.as_deref()),
        None => (space::whole(x), weights),
    };
    let swept = rows.view();
    let sweep_to = |max: usize| {
        selection::sweep_weighted(
            swept,
            swept_weights,
            &SweepParams {
                k_min: min,
                k_max: max,
                rule,
                kmeans: params.kmeans.clone(),
            },
            &|done, total| {
                progress(
                    super::Step::ChooseK,
                    0.05 + 0.75 * done as f64 / total as f64,
                )
            },
        )
    };
    // Asked to sweep further than the data has distinct points (or rows): sweep what it
    // allows, and say so.
    let (sweep, lowered) = match sweep_to(max.min(swept.nrows()).max(min)) {
        Err(EngineError::TooFewDistinctPoints { distinct, .. }) if distinct >= min.max(2) => {
            (sweep_to(distinct)?, Some((distinct, "distinct points")))
        }
        Ok(sweep) if max > swept.nrows() => (sweep, Some((swept.nrows(), "rows"))),
        other => (other?, None),
    };
    let wanted = match rule {
        KRule::Silhouette => sweep.best_silhouette_k,
        KRule::Elbow => sweep.elbow_k,
    };
    let rule_text = if Some(sweep.chosen_k) == wanted {
        rule.describe().to_owned()
    } else {
        format!(
            "{} (the {} gave none)",
            KRule::Silhouette.describe(),
            rule.describe()
        )
    };
    let rule_text = match lowered {
        Some((to, what)) => format!("{rule_text}; k_max lowered to {to}: the data has {to} {what}"),
        None => rule_text,
    };
    let rule_text = if sample.is_some() {
        format!(
            "{rule_text}, on a seeded sample of {} of the {} rows",
            swept.nrows(),
            x.nrows()
        )
    } else {
        rule_text
    };
    // On a sample, the chosen k is fitted on every row from the sample's centroids.
    let fit = match sample {
        None => KMeansFromSweep::Fit(sweep.chosen),
        Some(_) => KMeansFromSweep::Start(sweep.chosen.model.centroids),
    };
    Ok(ChosenK {
        k: sweep.chosen_k,
        rule: rule_text,
        selection: Some(KSelection {
            curve: sweep.points,
            elbow_k: sweep.elbow_k,
            best_silhouette_k: sweep.best_silhouette_k,
            rows: Some(swept.nrows()),
            sampled: sample.is_some(),
        }),
        fit: Some(fit),
    })
}
