//! K-Means parameters: a builder with scikit-learn's defaults, checked before a fit.

use super::EngineError;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// How the first centroids are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// Greedy k-means++ (scikit-learn's: `2 + ln k` candidates per step, the best kept).
    KMeansPlusPlus,
    /// These centroids (k × features), for every restart.
    Centroids(Array2<f64>),
}

/// Where the random draws of k-means++ come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomStream {
    /// xoshiro256++, one stream per restart derived from the seed.
    #[default]
    Segstore,
    /// numpy's `RandomState(seed)` (MT19937), one stream across restarts, drawn as
    /// scikit-learn's `KMeans(random_state=seed)` draws it: same seed, same restarts, same
    /// result as the notebook (the seed must fit in 32 bits).
    ScikitLearn,
}

/// Parameters, with scikit-learn's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    /// Restarts; the one with the lowest inertia is kept.
    pub n_init: usize,
    pub max_iter: usize,
    /// Relative tolerance: stop when the squared centroid shift is at most
    /// `tol × mean feature variance`.
    pub tol: f64,
    pub seed: u64,
    pub init: Init,
    pub stream: RandomStream,
}

impl KMeansParams {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
            init: Init::KMeansPlusPlus,
            stream: RandomStream::Segstore,
        }
    }

    pub fn stream(mut self, stream: RandomStream) -> Self {
        self.stream = stream;
        self
    }

    pub fn n_init(mut self, n: usize) -> Self {
        self.n_init = n;
        self
    }

    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = n;
        self
    }

    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Checks the parameters against data of `rows` × `cols`.
    pub fn check(&self, rows: usize, cols: usize) -> Result<(), EngineError> {
        crate::error::check_k(self.k, rows)?;
        let invalid =
            |name, rule, value: String| Err(EngineError::InvalidParameter { name, rule, value });
        if self.n_init == 0 {
            return invalid("n_init", "at least 1", "0".into());
        }
        if self.max_iter == 0 {
            return invalid("max_iter", "at least 1", "0".into());
        }
        if self.stream == RandomStream::ScikitLearn && self.seed > u64::from(u32::MAX) {
            return invalid(
                "seed",
                "at most 4294967295 with the scikit-learn stream",
                self.seed.to_string(),
            );
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return invalid("tol", "a finite number >= 0", self.tol.to_string());
        }
        if let Init::Centroids(c) = &self.init
            && c.dim() != (self.k, cols)
        {
            return invalid(
                "init centroids",
                "k × features",
                format!("{} × {}", c.nrows(), c.ncols()),
            );
        }
        Ok(())
    }
}
