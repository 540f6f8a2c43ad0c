//! `segstore cluster`'s table: the run as a marketer reads it (the fit, the k sweep, each
//! segment's means, leading categories and label, the split tree).

use crate::segmentation::bisecting::SplitTree;
use crate::segmentation::categorical;
use crate::segmentation::model::Assign;
use crate::segmentation::pipeline::RunResult;
use crate::segmentation::profile::humanize;
use std::fmt::Write as _;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// What the table repeats of how the run was asked for.
pub(super) struct Asked<'a> {
    pub(super) scaling: String,
    pub(super) categorical: &'a [String],
    pub(super) category_weight: f64,
    pub(super) weight: Option<&'a str>,
}

/// The profiles as a table a marketer can read.
pub(super) fn table(r: &RunResult, args: &Asked<'_>) -> String {
    let mut s = String::new();
    let features = &r.profiles.features;
    let _ = writeln!(
        s,
        "{} customers clustered by {} on {} ({} scaling){}",
        r.rows_used,
        r.algorithm,
        if args.categorical.is_empty() {
            features.join(", ")
        } else {
            format!(
                "{} and {} (one-hot, weight {:.4})",
                features.join(", "),
                args.categorical.join(", "),
                args.category_weight
            )
        },
        args.scaling,
        if r.rows_dropped > 0 {
            format!("; {} rows left out for a missing value", r.rows_dropped)
        } else if r.values_imputed > 0 {
            format!(
                "; {} missing values imputed with the median",
                r.values_imputed
            )
        } else {
            String::new()
        }
    );
    let m = &r.metrics;
    let _ = writeln!(
        s,
        "k = {} ({}) · silhouette {}{} · Davies-Bouldin {} · Calinski-Harabasz {} · {}inertia {:.4}{}\n",
        r.k,
        r.k_rule,
        opt(m.silhouette, 4),
        if m.silhouette_sampled {
            format!(" (sample of {})", m.silhouette_rows)
        } else {
            String::new()
        },
        opt(m.davies_bouldin, 4),
        opt(m.calinski_harabasz, 2),
        if r.profiles.weighted.is_some() {
            "weighted "
        } else {
            ""
        },
        m.inertia,
        match r.restarts {
            Some(n) if n > 1 && r.algorithm == "bisecting" => {
                format!(" (best of {n} restarts per split)")
            }
            Some(n) if n > 1 => format!(" (best of {n} restarts)"),
            _ => String::new(),
        }
    );
    if let Some(p) = &r.pca {
        let shares: Vec<String> = p
            .explained_variance_ratio
            .iter()
            .enumerate()
            .map(|(i, v)| format!("PC{} {:.1}%", i + 1, v * 100.0))
            .collect();
        let _ = writeln!(
            s,
            "clustered on {} principal component(s){}: {} (total {:.1}%)\n",
            p.components,
            if p.components < p.requested {
                format!(" (of {} asked: the data has no more)", p.requested)
            } else {
                String::new()
            },
            shares.join(", "),
            p.explained_variance_ratio.iter().sum::<f64>() * 100.0
        );
    }
    if r.noise > 0 {
        let _ = writeln!(
            s,
            "{} customers are noise (in no dense region): not in any segment\n",
            r.noise
        );
    }
    if let Some(g) = &r.mixture {
        let _ = writeln!(
            s,
            "mixture: log-likelihood {:.4} ({:.6} per customer) · BIC {:.4} · AIC {:.4}\n",
            g.log_likelihood, g.mean_log_likelihood, g.bic, g.aic
        );
    }
    if let Some(sel) = &r.k_selection {
        let _ = writeln!(
            s,
            "{:>4}  {:>14}  {:>10}  {:>14}  {:>17}",
            "k", "inertia", "silhouette", "Davies-Bouldin", "Calinski-Harabasz"
        );
        for p in &sel.curve {
            let mark = match (Some(p.k) == sel.elbow_k, Some(p.k) == sel.best_silhouette_k) {
                (true, true) => "  ← elbow, best silhouette",
                (true, false) => "  ← elbow",
                (false, true) => "  ← best silhouette",
                _ => "",
            };
            let _ = writeln!(
                s,
                "{:>4}  {:>14.4}  {:>10}  {:>14}  {:>17}{mark}",
                p.k,
                p.metrics.inertia,
                opt(p.metrics.silhouette, 4),
                opt(p.metrics.davies_bouldin, 4),
                opt(p.metrics.calinski_harabasz, 2)
            );
        }
        s.push('\n');
    }
    let headers: Vec<String> = features.iter().map(|f| humanize(f)).collect();
    let widths: Vec<usize> = headers.iter().map(|h| h.len().max(8)).collect();
    let label_width = r
        .profiles
        .segments
        .iter()
        .map(|p| p.label.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let weighted = r.profiles.weighted.is_some();
    let _ = write!(s, "{:>7}  {:>6}  {:>6}", "segment", "size", "share");
    if weighted {
        let _ = write!(s, "  {:>6}", "weight");
    }
    for (h, w) in headers.iter().zip(&widths) {
        let _ = write!(s, "  {h:>w$}");
    }
    // Per categorical feature: the most common level and its share.
    let leading = |shares: &categorical::CategoryShares| {
        shares
            .levels
            .iter()
            .max_by(|a, b| a.share.total_cmp(&b.share))
            .map_or(String::new(), |l| {
                format!("{:.0}% {}", l.share * 100.0, l.level)
            })
    };
    let category_widths: Vec<usize> = r
        .profiles
        .categories
        .iter()
        .map(|c| {
            r.profiles
                .segments
                .iter()
                .map(|p| &p.categories)
                .chain(std::iter::once(&r.profiles.categories))
                .flat_map(|cs| cs.iter().filter(|x| x.feature == c.feature))
                .map(|x| leading(x).chars().count())
                .max()
                .unwrap_or(0)
                .max(humanize(&c.feature).len())
        })
        .collect();
    for (c, w) in r.profiles.categories.iter().zip(&category_widths) {
        let _ = write!(s, "  {:>w$}", humanize(&c.feature));
    }
    let _ = writeln!(s, "  {:<label_width$}  persona", "label");
    for p in &r.profiles.segments {
        let _ = write!(
            s,
            "{:>7}  {:>6}  {:>5.1}%",
            shown_segment(p.segment),
            p.size,
            p.share * 100.0
        );
        if let Some(w) = &p.weighted {
            let _ = write!(s, "  {:>5.1}%", w.share * 100.0);
        }
        for (c, w) in p.centroid.iter().zip(&widths) {
            let _ = write!(s, "  {c:>w$.2}");
        }
        for (c, w) in p.categories.iter().zip(&category_widths) {
            let _ = write!(s, "  {:>w$}", leading(c));
        }
        let _ = writeln!(
            s,
            "  {:<label_width$}  {}",
            p.label,
            p.persona.as_deref().unwrap_or("")
        );
    }
    // Population figures are over the segmented customers (DBSCAN's noise left out).
    let _ = write!(
        s,
        "{:>7}  {:>6}  {:>6}",
        "all",
        r.rows_used - r.noise,
        "100%"
    );
    if weighted {
        let _ = write!(s, "  {:>6}", "100%");
    }
    for (p, w) in r.profiles.population.iter().zip(&widths) {
        let _ = write!(s, "  {:>w$.2}", p.mean);
    }
    for (c, w) in r.profiles.categories.iter().zip(&category_widths) {
        let _ = write!(s, "  {:>w$}", leading(c));
    }
    s.push('\n');
    if let Assign::Tree(tree) = &r.model.assign {
        split_tree(&mut s, tree);
    }
    if let (Some(all), Some(name)) = (&r.profiles.weighted, args.weight) {
        let _ = writeln!(
            s,
            "\neach customer weighs its {} (total {:.2}); `weight` is the segment's share of it",
            humanize(name),
            all.weight
        );
    }
    let _ = writeln!(
        s,
        "\n(segment columns are the means of its members, in the data's units; labels compare them \
         with all customers: High/Low at ±0.5 standard deviations)"
    );
    let timings: Vec<String> = r
        .timings
        .iter()
        .map(|t| format!("{} {:.1} ms", t.phase, t.ms))
        .collect();
    let _ = writeln!(s, "timings: {}", timings.join(", "));
    s
}

/// Bisecting K-Means' splits, in order, each node named by the segments under it.
fn split_tree(s: &mut String, tree: &SplitTree) {
    let name = |node: usize| {
        let under: Vec<String> = tree
            .clusters_under(node)
            .into_iter()
            .map(|c| shown_segment(c).to_string())
            .collect();
        let noun = if under.len() == 1 {
            "segment"
        } else {
            "segments"
        };
        format!("{noun} {} ({})", under.join(", "), tree.nodes[node].size)
    };
    let _ = writeln!(
        s,
        "\nsplit tree (each step splits the group with the largest inertia in two):"
    );
    for node in tree.splits() {
        let [left, right] = tree.nodes[node].children.expect("a split node has halves");
        let _ = writeln!(
            s,
            "{:>4}. {} → {} + {}",
            tree.nodes[node].split.expect("a split node"),
            name(node),
            name(left),
            name(right)
        );
    }
}

/// Segments are numbered from 1, as the server numbers a first run's segments (its
/// `segment_id`s) and the dashboard shows them (#1…#k); the engine counts from 0.
pub(super) fn shown_segment(engine_index: usize) -> usize {
    engine_index + 1
}
