//! The algorithm a run is configured with, fitted on the model-space rows.

use super::choose_k::KMeansFromSweep;
use super::{Algorithm, MixtureFit, RunParams, ScoreKind};
use crate::EngineError;
use crate::kmeans::{self, Init};
use crate::model::Assign;
use crate::space::{self, ModelRows};
use crate::{bisecting, dbscan, gmm, ward};

/// What the algorithm found, before segments are put in canonical order.
pub(super) struct Fitted {
    /// Each row's cluster (`None`: noise).
    pub(super) raw: Vec<Option<usize>>,
    /// Each row's membership probability (the mixture).
    pub(super) probability: Option<Vec<f64>>,
    pub(super) clusters: usize,
    pub(super) n_iter: Option<usize>,
    pub(super) converged: Option<bool>,
    pub(super) restarts: Option<usize>,
    pub(super) mixture: Option<MixtureFit>,
    pub(super) score: ScoreKind,
    pub(super) assign: Assign,
}

impl Fitted {
    fn hard(labels: Vec<usize>, clusters: usize) -> Self {
        Self {
            raw: labels.into_iter().map(Some).collect(),
            probability: None,
            clusters,
            n_iter: None,
            converged: None,
            restarts: None,
            mixture: None,
            score: ScoreKind::Distance,
            assign: Assign::Nearest,
        }
    }
}

/// Fits the configured algorithm with `k` clusters (K-Means reuses the sweep's fit of k, or
/// starts from the sample's centroids).
pub(super) fn fit(
    rows: &dyn ModelRows,
    weights: Option<&[f64]>,
    params: &RunParams,
    k: usize,
    swept: Option<KMeansFromSweep>,
) -> Result<Fitted, EngineError> {
    // The algorithms that need every row at once read them whole (held unless mini-batch).
    let whole = || space::whole(rows);
    Ok(match &params.algorithm {
        Algorithm::KMeans => {
            let fit = match swept {
                Some(KMeansFromSweep::Fit(fit)) => fit,
                Some(KMeansFromSweep::Start(centroids)) => {
                    let mut p = params
                        .kmeans
                        .clone()
                        .n_init(1)
                        .init(Init::Centroids(centroids));
                    p.k = k;
                    kmeans::fit_weighted(whole().view(), weights, &p)?
                }
                None => {
                    let mut p = params.kmeans.clone();
                    p.k = k;
                    kmeans::fit_weighted(whole().view(), weights, &p)?
                }
            };
            Fitted {
                n_iter: Some(fit.n_iter),
                converged: Some(fit.converged),
                restarts: Some(fit.restart_inertias.len()),
                ..Fitted::hard(fit.labels, k)
            }
        }
        Algorithm::MiniBatchKMeans {
            batch_size,
            max_iter,
            max_no_improvement,
        } => {
            let p = kmeans::minibatch::MiniBatchParams {
                batch_size: *batch_size,
                max_iter: *max_iter,
                max_no_improvement: *max_no_improvement,
                seed: params.kmeans.seed,
                ..kmeans::minibatch::MiniBatchParams::new(k)
            };
            let fit = kmeans::minibatch::fit(rows, &p)?;
            Fitted {
                n_iter: Some(fit.n_iter),
                converged: Some(fit.converged),
                restarts: Some(1),
                ..Fitted::hard(fit.labels, k)
            }
        }
        Algorithm::Ward => Fitted::hard(ward::ward(whole().view(), k)?.labels, k),
        Algorithm::Bisecting => {
            let fit = bisecting::fit(whole().view(), k, &params.kmeans)?;
            Fitted {
                n_iter: Some(fit.n_iter),
                converged: Some(fit.converged),
                restarts: Some(fit.restarts),
                assign: Assign::Tree(fit.tree),
                ..Fitted::hard(fit.labels, k)
            }
        }
        Algorithm::Gmm { covariance } => {
            let p = gmm::GmmParams {
                seed: params.kmeans.seed,
                stream: params.kmeans.stream,
                covariance: *covariance,
                ..gmm::GmmParams::new(k)
            };
            let fit = gmm::gmm(whole().view(), &p)?;
            let probability = fit
                .labels
                .iter()
                .enumerate()
                .map(|(i, &l)| fit.probabilities[[i, l]])
                .collect();
            Fitted {
                probability: Some(probability),
                mixture: Some(MixtureFit {
                    log_likelihood: fit.log_likelihood,
                    mean_log_likelihood: fit.mean_log_likelihood,
                    bic: fit.bic,
                    aic: fit.aic,
                }),
                score: ScoreKind::Probability,
                n_iter: Some(fit.n_iter),
                converged: Some(fit.converged),
                assign: Assign::Mixture(fit.model),
                ..Fitted::hard(fit.labels, k)
            }
        }
        Algorithm::Dbscan { eps, min_points } => {
            let fit = dbscan::dbscan(
                whole().view(),
                &dbscan::DbscanParams {
                    eps: *eps,
                    min_points: *min_points,
                },
            )?;
            if fit.n_clusters == 0 {
                return Err(EngineError::InvalidParameter {
                    name: "eps",
                    rule: "large enough for DBSCAN to find a cluster",
                    value: format!("{eps} (every row is noise)"),
                });
            }
            Fitted {
                raw: fit.labels,
                assign: Assign::Density(fit.model),
                ..Fitted::hard(Vec::new(), fit.n_clusters)
            }
        }
    })
}
