//! Model space: the rows the algorithms measure distances in. A run either holds them as one
//! row-major matrix or, when it trains in bounded memory (mini-batch K-Means), computes them
//! block by block from the columns in original units with the fitted preprocessing: the
//! scaled matrix is then never held whole.
//!
//! Whatever reads every row goes through [`ModelRows::for_blocks`], in row order, so that a
//! sum over rows adds them in the same order whether they are held or computed.

use super::categorical::Encoded;
use super::preprocess::{Prepared, Preprocessor, forward};
use ndarray::{Array2, ArrayBase, ArrayView2, CowArray, Data, Ix2, s};

/// Rows per block when rows are read a block at a time (8,192 × 8 features: 512 KiB).
pub const BLOCK_ROWS: usize = 8_192;

/// Rows of model space, held or computed.
pub trait ModelRows: Sync {
    fn nrows(&self) -> usize;
    fn ncols(&self) -> usize;
    /// The rows as one matrix, when they are held.
    fn held(&self) -> Option<ArrayView2<'_, f64>>;
    /// Writes the rows `rows`, in that order, into `out` (row-major, `rows.len() × ncols`).
    fn fill(&self, rows: &[usize], out: &mut [f64]);
    /// Calls `f(start, block)` for consecutive blocks of at most [`BLOCK_ROWS`] rows that
    /// cover every row, in order.
    fn for_blocks(&self, f: &mut dyn FnMut(usize, ArrayView2<f64>));

    /// The rows `rows`, in that order.
    fn select(&self, rows: &[usize]) -> Array2<f64> {
        let mut out = Array2::zeros((rows.len(), self.ncols()));
        self.fill(rows, out.as_slice_mut().expect("standard layout"));
        out
    }
}

impl<S: Data<Elem = f64> + Sync> ModelRows for ArrayBase<S, Ix2> {
    fn nrows(&self) -> usize {
        self.nrows()
    }

    fn ncols(&self) -> usize {
        self.ncols()
    }

    fn held(&self) -> Option<ArrayView2<'_, f64>> {
        Some(self.view())
    }

    fn fill(&self, rows: &[usize], out: &mut [f64]) {
        let d = self.ncols();
        for (dst, &r) in out.chunks_exact_mut(d).zip(rows) {
            for (o, v) in dst.iter_mut().zip(self.row(r)) {
                *o = *v;
            }
        }
    }

    fn for_blocks(&self, f: &mut dyn FnMut(usize, ArrayView2<f64>)) {
        let n = self.nrows();
        for start in (0..n).step_by(BLOCK_ROWS) {
            f(
                start,
                self.slice(s![start..(start + BLOCK_ROWS).min(n), ..]),
            );
        }
    }
}

impl<T: ModelRows + ?Sized> ModelRows for &T {
    fn nrows(&self) -> usize {
        (**self).nrows()
    }

    fn ncols(&self) -> usize {
        (**self).ncols()
    }

    fn held(&self) -> Option<ArrayView2<'_, f64>> {
        (**self).held()
    }

    fn fill(&self, rows: &[usize], out: &mut [f64]) {
        (**self).fill(rows, out)
    }

    fn for_blocks(&self, f: &mut dyn FnMut(usize, ArrayView2<f64>)) {
        (**self).for_blocks(f)
    }
}

/// The rows as one matrix: a view when they are held, else computed whole (for the
/// algorithms that need every row at once; mini-batch K-Means does not).
pub fn whole<R: ModelRows + ?Sized>(x: &R) -> CowArray<'_, f64, Ix2> {
    match x.held() {
        Some(view) => view.into(),
        None => x.select(&(0..x.nrows()).collect::<Vec<_>>()).into(),
    }
}

/// The mean of each column, adding the rows in order (as `mean_axis(Axis(0))` does on a
/// row-major matrix).
pub fn column_means<R: ModelRows + ?Sized>(x: &R) -> Vec<f64> {
    let mut sums = vec![0.0; x.ncols()];
    x.for_blocks(&mut |_, block| {
        for row in block.rows() {
            for (s, v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
    });
    let n = x.nrows() as f64;
    sums.iter().map(|s| s / n).collect()
}

/// Model space computed from the rows in original units: `(transform(x) − centre) / scale`
/// per numeric feature, then the categorical features' one-hot columns. The values are those
/// [`super::preprocess::prepare`] writes into the matrix it holds, bit for bit.
#[derive(Debug, Clone, Copy)]
pub struct Scaled<'a> {
    pub(crate) original: ArrayView2<'a, f64>,
    pub(crate) preprocessor: &'a Preprocessor,
    pub(crate) categories: &'a [Encoded],
}

impl Scaled<'_> {
    fn width(&self) -> usize {
        self.original.ncols()
            + self
                .categories
                .iter()
                .map(|c| c.encoding.levels.len())
                .sum::<usize>()
    }
}

impl ModelRows for Scaled<'_> {
    fn nrows(&self) -> usize {
        self.original.nrows()
    }

    fn ncols(&self) -> usize {
        self.width()
    }

    fn held(&self) -> Option<ArrayView2<'_, f64>> {
        None
    }

    fn fill(&self, rows: &[usize], out: &mut [f64]) {
        let (d, width) = (self.original.ncols(), self.width());
        let p = self.preprocessor;
        // Column by column: the original rows are column-major.
        for j in 0..d {
            let (t, c, s) = (p.features[j].transform, p.center[j], p.scale[j]);
            let column = self.original.column(j);
            for (i, &r) in rows.iter().enumerate() {
                out[i * width + j] = (forward(t, column[r]) - c) / s;
            }
        }
        let mut at = d;
        for e in self.categories {
            let levels = e.encoding.levels.len();
            for (i, &r) in rows.iter().enumerate() {
                let dst = &mut out[i * width + at..i * width + at + levels];
                dst.iter_mut().for_each(|v| *v = 0.0);
                dst[e.levels[r] as usize] = e.encoding.weight;
            }
            at += levels;
        }
    }

    fn for_blocks(&self, f: &mut dyn FnMut(usize, ArrayView2<f64>)) {
        let n = self.nrows();
        let mut block = Array2::zeros((BLOCK_ROWS.min(n), self.width()));
        let mut rows = Vec::with_capacity(BLOCK_ROWS);
        for start in (0..n).step_by(BLOCK_ROWS) {
            let end = (start + BLOCK_ROWS).min(n);
            rows.clear();
            rows.extend(start..end);
            let mut part = block.slice_mut(s![..end - start, ..]);
            self.fill(
                &rows,
                part.as_slice_mut().expect("leading rows are contiguous"),
            );
            f(start, block.slice(s![..end - start, ..]));
        }
    }
}

/// A run's model space as the preprocessing left it: held, or computed from the columns.
#[derive(Debug, Clone, Copy)]
pub enum Space<'a> {
    Held(ArrayView2<'a, f64>),
    Scaled(Scaled<'a>),
}

impl<'a> Space<'a> {
    /// A prepared run's model space: its held matrix, or its rows computed from `original`.
    pub fn of(prepared: &'a Prepared) -> Self {
        match &prepared.matrix {
            Some(m) => Space::Held(m.view()),
            None => Space::Scaled(Scaled {
                original: prepared.original.view(),
                preprocessor: &prepared.preprocessor,
                categories: &prepared.categories,
            }),
        }
    }
}

impl ModelRows for Space<'_> {
    fn nrows(&self) -> usize {
        match self {
            Space::Held(m) => m.nrows(),
            Space::Scaled(s) => s.nrows(),
        }
    }

    fn ncols(&self) -> usize {
        match self {
            Space::Held(m) => m.ncols(),
            Space::Scaled(s) => s.ncols(),
        }
    }

    fn held(&self) -> Option<ArrayView2<'_, f64>> {
        match self {
            Space::Held(m) => Some(m.view()),
            Space::Scaled(_) => None,
        }
    }

    fn fill(&self, rows: &[usize], out: &mut [f64]) {
        match self {
            Space::Held(m) => m.fill(rows, out),
            Space::Scaled(s) => s.fill(rows, out),
        }
    }

    fn for_blocks(&self, f: &mut dyn FnMut(usize, ArrayView2<f64>)) {
        match self {
            Space::Held(m) => m.for_blocks(f),
            Space::Scaled(s) => s.for_blocks(f),
        }
    }
}
