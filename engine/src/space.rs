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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::categorical::CategoryColumn;
    use crate::kmeans::minibatch::{self, MiniBatchParams};
    use crate::preprocess::{Columns, Hold, Missing, PreprocessParams, Scaling, prepare_with};
    use crate::{metrics, pca, sample};
    use rand::{Rng, SeedableRng};

    /// More rows than a block, with a log-transformed feature and a category.
    fn columns(n: usize) -> Columns {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let ids = (0..n).map(|i| format!("c{i}")).collect();
        let mut c = Columns::new(ids);
        for f in 0..3 {
            let values: Vec<f64> = (0..n)
                .map(|i| ((i % 4) * 10 + f) as f64 + rng.gen_range(0.0..3.0))
                .collect();
            c.push_column(format!("f{f}"), values);
        }
        let tiers = ["gold", "silver", "bronze"];
        c.categories.push(CategoryColumn::from_values(
            "tier",
            (0..n).map(|i| Some(tiers[i % 3])),
        ));
        c
    }

    fn bits(v: impl IntoIterator<Item = f64>) -> Vec<u64> {
        v.into_iter().map(f64::to_bits).collect()
    }

    #[test]
    fn computed_rows_fit_measure_and_chart_as_the_held_matrix_bit_for_bit() {
        let n = 3 * BLOCK_ROWS + 123;
        let c = columns(n);
        let names: Vec<String> = (0..3).map(|f| format!("f{f}")).collect();
        let params = PreprocessParams::new(&names, &names[2..], Scaling::Standard, Missing::Drop)
            .with_categories(&["tier".to_owned()], 0.5);
        let held = prepare_with(&c, &params, Hold::Matrix).unwrap();
        let streamed = prepare_with(&c, &params, Hold::Columns).unwrap();
        let (a, b) = (Space::of(&held), Space::of(&streamed));
        assert!(a.held().is_some() && b.held().is_none());
        assert_eq!((b.nrows(), b.ncols()), (n, 6));

        let p = MiniBatchParams {
            batch_size: 256,
            ..MiniBatchParams::new(4)
        };
        let (fa, fb) = (
            minibatch::fit(&a, &p).unwrap(),
            minibatch::fit(&b, &p).unwrap(),
        );
        assert_eq!(fa.labels, fb.labels);
        assert_eq!(bits(fa.sq_distances), bits(fb.sq_distances));
        assert_eq!(fa.inertia.to_bits(), fb.inertia.to_bits());

        let (ma, mb) = (
            metrics::evaluate(&a, &fa.labels, 4, 1),
            metrics::evaluate(&b, &fa.labels, 4, 1),
        );
        assert_eq!(ma, mb);
        assert!(ma.silhouette_sampled);
        assert_eq!(
            bits(metrics::cluster_means(&a, &fa.labels, 4)),
            bits(metrics::cluster_means(&b, &fa.labels, 4))
        );

        let (pa, pb) = (pca::pca(&a, 2).unwrap(), pca::pca(&b, 2).unwrap());
        assert_eq!(bits(pa.projection.clone()), bits(pb.projection));
        let labels: Vec<Option<usize>> = fa.labels.iter().map(|&l| Some(l)).collect();
        let chart =
            |s: &Space| sample::chart_sample(s, streamed.original.view(), &labels, 4, 9, 500);
        let (ca, cb) = (chart(&a), chart(&b));
        assert_eq!(ca, cb);
        // The centres are the members' mean projections, every member counted.
        let centre0: Vec<f64> = (0..n)
            .filter(|&i| fa.labels[i] == 0)
            .map(|i| pa.projection[[i, 0]])
            .collect();
        let mean = centre0.iter().sum::<f64>() / centre0.len() as f64;
        let got = ca.pca.unwrap().centres[0][0];
        assert!(
            (got - mean).abs() <= 1e-9 * mean.abs().max(1.0),
            "{got} vs {mean}"
        );
    }
}
