//! Categorical columns of a CSV file for `segstore cluster --categorical`: any column, read as
//! text (numeric codes such as the Wholesale file's `Channel` included), with the import's
//! header normalisation and missing-value tokens.

use super::super::csv::{Record, RecordReader, is_missing, normalize_header};
use crate::segmentation::categorical::CategoryColumn;
use anyhow::{Context, bail};

/// The columns named `names` (normalised headers, as `--features` names them), in the
/// order asked; `rows` is the number of rows the numeric read found (they must agree).
pub fn categories_from_csv(
    bytes: &[u8],
    names: &[String],
    rows: usize,
) -> anyhow::Result<Vec<CategoryColumn>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut at: Option<Vec<usize>> = None;
    let mut values: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    let mut reader = RecordReader::new();
    let mut take = |r: Record<'_>| -> anyhow::Result<()> {
        let cell = |i: usize| {
            std::str::from_utf8(r.field(i))
                .with_context(|| format!("line {}: not valid UTF-8", r.line))
        };
        let Some(at) = &at else {
            let header: Vec<Option<String>> = (0..r.len())
                .map(|i| cell(i).map(normalize_header))
                .collect::<anyhow::Result<_>>()?;
            let found = names
                .iter()
                .map(|name| {
                    header
                        .iter()
                        .position(|h| h.as_deref() == Some(name.as_str()))
                        .with_context(|| {
                            let known: Vec<String> =
                                header.iter().flatten().map(|h| format!("`{h}`")).collect();
                            format!(
                                "--categorical names `{name}`, which the header does not have; it has {}",
                                known.join(", ")
                            )
                        })
                })
                .collect::<anyhow::Result<Vec<usize>>>()?;
            at = Some(found);
            return Ok(());
        };
        if r.len() == 1 && r.field(0).is_empty() {
            return Ok(()); // a blank line
        }
        for (column, &i) in values.iter_mut().zip(at) {
            if i >= r.len() {
                bail!(
                    "line {}: expected at least {} fields, found {}",
                    r.line,
                    i + 1,
                    r.len()
                );
            }
            let v = cell(i)?;
            column.push((!is_missing(v)).then(|| v.trim().to_owned()));
        }
        Ok(())
    };
    reader.feed(bytes, &mut take)?;
    reader.finish(&mut take)?;
    let columns: Vec<CategoryColumn> = names
        .iter()
        .zip(&values)
        .map(|(name, v)| CategoryColumn::from_values(name.clone(), v.iter().map(|v| v.as_deref())))
        .collect();
    if let Some(c) = columns.first()
        && c.codes.len() != rows
    {
        bail!(
            "read {} rows of the categorical columns but {rows} of the numeric ones",
            c.codes.len()
        );
    }
    Ok(columns)
}
