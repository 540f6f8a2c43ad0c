//! Choosing k: fit every k of a range (k = 1 too, for the elbow plot), measure each, find the
//! elbow of the inertia curve with the Kneedle method and the best silhouette, and choose by a
//! stated rule. The fits run in parallel and the chosen one is kept (not refitted).

use super::EngineError;
use super::kmeans::{self, KMeansFit, KMeansParams};
use super::metrics::{self, Metrics};
use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KRule {
    /// The k with the highest mean silhouette.
    #[default]
    Silhouette,
    /// The knee of the inertia curve (Kneedle).
    Elbow,
}

impl KRule {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Silhouette => "best silhouette",
            Self::Elbow => "elbow of the inertia curve (Kneedle)",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweepParams {
    pub k_min: usize,
    pub k_max: usize,
    pub rule: KRule,
    /// n_init, seed, tolerances: used for every k.
    pub kmeans: KMeansParams,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub k: usize,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Debug, Clone)]
pub struct Sweep {
    /// k = 1, then k_min..=k_max.
    pub points: Vec<SweepPoint>,
    pub elbow_k: Option<usize>,
    pub best_silhouette_k: Option<usize>,
    pub chosen_k: usize,
    pub rule: KRule,
    /// The fit of the chosen k.
    pub chosen: KMeansFit,
}

pub fn sweep(x: ArrayView2<f64>, params: &SweepParams) -> Result<Sweep, EngineError> {
    sweep_observed(x, params, &|_, _| {})
}

/// [`sweep`], calling `fitted(done, total)` as each k's fit completes (from any thread).
pub fn sweep_observed(
    x: ArrayView2<f64>,
    params: &SweepParams,
    fitted: &(dyn Fn(usize, usize) + Sync),
) -> Result<Sweep, EngineError> {
    sweep_weighted(x, None, params, fitted)
}

/// [`sweep_observed`] with a sample weight per row: weighted fits, and the curve's inertia
/// is `Σ w·d²` (the other metrics measure the rows as they are).
pub fn sweep_weighted(
    x: ArrayView2<f64>,
    weights: Option<&[f64]>,
    params: &SweepParams,
    fitted: &(dyn Fn(usize, usize) + Sync),
) -> Result<Sweep, EngineError> {
    let (min, max) = (params.k_min, params.k_max);
    if min < 2 || max < min {
        return Err(EngineError::InvalidKRange { min, max });
    }
    if max > x.nrows() {
        return Err(EngineError::KTooLarge {
            k: max,
            rows: x.nrows(),
        });
    }
    let ks: Vec<usize> = std::iter::once(1).chain(min..=max).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let fits: Vec<(usize, KMeansFit)> = ks
        .par_iter()
        .map(|&k| {
            let mut p = params.kmeans.clone();
            p.k = k;
            let fit = kmeans::fit_weighted(x, weights, &p)?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            fitted(n, ks.len());
            Ok((k, fit))
        })
        .collect::<Result<_, EngineError>>()?;
    // Measured together: the silhouettes share one pass over the pairs of rows.
    let partitions: Vec<(&[usize], usize)> = fits
        .iter()
        .map(|(k, fit)| (fit.labels.as_slice(), *k))
        .collect();
    let mut measured = metrics::evaluate_many(&x, &partitions, params.kmeans.seed);
    if let Some(w) = weights {
        for (m, &(labels, k)) in measured.iter_mut().zip(&partitions) {
            m.inertia = metrics::weighted_inertia(&x, labels, k, w);
        }
    }
    let points: Vec<SweepPoint> = fits
        .iter()
        .zip(measured)
        .map(|((k, _), metrics)| SweepPoint { k: *k, metrics })
        .collect();
    let curve: Vec<(usize, f64)> = points.iter().map(|p| (p.k, p.metrics.inertia)).collect();
    let elbow_k = knee(&curve).filter(|&k| k >= min);
    let best_silhouette_k = points
        .iter()
        .filter_map(|p| p.metrics.silhouette.map(|s| (p.k, s)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(k, _)| k);
    let chosen_k = match params.rule {
        KRule::Silhouette => best_silhouette_k.or(elbow_k),
        KRule::Elbow => elbow_k.or(best_silhouette_k),
    }
    .unwrap_or(min);
    let chosen = fits
        .into_iter()
        .find(|(k, _)| *k == chosen_k)
        .map(|(_, f)| f)
        .expect("the chosen k was fitted");
    Ok(Sweep {
        points,
        elbow_k,
        best_silhouette_k,
        chosen_k,
        rule: params.rule,
        chosen,
    })
}

/// Kneedle for a decreasing convex curve: normalise both axes to [0, 1] and take the point
/// farthest above the diagonal from (0, 1) to (1, 0), i.e. the largest `1 - x - y`.
pub fn knee(curve: &[(usize, f64)]) -> Option<usize> {
    if curve.len() < 3 {
        return None;
    }
    let (x0, x1) = (curve[0].0 as f64, curve[curve.len() - 1].0 as f64);
    let y_min = curve.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_max = curve.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if y_max <= y_min || x1 <= x0 {
        return None;
    }
    curve
        .iter()
        .map(|&(k, y)| {
            let xn = (k as f64 - x0) / (x1 - x0);
            let yn = (y - y_min) / (y_max - y_min);
            (k, 1.0 - xn - yn)
        })
        .filter(|&(_, d)| d > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knee_of_the_mall_elbow_is_five() {
        let inertia = [
            269981.28,
            181363.59596,
            106348.373062,
            73679.789039,
            44448.455448,
            37233.814511,
            30241.343618,
            25036.417604,
            21916.79479,
            20072.070939,
        ];
        let curve: Vec<(usize, f64)> = inertia
            .iter()
            .enumerate()
            .map(|(i, &y)| (i + 1, y))
            .collect();
        assert_eq!(knee(&curve), Some(5));
    }

    #[test]
    fn no_knee_on_a_line_or_a_short_curve() {
        assert_eq!(knee(&[(1, 3.0), (2, 2.0), (3, 1.0)]), None);
        assert_eq!(knee(&[(1, 3.0), (2, 1.0)]), None);
    }

    #[test]
    fn invalid_ranges_are_errors() {
        let x = ndarray::Array2::<f64>::zeros((5, 1));
        let p = |min, max| SweepParams {
            k_min: min,
            k_max: max,
            rule: KRule::Silhouette,
            kmeans: KMeansParams::new(2),
        };
        assert_eq!(
            sweep(x.view(), &p(1, 3)).unwrap_err(),
            EngineError::InvalidKRange { min: 1, max: 3 }
        );
        assert_eq!(
            sweep(x.view(), &p(4, 3)).unwrap_err(),
            EngineError::InvalidKRange { min: 4, max: 3 }
        );
        assert_eq!(
            sweep(x.view(), &p(2, 6)).unwrap_err(),
            EngineError::KTooLarge { k: 6, rows: 5 }
        );
    }
}
