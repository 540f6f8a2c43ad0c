//! The data a run reads: named numeric columns and categorical ones, of the same rows.

use super::EngineError;

/// Named feature columns of the same length; `None` is a missing value.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub row_ids: Vec<String>,
    pub names: Vec<String>,
    pub values: Vec<Vec<Option<f64>>>,
    /// Categorical columns, of the same rows.
    pub categories: Vec<CategoryColumn>,
}

impl Columns {
    pub fn rows(&self) -> usize {
        self.row_ids.len()
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
