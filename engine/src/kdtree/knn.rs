//! k-nearest queries on the k-d tree: the k-th nearest distance (core distances) and the k
//! nearest rows themselves (scoring a new row), keeping the k best in a max-heap and skipping
//! a node whose box lies beyond the k-th found so far.

use super::KdTree;

impl KdTree {
    /// The squared distance from `q` to its `k`-th nearest row (`q` itself counts when it is
    /// a row of the tree, as scikit-learn's `kneighbors` counts it): the k smallest squared
    /// distances are kept in a max-heap, and a node whose box lies beyond the k-th is skipped.
    pub fn kth_nearest_dist2(&self, q: &[f64], k: usize) -> f64 {
        assert!(k >= 1 && k <= self.len(), "1 <= k <= rows");
        let mut heap: std::collections::BinaryHeap<Dist2> =
            std::collections::BinaryHeap::with_capacity(k + 1);
        let bound = |heap: &std::collections::BinaryHeap<Dist2>| {
            if heap.len() < k {
                f64::INFINITY
            } else {
                heap.peek().map_or(f64::INFINITY, |d| d.0)
            }
        };
        let mut stack = vec![(0usize, 0.0f64)];
        while let Some((node, near)) = stack.pop() {
            if near > bound(&heap) {
                continue;
            }
            match self.children(node) {
                Some((left, right)) => {
                    let (l, r) = (self.box_dist2(left, q).0, self.box_dist2(right, q).0);
                    // The nearer child last, so it is searched first.
                    if l <= r {
                        stack.extend([(right, r), (left, l)]);
                    } else {
                        stack.extend([(left, l), (right, r)]);
                    }
                }
                None => {
                    for p in self.range(node) {
                        let d2 = self.dist2(p, q);
                        if heap.len() < k {
                            heap.push(Dist2(d2));
                        } else if d2 < bound(&heap) {
                            heap.pop();
                            heap.push(Dist2(d2));
                        }
                    }
                }
            }
        }
        bound(&heap)
    }

    /// The `k` rows nearest `q` as (tree position, distance), nearest first (equal distances:
    /// the lower input row first).
    pub fn k_nearest(&self, q: &[f64], k: usize) -> Vec<(usize, f64)> {
        let k = k.min(self.len());
        // (squared distance, input row, position): the heap's top is the worst kept.
        let mut heap: std::collections::BinaryHeap<(Dist2, u32, usize)> =
            std::collections::BinaryHeap::with_capacity(k + 1);
        let worst = |heap: &std::collections::BinaryHeap<(Dist2, u32, usize)>| {
            if heap.len() < k {
                f64::INFINITY
            } else {
                heap.peek().map_or(f64::INFINITY, |t| t.0.0)
            }
        };
        let mut stack = vec![(0usize, 0.0f64)];
        while let Some((node, near)) = stack.pop() {
            if k == 0 || near > worst(&heap) {
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
                        let entry = (Dist2(self.dist2(p, q)), self.order[p], p);
                        if heap.len() < k {
                            heap.push(entry);
                        } else if heap.peek().is_some_and(|top| entry < *top) {
                            heap.pop();
                            heap.push(entry);
                        }
                    }
                }
            }
        }
        heap.into_sorted_vec()
            .into_iter()
            .map(|(d2, _, p)| (p, d2.0.sqrt()))
            .collect()
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
