//! From the spanning tree to clusters, as scikit-learn's `_tree.pyx` goes: the single-linkage
//! tree (edges by weight, merged with a union-find), the condensed tree (a split counts only
//! where both sides keep `min_cluster_size` rows; rows of a smaller side fall out of the
//! cluster at that level), each cluster's stability, the clusters selected, and each row's
//! label and membership strength.

use super::Selection;
use super::model::ClusterNode;
use super::mst::Edge;

/// A merge of the single-linkage tree: its two nodes (rows `0..n`, merges `n..`), their
/// distance and the rows under the merge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Merge {
    left: usize,
    right: usize,
    distance: f64,
    size: usize,
}

/// The single-linkage tree of the spanning tree's edges taken in order of weight.
pub(super) fn single_linkage(mut edges: Vec<Edge>, n: usize) -> Vec<Merge> {
    edges.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    // scikit-learn's `UnionFind`: a merge is a new node; finding compresses paths.
    let mut parent = vec![usize::MAX; 2 * n - 1];
    let mut size = vec![1usize; 2 * n - 1];
    let find = |parent: &mut Vec<usize>, mut x: usize| {
        let start = x;
        while parent[x] != usize::MAX {
            x = parent[x];
        }
        let mut p = start;
        while p != x && parent[p] != x {
            let next = parent[p];
            parent[p] = x;
            p = next;
        }
        x
    };
    let mut merges = Vec::with_capacity(n - 1);
    for (i, e) in edges.iter().enumerate() {
        let (a, b) = (find(&mut parent, e.from), find(&mut parent, e.to));
        let node = n + i;
        merges.push(Merge {
            left: a,
            right: b,
            distance: e.distance,
            size: size[a] + size[b],
        });
        parent[a] = node;
        parent[b] = node;
        size[node] = size[a] + size[b];
    }
    merges
}

/// An edge of the condensed tree: a cluster (numbered from `n`, the root) and a child
/// cluster or row, the λ (1 / distance) at which the child leaves it, and the child's rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Condensed {
    parent: usize,
    child: usize,
    lambda: f64,
    size: usize,
}

/// The nodes under `root` (itself included), breadth first, left before right.
fn bfs(merges: &[Merge], n: usize, root: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut queue = vec![root];
    while !queue.is_empty() {
        out.extend_from_slice(&queue);
        queue = queue
            .iter()
            .filter(|&&x| x >= n)
            .flat_map(|&x| [merges[x - n].left, merges[x - n].right])
            .collect();
    }
    out
}

/// The condensed tree: edges in the order scikit-learn lists them.
pub(super) fn condense(merges: &[Merge], n: usize, min_cluster_size: usize) -> Vec<Condensed> {
    let root = 2 * (n - 1);
    let mut relabel = vec![0usize; root + 1];
    relabel[root] = n;
    let mut next = n + 1;
    let mut ignore = vec![false; root + 1];
    let mut out = Vec::new();
    let size_of = |node: usize| if node >= n { merges[node - n].size } else { 1 };
    for node in bfs(merges, n, root) {
        if node < n || ignore[node] {
            continue;
        }
        let Merge {
            left,
            right,
            distance,
            ..
        } = merges[node - n];
        let lambda = if distance > 0.0 {
            1.0 / distance
        } else {
            f64::INFINITY
        };
        let (left_size, right_size) = (size_of(left), size_of(right));
        let parent = relabel[node];
        let fall_out = |side: usize, out: &mut Vec<Condensed>, ignore: &mut [bool]| {
            for sub in bfs(merges, n, side) {
                if sub < n {
                    out.push(Condensed {
                        parent,
                        child: sub,
                        lambda,
                        size: 1,
                    });
                }
                ignore[sub] = true;
            }
        };
        match (
            left_size >= min_cluster_size,
            right_size >= min_cluster_size,
        ) {
            (true, true) => {
                for (side, size) in [(left, left_size), (right, right_size)] {
                    relabel[side] = next;
                    next += 1;
                    out.push(Condensed {
                        parent,
                        child: relabel[side],
                        lambda,
                        size,
                    });
                }
            }
            (false, false) => {
                fall_out(left, &mut out, &mut ignore);
                fall_out(right, &mut out, &mut ignore);
            }
            (false, true) => {
                relabel[right] = parent;
                fall_out(left, &mut out, &mut ignore);
            }
            (true, false) => {
                relabel[left] = parent;
                fall_out(right, &mut out, &mut ignore);
            }
        }
    }
    out
}

/// The flat clustering a condensed tree gives.
pub(super) struct Flat {
    /// Each row's label (numbered in cluster order; `None`: noise) and membership strength.
    pub labels: Vec<Option<usize>>,
    pub probabilities: Vec<f64>,
    pub n_clusters: usize,
    /// Each row's condensed cluster (index: id − rows) and the λ at which it leaves it.
    pub leaves: Vec<(u32, f64)>,
    /// Each condensed cluster, for scoring new rows.
    pub nodes: Vec<ClusterNode>,
}

/// The selected clusters, each row's label and membership strength.
pub(super) fn clusters(tree: &[Condensed], n: usize, selection: Selection) -> Flat {
    let root = n;
    let top = tree
        .iter()
        .map(|e| e.parent.max(e.child))
        .max()
        .unwrap_or(root);
    let clusters = top.max(root) + 1 - root;
    // Per cluster (index: id - n): its parent cluster, birth λ, stability, child clusters.
    let mut parent_of = vec![usize::MAX; clusters];
    let mut birth = vec![0.0f64; clusters];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); clusters];
    for e in tree.iter().filter(|e| e.size > 1) {
        parent_of[e.child - root] = e.parent;
        birth[e.child - root] = e.lambda;
        children[e.parent - root].push(e.child);
    }
    let mut stability = vec![0.0f64; clusters];
    for e in tree {
        stability[e.parent - root] += (e.lambda - birth[e.parent - root]) * e.size as f64;
    }
    let mut selected = vec![false; clusters];
    match selection {
        Selection::Eom => {
            // Children have higher ids than their parent: the highest first is bottom-up. A
            // cluster more stable than its children together is selected and its descendants
            // are not (a later, higher selection clears it in turn).
            for c in (root + 1..root + clusters).rev() {
                let subtree: f64 = children[c - root]
                    .iter()
                    .map(|&k| stability[k - root])
                    .sum();
                if subtree > stability[c - root] {
                    stability[c - root] = subtree;
                } else {
                    selected[c - root] = true;
                    // Its descendants are not clusters.
                    let mut stack = children[c - root].clone();
                    while let Some(k) = stack.pop() {
                        selected[k - root] = false;
                        stack.extend_from_slice(&children[k - root]);
                    }
                }
            }
        }
        Selection::Leaf => {
            for c in root + 1..root + clusters {
                selected[c - root] =
                    children[c - root].is_empty() && parent_of[c - root] != usize::MAX;
            }
        }
    }
    // Labels in cluster-id order.
    let mut label_of = vec![None; clusters];
    let mut count = 0;
    for c in 0..clusters {
        if selected[c] {
            label_of[c] = Some(count);
            count += 1;
        }
    }
    // Each cluster's nearest selected ancestor (itself included).
    let mut owner = vec![None; clusters];
    for c in root..root + clusters {
        owner[c - root] = if selected[c - root] {
            Some(c)
        } else if c == root || parent_of[c - root] == usize::MAX {
            None
        } else {
            owner[parent_of[c - root] - root]
        };
    }
    // The largest λ at which anything leaves each cluster.
    let mut death = vec![0.0f64; clusters];
    for e in tree {
        let d = &mut death[e.parent - root];
        *d = d.max(e.lambda);
    }
    let mut labels = vec![None; n];
    let mut probabilities = vec![0.0; n];
    let mut leaves = vec![(0u32, 0.0f64); n];
    for e in tree.iter().filter(|e| e.child < root) {
        leaves[e.child] = ((e.parent - root) as u32, e.lambda);
        let Some(cluster) = owner[e.parent - root] else {
            continue;
        };
        labels[e.child] = label_of[cluster - root];
        let max_lambda = death[cluster - root];
        probabilities[e.child] = if max_lambda == 0.0 || e.lambda.is_infinite() {
            1.0
        } else {
            e.lambda.min(max_lambda) / max_lambda
        };
    }
    let nodes = (0..clusters)
        .map(|c| ClusterNode {
            parent: if parent_of[c] == usize::MAX {
                c as u32
            } else {
                (parent_of[c] - root) as u32
            },
            birth: birth[c],
            label: owner[c].and_then(|o| label_of[o - root]).map(|l| l as u32),
            max_lambda: owner[c].map_or(0.0, |o| death[o - root]),
        })
        .collect();
    Flat {
        labels,
        probabilities,
        n_clusters: count,
        leaves,
        nodes,
    }
}
