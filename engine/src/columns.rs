//! The data a run reads: named numeric columns and categorical ones, of the same rows.
//!
//! At 10M rows the columns are the largest thing a run holds, so they are laid out to be
//! small: the numeric values in one column-major buffer of `f64` (a missing value is `NaN`,
//! which no store or CSV import admits as a value), and the row ids in one string with their
//! end offsets.

use super::EngineError;
use ndarray::{ArrayView2, ShapeBuilder};

/// Row ids, packed: one string and each id's end in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    text: String,
    ends: Vec<usize>,
}

impl Ids {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            text: String::new(),
            ends: Vec::with_capacity(rows),
        }
    }

    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The ids in this order (`order[new] = old`).
    pub fn permuted(&self, order: &[u32]) -> Self {
        let mut ids = Self {
            text: String::with_capacity(self.text.len()),
            ends: Vec::with_capacity(order.len()),
        };
        for &i in order {
            ids.push(self.get(i as usize));
        }
        ids
    }
}

impl std::ops::Index<usize> for Ids {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        self.get(i)
    }
}

impl<S: AsRef<str>> FromIterator<S> for Ids {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut ids = Self::with_capacity(iter.size_hint().0);
        for id in iter {
            ids.push(id.as_ref());
        }
        ids
    }
}

/// Named numeric columns of the same rows (`NaN`: missing), and categorical ones.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub row_ids: Ids,
    names: Vec<String>,
    /// Column-major: column `c` is `values[c * rows..(c + 1) * rows]`.
    values: Vec<f64>,
    /// Categorical columns, of the same rows.
    pub categories: Vec<CategoryColumn>,
}

impl Columns {
    /// No numeric column yet.
    pub fn new(row_ids: Ids) -> Self {
        Self {
            row_ids,
            ..Self::default()
        }
    }

    /// The numeric columns of `values`, column-major (`names.len()` columns of
    /// `row_ids.len()` values; `NaN` is missing).
    pub fn from_column_major(row_ids: Ids, names: Vec<String>, values: Vec<f64>) -> Self {
        assert_eq!(
            values.len(),
            row_ids.len() * names.len(),
            "one value per row and column"
        );
        Self {
            row_ids,
            names,
            values,
            categories: Vec::new(),
        }
    }

    /// Columns of optional values (`None`: missing), a convenience for small data.
    pub fn from_options(row_ids: Ids, columns: Vec<(String, Vec<Option<f64>>)>) -> Self {
        let mut all = Self::new(row_ids);
        for (name, values) in columns {
            all.push_column(name, values.into_iter().map(|v| v.unwrap_or(f64::NAN)));
        }
        all
    }

    /// Adds a numeric column (`NaN`: missing). It must have a value for every row.
    pub fn push_column(&mut self, name: String, values: impl IntoIterator<Item = f64>) {
        let before = self.values.len();
        self.values.extend(values);
        assert_eq!(
            self.values.len() - before,
            self.rows(),
            "column `{name}`: one value per row"
        );
        self.names.push(name);
    }

    pub fn rows(&self) -> usize {
        self.row_ids.len()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Numeric column `c` (`NaN`: missing).
    pub fn column(&self, c: usize) -> &[f64] {
        let n = self.rows();
        &self.values[c * n..(c + 1) * n]
    }

    pub fn column_mut(&mut self, c: usize) -> &mut [f64] {
        let n = self.rows();
        &mut self.values[c * n..(c + 1) * n]
    }

    /// Row `r` of column `c`, `None` when missing.
    pub fn get(&self, c: usize, r: usize) -> Option<f64> {
        Some(self.column(c)[r]).filter(|v| !v.is_nan())
    }

    /// Column `c`'s values that are not missing.
    pub fn present(&self, c: usize) -> impl Iterator<Item = f64> + '_ {
        self.column(c).iter().copied().filter(|v| !v.is_nan())
    }

    /// How many values column `c` misses.
    pub fn missing(&self, c: usize) -> usize {
        self.column(c).iter().filter(|v| v.is_nan()).count()
    }

    /// Column `c` with its missing values as `None`.
    pub fn options(&self, c: usize) -> Vec<Option<f64>> {
        (0..self.rows()).map(|r| self.get(c, r)).collect()
    }

    /// Columns `0..d` as a rows × d matrix (column-major; `NaN`: missing).
    pub fn leading(&self, d: usize) -> ArrayView2<'_, f64> {
        let n = self.rows();
        ArrayView2::from_shape((n, d).f(), &self.values[..n * d]).expect("n × d values")
    }

    pub(crate) fn category(&self, name: &str) -> Result<&CategoryColumn, EngineError> {
        self.categories
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| EngineError::UnknownCategory {
                name: name.to_owned(),
                available: if self.categories.is_empty() {
                    "no categorical columns".to_owned()
                } else {
                    self.categories
                        .iter()
                        .map(|c| format!("`{}`", c.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }

    pub(crate) fn index(&self, name: &str) -> Result<usize, EngineError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| EngineError::UnknownFeature {
                name: name.to_owned(),
                available: if self.names.is_empty() {
                    "no numeric columns".to_owned()
                } else {
                    self.names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }
}

/// A categorical column: each row's level as an index into `levels` (`None`: missing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CategoryColumn {
    pub name: String,
    pub levels: Vec<String>,
    pub codes: Vec<Option<u32>>,
}

impl CategoryColumn {
    /// The column of these values, levels in order of first appearance.
    pub fn from_values<'a>(
        name: impl Into<String>,
        values: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Self {
        let mut index = std::collections::HashMap::<&str, u32>::new();
        let mut levels = Vec::new();
        let codes = values
            .into_iter()
            .map(|v| {
                v.map(|v| {
                    *index.entry(v).or_insert_with(|| {
                        levels.push(v.to_owned());
                        levels.len() as u32 - 1
                    })
                })
            })
            .collect();
        Self {
            name: name.into(),
            levels,
            codes,
        }
    }

    pub fn value(&self, row: usize) -> Option<&str> {
        self.codes[row].map(|c| self.levels[c as usize].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_ids_read_back_and_permute() {
        let ids: Ids = ["c10", "", "a", "bb"].into_iter().collect();
        assert_eq!(ids.len(), 4);
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["c10", "", "a", "bb"]);
        let sorted = ids.permuted(&[1, 2, 3, 0]);
        assert_eq!(sorted.iter().collect::<Vec<_>>(), ["", "a", "bb", "c10"]);
        assert_eq!(&sorted[3], "c10");
        assert!(Ids::default().is_empty());
    }

    #[test]
    fn columns_are_column_major_and_nan_is_missing() {
        let mut c = Columns::new(["a", "b", "c"].into_iter().collect());
        c.push_column("x".into(), [1.0, f64::NAN, 3.0]);
        c.push_column("y".into(), [4.0, 5.0, 6.0]);
        assert_eq!(c.names(), ["x", "y"]);
        assert_eq!(c.options(0), [Some(1.0), None, Some(3.0)]);
        assert_eq!(c.get(1, 2), Some(6.0));
        let m = c.leading(2);
        assert_eq!(m.row(2).to_vec(), [3.0, 6.0]);
        let same = Columns::from_column_major(
            c.row_ids.clone(),
            vec!["x".into(), "y".into()],
            vec![1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0],
        );
        assert_eq!(same.options(0), c.options(0));
        assert_eq!(same.column(1), c.column(1));
    }
}
