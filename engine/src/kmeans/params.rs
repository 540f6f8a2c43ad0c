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

/// How many restarts a fit runs (the one with the lowest inertia is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restarts {
    Fixed(usize),
    /// A constant amount of work instead of a constant count: `AUTO_ROW_FITS / rows`
    /// restarts, at least [`AUTO_MIN`] and at most [`AUTO_MAX`] (Mall's 200 customers get
    /// 125, Wholesale's 440 get 56, 8,334 or more get 3: on large tables restarts land on
    /// nearly the same inertia, and a k sweep over a 50,000-row sample took 8.1 s with 10
    /// of them against 2.6 s with 3 on the uniform 1M benchmark store, choosing the same
    /// k). Small tables are where k-means++
    /// lands in poor local minima most often and where a restart costs least; there (one
    /// chunk of rows) each restart also ends with Hartigan's moves (`hartigan.rs`). Lloyd
    /// alone needed 300 to 1,000 restarts to be as low as scikit-learn's `n_init=10` at every
    /// k on Mall and Wholesale (and was then slower than it); with the moves, 50 were at
    /// every k for 8 seeds (`tests/engine/restarts.rs`). With the scikit-learn stream,
    /// `Auto` is 10: the notebook's `KMeans(n_init=10, random_state=seed)`, restart for
    /// restart, without the moves.
    Auto,
}

/// The work [`Restarts::Auto`] spends: restarts × rows.
pub const AUTO_ROW_FITS: usize = 25_000;
/// The fewest restarts [`Restarts::Auto`] runs.
pub const AUTO_MIN: usize = 3;
/// scikit-learn's classic `n_init`: what [`Restarts::Auto`] runs with its random stream.
pub const SKLEARN_N_INIT: usize = 10;
/// The most restarts [`Restarts::Auto`] runs.
pub const AUTO_MAX: usize = 1_000;

impl Restarts {
    /// The restarts a fit of `rows` rows runs with the random `stream`.
    pub fn count(self, rows: usize, stream: RandomStream) -> usize {
        self.count_from(rows, stream, AUTO_MIN, SKLEARN_N_INIT)
    }

    /// [`Self::count`] with another floor for `Auto`, and another count for `Auto` with
    /// scikit-learn's stream (bisecting K-Means: at least 1, and its one).
    pub fn count_from(
        self,
        rows: usize,
        stream: RandomStream,
        min: usize,
        scikit_learn: usize,
    ) -> usize {
        match (self, stream) {
            (Self::Fixed(n), _) => n,
            (Self::Auto, RandomStream::ScikitLearn) => scikit_learn,
            (Self::Auto, RandomStream::Segstore) => {
                (AUTO_ROW_FITS / rows.max(1)).clamp(min, AUTO_MAX)
            }
        }
    }
}

/// Parameters, with scikit-learn's defaults (but `n_init`: [`Restarts::Auto`]).
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    /// Restarts; the one with the lowest inertia is kept.
    pub n_init: Restarts,
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
            n_init: Restarts::Auto,
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

    /// A fixed number of restarts.
    pub fn n_init(mut self, n: usize) -> Self {
        self.n_init = Restarts::Fixed(n);
        self
    }

    pub fn restarts(mut self, restarts: Restarts) -> Self {
        self.n_init = restarts;
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
        if self.n_init == Restarts::Fixed(0) {
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
