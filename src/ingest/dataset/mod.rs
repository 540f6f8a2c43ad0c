//! Feature columns from a CSV file, with the import endpoint's rules: the same header
//! normalisation (`Annual Income (k$)` → `annual_income_k`), the same id column detection, the
//! same missing-value tokens, and ids that must be unique. Numeric columns (every present
//! value a number) become features; the others are ignored. A file without an id column (the
//! Wholesale customers file as published) has its rows numbered 1..n.
//!
//! A file without quotes is cut at line ends into one piece per thread and parsed in
//! parallel, straight into columns (no string per field); a file with quotes goes through the
//! import's streaming reader, which knows quoted commas and line breaks.

use super::csv::{ID_COLUMNS, Record, RecordReader, is_missing, normalize_header};
use crate::segmentation::preprocess::{Columns, Ids};
use anyhow::{Context, bail};
use rayon::prelude::*;
use std::mem::MaybeUninit;

mod categories;
pub use categories::categories_from_csv;

/// Where the rows' ids came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowIds {
    /// This column (its header as written).
    Column(String),
    /// The file has no id column: rows are numbered 1..n in file order.
    Numbered,
}

/// A CSV file read for clustering.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub columns: Columns,
    pub ids: RowIds,
}

/// The feature columns of a CSV file (see [`read_csv`]).
pub fn columns_from_csv(bytes: &[u8], id_column: Option<&str>) -> anyhow::Result<Columns> {
    Ok(read_csv(bytes, id_column)?.columns)
}

/// Reads a whole CSV file: the id column named by `id_column`, else the first of the import's
/// id columns the header has, else none (rows numbered 1..n).
pub fn read_csv(bytes: &[u8], id_column: Option<&str>) -> anyhow::Result<Dataset> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Table { header, id, rows } = if bytes.contains(&b'"') {
        quoted(bytes, id_column)?
    } else {
        unquoted(bytes, id_column)?
    };
    let Rows {
        ids,
        mut values,
        text,
        lines,
    } = rows;
    let row_ids: Ids = match id {
        Some(id) => {
            unique(&ids, &lines, &header[id])?;
            ids.iter().collect()
        }
        None => (1..=lines.len()).map(|r| r.to_string()).collect(),
    };
    let mut columns = Columns::new(row_ids);
    for (j, raw) in header.iter().enumerate() {
        let Some(name) = normalize_header(raw) else {
            continue;
        };
        if Some(j) == id || text[j] {
            continue;
        }
        let values = std::mem::take(&mut values[j]);
        if values.iter().any(Option::is_some) {
            columns.push_column(name, values.into_iter().map(|v| v.unwrap_or(f64::NAN)));
        }
    }
    Ok(Dataset {
        columns,
        ids: id.map_or(RowIds::Numbered, |j| RowIds::Column(header[j].clone())),
    })
}

/// The id column: the one named, else the first of the import's id columns the header has.
fn id_of(header: &[String], id_column: Option<&str>) -> anyhow::Result<Option<usize>> {
    let names: Vec<Option<String>> = header.iter().map(|h| normalize_header(h)).collect();
    Ok(match id_column {
        Some(wanted) => Some(
            header
                .iter()
                .zip(&names)
                .position(|(raw, norm)| raw.trim() == wanted || norm.as_deref() == Some(wanted))
                .with_context(|| format!("the header has no column `{wanted}`"))?,
        ),
        None => ID_COLUMNS
            .iter()
            .find_map(|c| names.iter().position(|n| n.as_deref() == Some(*c))),
    })
}

/// Refuses an id given to more than one row, naming the first such id and its lines. Ids
/// already in increasing order (exports usually are) are unique: one pass checks that;
/// otherwise a parallel sort finds any id given twice.
fn unique(ids: &[String], lines: &[u64], column: &str) -> anyhow::Result<()> {
    if ids.windows(2).all(|w| w[0] < w[1]) {
        return Ok(());
    }
    let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
    sorted.par_sort_unstable();
    let repeated: std::collections::HashSet<&str> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    // The first row whose id is repeated names it.
    if let Some(twice) = ids.iter().find(|id| repeated.contains(id.as_str())) {
        let at: Vec<u64> = ids
            .iter()
            .zip(lines)
            .filter(|(id, _)| id.as_str() == twice)
            .map(|(_, &l)| l)
            .collect();
        let mut shown: Vec<String> = at.iter().take(10).map(u64::to_string).collect();
        if at.len() > 10 {
            shown.push(format!("… {} rows in all", at.len()));
        }
        bail!(
            "customer id `{twice}` appears more than once (at lines {}): the id column \
             (`{column}`) must name each customer once, as the import endpoint requires",
            shown.join(", ")
        );
    }
    Ok(())
}

/// The header, its id column and the rows.
struct Table {
    header: Vec<String>,
    id: Option<usize>,
    rows: Rows,
}

/// The rows, column by column.
struct Rows {
    /// The id column's cells (empty without one).
    ids: Vec<String>,
    /// Each column's numbers (`None`: missing; the id column's is empty).
    values: Vec<Vec<Option<f64>>>,
    /// Whether a column has a present value that is not a number (its numbers stop there).
    text: Vec<bool>,
    /// The (1-based) line each row is on.
    lines: Vec<u64>,
}

/// A cell of a numeric column into its slot, or the column marked as text.
fn put(cell: &str, slot: &mut Option<f64>, text: &mut bool) {
    if !*text {
        match number(cell) {
            Cell::Number(v) => *slot = Some(v),
            Cell::Missing => *slot = None,
            Cell::Text => *text = true,
        }
    }
}

fn width_error(line: u64, width: usize, found: usize) -> anyhow::Error {
    anyhow::anyhow!("line {line}: expected {width} fields, found {found}")
}

enum Cell {
    Number(f64),
    Missing,
    Text,
}

/// A cell as a number, a missing value (the import's tokens) or text. A cell that starts with
/// a digit is neither a missing token nor `nan`/`inf`, so it goes straight to the parser.
fn number(cell: &str) -> Cell {
    if cell.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Some(v) = plain_decimal(cell.as_bytes()) {
            return Cell::Number(v);
        }
        if let Ok(v) = cell.parse::<f64>() {
            return Cell::Number(v);
        }
    }
    if is_missing(cell) {
        Cell::Missing
    } else {
        cell.trim().parse::<f64>().map_or(Cell::Text, Cell::Number)
    }
}

/// `123` or `123.45` with at most 15 digits in all, exactly as `str::parse` reads it: the
/// digits make an integer below 2^53 and the power of ten is exact, so one division rounds
/// correctly (Clinger's fast path). Anything else (signs, exponents, more digits) is `None`.
fn plain_decimal(bytes: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (mut mantissa, mut digits, mut fraction) = (0u64, 0usize, None::<usize>);
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                if let Some(f) = &mut fraction {
                    *f += 1;
                }
            }
            b'.' if fraction.is_none() => fraction = Some(0),
            _ => return None,
        }
        if digits > 15 {
            return None;
        }
    }
    match fraction {
        _ if digits == 0 => None,
        None => Some(mantissa as f64),
        Some(0) => None,
        Some(f) => Some(mantissa as f64 / POW10[f]),
    }
}

/// A file with quotes: the import's streaming reader, row by row.
fn quoted(bytes: &[u8], id_column: Option<&str>) -> anyhow::Result<Table> {
    let mut table: Option<Table> = None;
    let mut reader = RecordReader::new();
    let mut take = |r: Record<'_>| -> anyhow::Result<()> {
        let cells = r
            .fields()
            .map(|f| {
                std::str::from_utf8(f).with_context(|| format!("line {}: not valid UTF-8", r.line))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let Some(t) = &mut table else {
            let header: Vec<String> = cells.into_iter().map(str::to_owned).collect();
            let width = header.len();
            table = Some(Table {
                id: id_of(&header, id_column)?,
                header,
                rows: Rows {
                    ids: Vec::new(),
                    values: vec![Vec::new(); width],
                    text: vec![false; width],
                    lines: Vec::new(),
                },
            });
            return Ok(());
        };
        let rows = &mut t.rows;
        if cells.len() != rows.values.len() {
            return Err(width_error(r.line, rows.values.len(), cells.len()));
        }
        for (j, cell) in cells.into_iter().enumerate() {
            if Some(j) == t.id {
                rows.ids.push(cell.to_owned());
            } else {
                rows.values[j].push(None);
                let slot = rows.values[j].last_mut().expect("just pushed");
                put(cell, slot, &mut rows.text[j]);
            }
        }
        rows.lines.push(r.line);
        Ok(())
    };
    reader.feed(bytes, &mut take)?;
    reader.finish(&mut take)?;
    table.context("the CSV file is empty: it needs a header line")
}

/// A line without its carriage return.
fn text_of(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A file without quotes: every line is a record; the body is parsed in parallel pieces.
fn unquoted(bytes: &[u8], id_column: Option<&str>) -> anyhow::Result<Table> {
    // The header: the first line that is not blank.
    let mut rest = bytes;
    let mut line = 0u64;
    let header = loop {
        if rest.is_empty() {
            bail!("the CSV file is empty: it needs a header line");
        }
        line += 1;
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let text = text_of(&rest[..end]);
        rest = rest.get(end + 1..).unwrap_or_default();
        if !text.is_empty() {
            break std::str::from_utf8(text)
                .with_context(|| format!("line {line}: not valid UTF-8"))?
                .split(',')
                .map(str::to_owned)
                .collect::<Vec<_>>();
        }
    };
    let id = id_of(&header, id_column)?;
    // Four pieces per thread (for balance), each cut just after a line end.
    let pieces = rayon::current_num_threads() * 4;
    let mut cuts = vec![0];
    for p in 1..pieces {
        let at = (rest.len() * p / pieces).max(cuts[cuts.len() - 1]);
        let cut = rest[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| at + i + 1);
        cuts.push(cut);
    }
    cuts.push(rest.len());
    cuts.dedup();
    let chunks: Vec<&[u8]> = cuts.windows(2).map(|w| &rest[w[0]..w[1]]).collect();
    // Each piece's line ends and rows (lines that are not blank), to cut the columns into
    // the pieces' slices: every piece writes its rows in place, nothing is copied after.
    let counts: Vec<(u64, usize)> = chunks
        .par_iter()
        .map(|c| {
            // Lines, and those that are blank (`\n` or `\r\n` alone, or an empty last one).
            let (mut newlines, mut blank, mut start) = (0u64, 0usize, 0usize);
            for end in memchr::memchr_iter(b'\n', c) {
                newlines += 1;
                blank += usize::from(text_of(&c[start..end]).is_empty());
                start = end + 1;
            }
            let last = usize::from(start < c.len() && !text_of(&c[start..]).is_empty());
            let rows = newlines as usize - blank + last;
            (newlines, rows)
        })
        .collect();
    let width = header.len();
    let total: usize = counts.iter().map(|c| c.1).sum();
    // The numeric columns are filled in place by the pieces, each slot written once (pages
    // are touched by the thread that fills them; no zeroing pass over them first).
    let mut values: Vec<Vec<Option<f64>>> = (0..width)
        .map(|j| Vec::with_capacity(if Some(j) == id { 0 } else { total }))
        .collect();
    let mut ids = if id.is_some() {
        vec![String::new(); total]
    } else {
        Vec::new()
    };
    let mut lines = vec![0u64; total];
    let mut pieces = Vec::with_capacity(chunks.len());
    {
        let mut free: Vec<&mut [MaybeUninit<Option<f64>>]> =
            values.iter_mut().map(|v| v.spare_capacity_mut()).collect();
        let mut ids = &mut ids[..];
        let mut lines = &mut lines[..];
        let mut first = line + 1;
        for (chunk, &(newlines, n)) in chunks.iter().zip(&counts) {
            let columns: Vec<&mut [MaybeUninit<Option<f64>>]> = free
                .iter_mut()
                .map(|v| {
                    let whole = std::mem::take(v);
                    let (head, tail) = whole.split_at_mut(n.min(whole.len()));
                    *v = tail;
                    head
                })
                .collect();
            let take_ids = n.min(ids.len());
            let (piece_ids, rest) = std::mem::take(&mut ids).split_at_mut(take_ids);
            ids = rest;
            let (piece_lines, rest) = std::mem::take(&mut lines).split_at_mut(n);
            lines = rest;
            pieces.push((*chunk, first, columns, piece_ids, piece_lines));
            first += newlines;
        }
    }
    let texts = pieces
        .into_par_iter()
        .map(|(chunk, first, mut columns, ids, lines)| {
            // Valid UTF-8 as a whole, or the first line that is not.
            let Ok(chunk) = std::str::from_utf8(chunk) else {
                let bad = chunk
                    .split(|&b| b == b'\n')
                    .position(|l| std::str::from_utf8(l).is_err())
                    .unwrap_or(0);
                bail!("line {}: not valid UTF-8", first + bad as u64);
            };
            let mut text = vec![false; width];
            let mut row = 0;
            for (i, raw) in chunk.split('\n').enumerate() {
                let cells = raw.strip_suffix('\r').unwrap_or(raw);
                if cells.is_empty() {
                    continue;
                }
                let at = first + i as u64;
                let mut found = 0;
                for (j, cell) in cells.split(',').enumerate() {
                    found += 1;
                    if Some(j) == id {
                        ids[row] = cell.to_owned();
                    } else if j < width {
                        let mut slot = None;
                        put(cell, &mut slot, &mut text[j]);
                        columns[j][row].write(slot);
                    }
                }
                if found != width {
                    return Err(width_error(at, width, found));
                }
                lines[row] = at;
                row += 1;
            }
            // The counting pass and this one agree on the rows, so every slot was written.
            assert_eq!(row, lines.len(), "rows counted and rows read differ");
            Ok(text)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut text = vec![false; width];
    for piece in texts {
        for (all, t) in text.iter_mut().zip(piece) {
            *all |= t;
        }
    }
    for (j, column) in values.iter_mut().enumerate() {
        if Some(j) != id {
            // SAFETY: every piece wrote each of its rows' slots of every column but the id
            // (a row that is read has exactly `width` fields, checked above) and the pieces'
            // slices cover the spare capacity's first `total` slots, one row per slot.
            unsafe { column.set_len(total) };
        }
    }
    let rows = Rows {
        ids,
        values,
        text,
        lines,
    };
    Ok(Table { header, id, rows })
}

#[cfg(test)]
mod tests;
