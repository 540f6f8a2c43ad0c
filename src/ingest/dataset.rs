//! Feature columns from a CSV file, with the import endpoint's rules: the same header
//! normalisation (`Annual Income (k$)` → `annual_income_k`), the same id column detection, the
//! same missing-value tokens. Numeric columns (every present value a number) become features;
//! the others are ignored.

use super::csv::{ID_COLUMNS, MISSING_TOKENS, Record, RecordReader, normalize_header};
use crate::segmentation::preprocess::Columns;
use anyhow::{Context, bail};

pub fn columns_from_csv(bytes: &[u8], id_column: Option<&str>) -> anyhow::Result<Columns> {
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    let mut reader = RecordReader::new();
    let mut take = |r: Record<'_>| -> anyhow::Result<()> {
        let fields = r
            .fields()
            .map(|f| {
                String::from_utf8(f.to_vec())
                    .with_context(|| format!("line {}: not valid UTF-8", r.line))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        rows.push((r.line, fields));
        Ok(())
    };
    reader.feed(bytes, &mut take)?;
    reader.finish(&mut take)?;
    let Some((_, header)) = rows.first().cloned() else {
        bail!("the CSV file is empty: it needs a header line");
    };
    let names: Vec<Option<String>> = header.iter().map(|h| normalize_header(h)).collect();
    let id = match id_column {
        Some(wanted) => header
            .iter()
            .zip(&names)
            .position(|(raw, norm)| raw.trim() == wanted || norm.as_deref() == Some(wanted))
            .with_context(|| format!("the header has no column `{wanted}`"))?,
        None => ID_COLUMNS
            .iter()
            .find_map(|c| names.iter().position(|n| n.as_deref() == Some(*c)))
            .context("no customer id column found (CustomerID, customer_id, id); name it with --id-column")?,
    };
    let data = &rows[1..];
    for (line, fields) in data {
        if fields.len() != header.len() {
            bail!(
                "line {line}: expected {} fields, found {}",
                header.len(),
                fields.len()
            );
        }
    }
    let missing = |v: &str| {
        MISSING_TOKENS
            .iter()
            .any(|t| v.trim().eq_ignore_ascii_case(t))
    };
    let mut columns = Columns {
        row_ids: data.iter().map(|(_, f)| f[id].clone()).collect(),
        ..Columns::default()
    };
    for (j, name) in names.iter().enumerate() {
        let Some(name) = name else { continue };
        if j == id {
            continue;
        }
        let parsed: Option<Vec<Option<f64>>> = data
            .iter()
            .map(|(_, f)| {
                if missing(&f[j]) {
                    Some(None)
                } else {
                    f[j].trim().parse::<f64>().ok().map(Some)
                }
            })
            .collect();
        if let Some(values) = parsed.filter(|v| v.iter().any(Option::is_some)) {
            columns.names.push(name.clone());
            columns.values.push(values);
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_columns_by_normalised_name() {
        let csv =
            b"CustomerID,Genre,Age,Annual Income (k$)\r\n0001,Male,19,15\r\n0002,Female,NA,16";
        let c = columns_from_csv(csv, None).unwrap();
        assert_eq!(c.row_ids, ["0001", "0002"]);
        assert_eq!(c.names, ["age", "annual_income_k"]);
        assert_eq!(c.values[0], [Some(19.0), None]);
        assert!(columns_from_csv(b"name,age\nx,1\n", None).is_err());
        assert!(columns_from_csv(b"", None).is_err());
        assert_eq!(
            columns_from_csv(b"name,age\nx,1\n", Some("name"))
                .unwrap()
                .row_ids,
            ["x"]
        );
    }
}
