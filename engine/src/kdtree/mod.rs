//! A k-d tree over the rows of a matrix, for radius, nearest and k-nearest queries in any
//! number of dimensions (DBSCAN, HDBSCAN; linfa-nn's trees made DBSCAN 3× slower than
//! scikit-learn's).
//!
//! Rows are copied in tree order, so a leaf's rows are contiguous; each node keeps its
//! bounding box. A radius query adds a node whose box lies wholly inside the sphere without
//! looking at its rows, and skips one wholly outside.

use ndarray::ArrayView2;

/// Rows per leaf.
const LEAF: usize = 32;

#[derive(Debug, Clone)]
struct Node {
    start: u32,
    end: u32,
    /// The right child (the left one follows its parent); 0 for a leaf.
    right: u32,
}

/// What a radius query found: a node whose box lies wholly inside the sphere (its rows are
/// not visited one by one), or a single row (tree position) of a leaf the sphere cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Node(usize),
    Point(usize),
}

/// What a visitor tells the query: go on, or stop here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

#[derive(Debug, Clone)]
pub struct KdTree {
    d: usize,
    /// Rows in tree order, row-major.
    points: Vec<f64>,
    /// The input row of each tree position.
    order: Vec<u32>,
    nodes: Vec<Node>,
    /// Per node, its box: d lower then d upper bounds.
    bounds: Vec<f64>,
}

impl KdTree {
    pub fn new(x: ArrayView2<f64>) -> Self {
        let (n, d) = x.dim();
        assert!(n < u32::MAX as usize, "at most 2^32 - 1 rows");
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut tree = Self {
            d,
            points: Vec::new(),
            order: Vec::new(),
            nodes: Vec::with_capacity(2 * n / LEAF + 1),
            bounds: Vec::with_capacity((2 * n / LEAF + 1) * 2 * d),
        };
        if n > 0 {
            tree.build(x, &mut order, 0, n);
        }
        let mut points = Vec::with_capacity(n * d);
        for &i in &order {
            points.extend(x.row(i as usize).iter());
        }
        tree.points = points;
        tree.order = order;
        tree
    }

    fn build(&mut self, x: ArrayView2<f64>, order: &mut [u32], start: usize, end: usize) {
        let d = self.d;
        let at = self.nodes.len();
        let (mut lo, mut hi) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
        for &i in &order[start..end] {
            for (f, &v) in x.row(i as usize).iter().enumerate() {
                lo[f] = lo[f].min(v);
                hi[f] = hi[f].max(v);
            }
        }
        let (dim, spread) = (0..d)
            .map(|f| (f, hi[f] - lo[f]))
            .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
        self.nodes.push(Node {
            start: start as u32,
            end: end as u32,
            right: 0,
        });
        self.bounds.extend(&lo);
        self.bounds.extend(&hi);
        if end - start <= LEAF || spread <= 0.0 {
            return;
        }
        let mid = start + (end - start) / 2;
        order[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
            x[[a as usize, dim]]
                .total_cmp(&x[[b as usize, dim]])
                .then(a.cmp(&b))
        });
        self.build(x, order, start, mid);
        self.nodes[at].right = self.nodes.len() as u32;
        self.build(x, order, mid, end);
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The input row at tree position `p`.
    pub fn row_of(&self, p: usize) -> usize {
        self.order[p] as usize
    }

    /// The row at tree position `p`.
    pub fn point(&self, p: usize) -> &[f64] {
        &self.points[p * self.d..(p + 1) * self.d]
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Tree positions of node `node`'s rows.
    pub fn range(&self, node: usize) -> std::ops::Range<usize> {
        self.nodes[node].start as usize..self.nodes[node].end as usize
    }

    /// Node `node`'s children, if it has any.
    pub fn children(&self, node: usize) -> Option<(usize, usize)> {
        let right = self.nodes[node].right as usize;
        (right != 0).then_some((node + 1, right))
    }

    /// Squared distances from `q` to the nearest and the farthest point of node `node`'s box.
    pub fn box_dist2(&self, node: usize, q: &[f64]) -> (f64, f64) {
        let b = &self.bounds[node * 2 * self.d..(node + 1) * 2 * self.d];
        let (lo, hi) = b.split_at(self.d);
        let (mut near, mut far) = (0.0, 0.0);
        for f in 0..self.d {
            let (below, above) = (lo[f] - q[f], q[f] - hi[f]);
            let gap = below.max(above).max(0.0);
            near += gap * gap;
            let reach = (q[f] - lo[f]).max(hi[f] - q[f]);
            far += reach * reach;
        }
        (near, far)
    }

    /// Squared distance between `q` and tree position `p`.
    pub fn dist2(&self, p: usize, q: &[f64]) -> f64 {
        let mut s = 0.0;
        for (a, b) in self.point(p).iter().zip(q) {
            let t = a - b;
            s += t * t;
        }
        s
    }

    /// Visits everything within squared distance `r2` of `q`, as [`Hit`]s, until the
    /// visitor stops it.
    pub fn within(&self, q: &[f64], r2: f64, mut visit: impl FnMut(Hit) -> Flow) {
        if self.is_empty() {
            return;
        }
        let mut stack = Vec::with_capacity(64);
        stack.push(0usize);
        while let Some(node) = stack.pop() {
            let (near, far) = self.box_dist2(node, q);
            if near > r2 {
                continue;
            }
            if far <= r2 {
                if visit(Hit::Node(node)) == Flow::Stop {
                    return;
                }
                continue;
            }
            match self.children(node) {
                Some((left, right)) => {
                    stack.push(right);
                    stack.push(left);
                }
                None => {
                    for p in self.range(node) {
                        if self.dist2(p, q) <= r2 && visit(Hit::Point(p)) == Flow::Stop {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Like [`within`](Self::within), every row one by one.
    pub fn each_within(&self, q: &[f64], r2: f64, mut point: impl FnMut(usize) -> Flow) {
        self.within(q, r2, |hit| match hit {
            Hit::Point(p) => point(p),
            Hit::Node(node) => {
                for p in self.range(node) {
                    if point(p) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
                Flow::Continue
            }
        })
    }

    /// The tree position nearest `q` among those `keep` accepts, within squared distance
    /// `r2`, with its squared distance; ties go to the lower input row.
    pub fn nearest_within(
        &self,
        q: &[f64],
        r2: f64,
        keep: impl Fn(usize) -> bool,
    ) -> Option<(usize, f64)> {
        if self.is_empty() {
            return None;
        }
        let mut best: Option<(usize, f64)> = None;
        let mut bound = r2;
        let mut stack = vec![0usize];
        while let Some(node) = stack.pop() {
            if self.box_dist2(node, q).0 > bound {
                continue;
            }
            match self.children(node) {
                Some((left, right)) => {
                    // The nearer child last, so it is searched first.
                    let (l, r) = (self.box_dist2(left, q).0, self.box_dist2(right, q).0);
                    if l <= r {
                        stack.extend([right, left]);
                    } else {
                        stack.extend([left, right]);
                    }
                }
                None => {
                    for p in self.range(node) {
                        let d2 = self.dist2(p, q);
                        let better = match best {
                            None => d2 <= bound,
                            Some((b, bd)) => d2 < bd || (d2 == bd && self.order[p] < self.order[b]),
                        };
                        if better && keep(p) {
                            best = Some((p, d2));
                            bound = d2;
                        }
                    }
                }
            }
        }
        best
    }
}

mod knn;

#[cfg(test)]
mod tests;
