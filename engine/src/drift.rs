//! Population drift between two snapshots of a feature: each run keeps its feature's decile
//! bins, and the next run counts its own values into them; the population stability index
//! (PSI) compares the two shares bin by bin.
//!
//! PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) over the bins, with `e` the reference shares and `a` the
//! new ones (each at least [`FLOOR`], so an empty bin counts as a rare one). The usual reading:
//! below 0.1 stable, 0.1–0.25 a shift worth a look, above 0.25 a different population.

use serde::{Deserialize, Serialize};

/// The smallest share a bin is given in the PSI (an empty bin would make it infinite).
pub const FLOOR: f64 = 1e-4;

/// A feature's bins: `edges` split the line into `edges.len() + 1` bins (a value equal to an
/// edge falls in the bin below it), `counts` the values in each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

impl Bins {
    /// Deciles of the finite values (ties collapse: a feature with few distinct values has
    /// fewer bins) and the values' counts in them.
    pub fn deciles(values: impl Iterator<Item = f64>) -> Self {
        let mut sorted: Vec<f64> = values.filter(|v| v.is_finite()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let mut edges: Vec<f64> = Vec::with_capacity(9);
        if let Some(&last) = sorted.last() {
            for i in 1..10 {
                let at = (sorted.len() * i / 10).min(sorted.len() - 1);
                let edge = sorted[at];
                if edge < last && edges.last().is_none_or(|&e| edge > e) {
                    edges.push(edge);
                }
            }
        }
        let counts = count_sorted(&edges, &sorted);
        Self { edges, counts }
    }

    /// How many of `values` (finite ones) fall in each of these bins.
    pub fn count(&self, values: impl Iterator<Item = f64>) -> Vec<u64> {
        let mut counts = vec![0; self.edges.len() + 1];
        for v in values.filter(|v| v.is_finite()) {
            counts[self.edges.partition_point(|&e| e < v)] += 1;
        }
        counts
    }

    /// The PSI of `values` against these bins; `None` when either side has no value.
    pub fn psi(&self, values: impl Iterator<Item = f64>) -> Option<f64> {
        psi(&self.counts, &self.count(values))
    }
}

fn count_sorted(edges: &[f64], sorted: &[f64]) -> Vec<u64> {
    let mut counts = vec![0; edges.len() + 1];
    for &v in sorted {
        counts[edges.partition_point(|&e| e < v)] += 1;
    }
    counts
}

/// The PSI of `actual` against `expected`, counts in the same bins.
pub fn psi(expected: &[u64], actual: &[u64]) -> Option<f64> {
    let (n_e, n_a) = (
        expected.iter().sum::<u64>() as f64,
        actual.iter().sum::<u64>() as f64,
    );
    if n_e == 0.0 || n_a == 0.0 || expected.len() != actual.len() {
        return None;
    }
    Some(
        expected
            .iter()
            .zip(actual)
            .map(|(&e, &a)| {
                let e = (e as f64 / n_e).max(FLOOR);
                let a = (a as f64 / n_a).max(FLOOR);
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_split_evenly_and_ties_collapse() {
        let bins = Bins::deciles((1..=1000).map(f64::from));
        assert_eq!(bins.edges.len(), 9);
        assert_eq!(
            bins.counts,
            vec![101, 100, 100, 100, 100, 100, 100, 100, 100, 99]
        );
        let few = Bins::deciles([1.0, 1.0, 2.0, 2.0, 3.0, f64::NAN].into_iter());
        assert_eq!(few.edges, vec![1.0, 2.0]);
        assert_eq!(few.counts, vec![2, 2, 1]);
        let one = Bins::deciles([5.0; 10].into_iter());
        assert!(one.edges.is_empty());
        assert_eq!(one.counts, vec![10]);
    }

    #[test]
    fn the_same_population_has_no_drift_and_a_shifted_one_does() {
        let reference = Bins::deciles((0..10_000).map(|i| f64::from(i % 100)));
        assert!(
            reference
                .psi((0..10_000).map(|i| f64::from(i % 100)))
                .unwrap()
                < 1e-12
        );
        // A third of the values moved up by 40.
        let shifted = (0..10_000).map(|i| f64::from(i % 100) + if i % 3 == 0 { 40.0 } else { 0.0 });
        let psi = reference.psi(shifted).unwrap();
        assert!(psi > 0.1, "{psi}");
        assert_eq!(reference.psi(std::iter::empty()), None);
    }

    #[test]
    fn psi_matches_a_hand_computation() {
        // Shares 0.5/0.5 against 0.25/0.75: 0.25·ln(0.5) + 0.25·ln(1.5) (the second term's
        // sign: (0.75 − 0.5)·ln(0.75/0.5)).
        let expected = -0.25 * (0.25f64 / 0.5).ln() + 0.25 * (0.75f64 / 0.5).ln();
        let got = psi(&[50, 50], &[25, 75]).unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} {expected}");
    }
}
