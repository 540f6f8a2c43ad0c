//! Categorical features (gender, country, membership tier): one-hot columns with a weight
//! beside the scaled numeric features, and each segment's share of every category with its
//! lift against everyone.
//!
//! A category becomes one column per level holding `weight` for the row's level and 0 for the
//! others (scikit-learn's `OneHotEncoder`, levels sorted, times the weight). Two customers of
//! different levels are then `√2 · weight` apart on that feature; the default weight,
//! [`DEFAULT_WEIGHT`] = `1/√2`, makes that distance 1: a different gender counts as much as
//! one standard deviation on one standardised numeric feature.

use super::EngineError;
pub use super::columns::CategoryColumn;
use super::columns::Columns;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// The default weight of a category's one-hot columns (see the module's documentation).
pub const DEFAULT_WEIGHT: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Levels a categorical feature may have in one run (one model-space column each).
pub const MAX_LEVELS: usize = 100;

/// How a run encodes one categorical feature (part of its model): the levels training saw,
/// sorted, and the one-hot columns' weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    pub name: String,
    pub levels: Vec<String>,
    pub weight: f64,
}

impl Encoding {
    /// Writes the one-hot columns of `value` into `out` (one per level), or says that
    /// training never saw it.
    pub fn encode(&self, value: &str, out: &mut [f64]) -> Result<(), EngineError> {
        let level = self
            .levels
            .binary_search_by(|l| l.as_str().cmp(value))
            .map_err(|_| EngineError::UnseenCategory {
                feature: self.name.clone(),
                value: value.to_owned(),
                known: self.levels.join(", "),
            })?;
        out.iter_mut().for_each(|v| *v = 0.0);
        out[level] = self.weight;
        Ok(())
    }
}

/// A categorical feature of a run: its encoding and each kept row's level (an index into
/// the encoding's levels).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub encoding: Encoding,
    pub levels: Vec<u32>,
}

/// The categorical columns named, checked: known, each named once, not also one of the
/// `numeric` features, and a one-hot `weight` that is finite and > 0.
pub(crate) fn columns<'a>(
    columns: &'a Columns,
    names: &[String],
    numeric: &[String],
    weight: f64,
) -> Result<Vec<&'a CategoryColumn>, EngineError> {
    let weight_ok = weight > 0.0 && weight.is_finite();
    if !names.is_empty() && !weight_ok {
        return Err(EngineError::invalid(
            "category weight",
            "a finite number above 0",
            weight,
        ));
    }
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if names[..i].contains(name) || numeric.contains(name) {
                return Err(EngineError::DuplicateFeature {
                    feature: name.clone(),
                });
            }
            columns.category(name)
        })
        .collect()
}

/// The encodings of `categories` over the `kept` rows (levels sorted; a missing level takes
/// the most frequent, the first of equals), and how many levels were filled in.
pub(crate) fn encode(
    categories: &[&CategoryColumn],
    kept: &[usize],
    weight: f64,
) -> Result<(Vec<Encoded>, usize), EngineError> {
    let mut imputed = 0;
    let encoded = categories
        .iter()
        .map(|c| {
            let mut counts = vec![0usize; c.levels.len()];
            kept.iter()
                .filter_map(|&r| c.codes[r])
                .for_each(|code| counts[code as usize] += 1);
            let mode = (0..counts.len()).max_by_key(|&l| (counts[l], std::cmp::Reverse(l)));
            // The levels the kept rows have, sorted; each code's place among them.
            let mut used: Vec<usize> = (0..counts.len()).filter(|&l| counts[l] > 0).collect();
            used.sort_by(|&a, &b| c.levels[a].cmp(&c.levels[b]));
            if used.is_empty() && !kept.is_empty() {
                return Err(EngineError::Empty {
                    reason: format!(": categorical feature `{}` has no value in them", c.name),
                });
            }
            if used.len() > MAX_LEVELS {
                return Err(EngineError::TooManyLevels {
                    feature: c.name.clone(),
                    levels: used.len(),
                    max: MAX_LEVELS,
                });
            }
            let mut place = vec![u32::MAX; c.levels.len()];
            used.iter()
                .enumerate()
                .for_each(|(i, &l)| place[l] = i as u32);
            let levels = kept
                .iter()
                .map(|&r| {
                    let code = c.codes[r].unwrap_or_else(|| {
                        imputed += 1;
                        mode.expect("a kept row has a level unless imputing") as u32
                    });
                    place[code as usize]
                })
                .collect();
            Ok(Encoded {
                encoding: Encoding {
                    name: c.name.clone(),
                    levels: used.iter().map(|&l| c.levels[l].clone()).collect(),
                    weight,
                },
                levels,
            })
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    Ok((encoded, imputed))
}

/// The one-hot columns of `rows` rows: each feature's levels in turn.
pub(crate) fn one_hot(encoded: &[Encoded], rows: usize) -> Array2<f64> {
    let width: usize = encoded.iter().map(|e| e.encoding.levels.len()).sum();
    let mut m = Array2::zeros((rows, width));
    let mut at = 0;
    for e in encoded {
        for (i, &l) in e.levels.iter().enumerate() {
            m[[i, at + l as usize]] = e.encoding.weight;
        }
        at += e.encoding.levels.len();
    }
    m
}

/// One level's share of a group (a segment or everyone) and its lift: the share over
/// everyone's share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelShare {
    pub level: String,
    pub share: f64,
    pub lift: f64,
}

/// A categorical feature's levels in a group, in the encoding's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryShares {
    pub feature: String,
    pub levels: Vec<LevelShare>,
}

/// Share above which a group is "mostly" one level (when that level is also over-represented
/// by [`MOSTLY_LIFT`]).
pub const MOSTLY_SHARE: f64 = 2.0 / 3.0;
pub const MOSTLY_LIFT: f64 = 1.15;

/// The shares of each level among `rows` (everyone when `rows` is `None`), with lift against
/// `everyone` (the population's shares; `None` gives lift 1).
pub fn shares(
    feature: &Encoded,
    rows: Option<&[usize]>,
    everyone: Option<&CategoryShares>,
) -> CategoryShares {
    let mut counts = vec![0usize; feature.encoding.levels.len()];
    let mut n = 0usize;
    let mut add = |i: usize| {
        counts[feature.levels[i] as usize] += 1;
        n += 1;
    };
    match rows {
        Some(rows) => rows.iter().for_each(|&i| add(i)),
        None => (0..feature.levels.len()).for_each(&mut add),
    }
    CategoryShares {
        feature: feature.encoding.name.clone(),
        levels: feature
            .encoding
            .levels
            .iter()
            .zip(&counts)
            .enumerate()
            .map(|(l, (level, &c))| {
                let share = if n > 0 { c as f64 / n as f64 } else { 0.0 };
                let base = everyone.map_or(share, |e| e.levels[l].share);
                LevelShare {
                    level: level.clone(),
                    share,
                    lift: if base > 0.0 { share / base } else { 0.0 },
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(levels: &[u32]) -> Encoded {
        Encoded {
            encoding: Encoding {
                name: "gender".into(),
                levels: vec!["Female".into(), "Male".into()],
                weight: DEFAULT_WEIGHT,
            },
            levels: levels.to_vec(),
        }
    }

    #[test]
    fn shares_and_lift() {
        let f = encoded(&[0, 0, 0, 1, 1, 1, 0, 0]);
        let everyone = shares(&f, None, None);
        assert_eq!(everyone.levels[0].share, 5.0 / 8.0);
        assert_eq!(everyone.levels[0].lift, 1.0);
        let segment = shares(&f, Some(&[0, 1, 2, 3]), Some(&everyone));
        assert_eq!(segment.levels[0].share, 0.75);
        assert!((segment.levels[0].lift - 1.2).abs() < 1e-12);
        let all = shares(&f, Some(&[3, 4, 5]), Some(&everyone));
        assert_eq!(all.levels[1].share, 1.0);
        assert!((all.levels[1].lift - 8.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn one_hot_with_the_weight_and_unseen_levels_named() {
        let e = encoded(&[]).encoding;
        let mut out = [9.0; 2];
        e.encode("Male", &mut out).unwrap();
        assert_eq!(out, [0.0, DEFAULT_WEIGHT]);
        let err = e.encode("Other", &mut out).unwrap_err().to_string();
        assert_eq!(
            err,
            "`gender` has no level `Other` in this run's training data; it knows Female, Male"
        );
    }

    #[test]
    fn a_column_from_values_numbers_levels_by_first_appearance() {
        let c =
            CategoryColumn::from_values("tier", [Some("gold"), None, Some("silver"), Some("gold")]);
        assert_eq!(c.levels, ["gold", "silver"]);
        assert_eq!(c.codes, [Some(0), None, Some(1), Some(0)]);
        assert_eq!(c.value(2), Some("silver"));
    }
}
