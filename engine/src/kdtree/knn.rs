//! k-nearest queries on the k-d tree: the k-th nearest distance (core distances) and the k
//! nearest rows themselves (scoring a new row), keeping the k best in a max-heap and skipping
//! a node whose box lies beyond the k-th found so far.

use super::KdTree;

use std::collections::BinaryHeap;

impl KdTree {
    /// The squared distance from `q` to its `k`-th nearest row (`q` itself counts when it is
    /// a row of the tree, as scikit-learn's `kneighbors` counts it).
    pub fn kth_nearest_dist2(&self, q: &[f64], k: usize) -> f64 {
        assert!(k >= 1 && k <= self.len(), "1 <= k <= rows");
        let heap = self.k_best(q, k, |_, d2| Dist2(d2), |d| d.0);
        heap.peek().map_or(f64::INFINITY, |d| d.0)
    }

    /// The `k` rows nearest `q` as (tree position, distance), nearest first (equal distances:
    /// the lower input row first).
    pub fn k_nearest(&self, q: &[f64], k: usize) -> Vec<(usize, f64)> {
        let k = k.min(self.len());
        if k == 0 {
            return Vec::new();
        }
        // (squared distance, input row, position): the heap's top is the worst kept.
        self.k_best(q, k, |p, d2| (Dist2(d2), self.order[p], p), |t| t.0.0)
            .into_sorted_vec()
            .into_iter()
            .map(|(d2, _, p)| (p, d2.0.sqrt()))
            .collect()
    }

    /// The `k` least entries `entry(position, squared distance)` makes of the rows near `q`,
    /// in a max-heap; `dist2` reads an entry's squared distance back. A node whose box lies
    /// beyond the k-th kept entry is skipped; the nearer child is searched first.
    fn k_best<T: Ord>(
        &self,
        q: &[f64],
        k: usize,
        entry: impl Fn(usize, f64) -> T,
        dist2: impl Fn(&T) -> f64,
    ) -> BinaryHeap<T> {
        let mut heap: BinaryHeap<T> = BinaryHeap::with_capacity(k + 1);
        let worst = |heap: &BinaryHeap<T>| match heap.peek() {
            Some(top) if heap.len() >= k => dist2(top),
            _ => f64::INFINITY,
        };
        let mut stack = vec![(0usize, 0.0f64)];
        while let Some((node, near)) = stack.pop() {
            if near > worst(&heap) {
                continue;
            }
            match self.children(node) {
                Some((left, right)) => {
                    let (l, r) = (self.box_dist2(left, q).0, self.box_dist2(right, q).0);
                    if l <= r {
                        stack.extend([(right, r), (left, l)]);
                    } else {
                        stack.extend([(left, l), (right, r)]);
                    }
                }
                None => {
                    for p in self.range(node) {
                        let candidate = entry(p, self.dist2(p, q));
                        if heap.len() < k {
                            heap.push(candidate);
                        } else if heap.peek().is_some_and(|top| candidate < *top) {
                            heap.pop();
                            heap.push(candidate);
                        }
                    }
                }
            }
        }
        heap
    }
}

/// A squared distance ordered for the heap (never NaN: the engine refuses NaN rows).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Dist2(f64);

impl Eq for Dist2 {}

impl PartialOrd for Dist2 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dist2 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
