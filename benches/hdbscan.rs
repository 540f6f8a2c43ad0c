//! HDBSCAN's speed against scikit-learn's `HDBSCAN` and the `fast_hdbscan` package.
//! Generates seeded, standardized blobs (100k × 8 and 1M × 2), writes them (raw little-endian
//! f64) for `benches/sklearn_hdbscan.py` to cluster the same bytes, writes segstore's labels
//! beside them (little-endian i32, -1 for noise) and prints one JSON object:
//!
//!   cargo bench --bench hdbscan -- DIR        (DIR receives the data and label files)
//!
//! `benches/hdbscan.sh` runs both and prints the comparison recorded in BENCHMARKS.md.

mod shared;

use segstore::segmentation::hdbscan::{self, HdbscanParams};
use serde_json::{Value, json};
use shared::{best_of, blobs_spread, standardize, status_kb, write};
use std::path::Path;

/// The cases: name, rows, columns, minimum cluster size, min_samples, timed runs.
const CASES: &[(&str, usize, usize, usize, usize, usize)] = &[
    ("hdbscan_100k_8", 100_000, 8, 100, 10, 3),
    ("hdbscan_1m_2", 1_000_000, 2, 1_000, 10, 1),
];

fn case(
    dir: &Path,
    name: &str,
    rows: usize,
    cols: usize,
    mcs: usize,
    ms: usize,
    runs: usize,
) -> Value {
    let x = standardize(blobs_spread(rows, cols, 8, 42, 1.0));
    write(&dir.join(format!("{name}.f64")), &x);
    let params = HdbscanParams {
        min_samples: Some(ms),
        ..HdbscanParams::new(mcs)
    };
    let (seconds, fit) = best_of(runs, || hdbscan::hdbscan(x.view(), &params).unwrap());
    let labels: Vec<u8> = fit
        .labels
        .iter()
        .flat_map(|l| l.map_or(-1, |c| c as i32).to_le_bytes())
        .collect();
    std::fs::write(dir.join(format!("{name}.labels")), labels).unwrap();
    json!({"seconds": seconds, "rows": rows, "cols": cols, "min_cluster_size": mcs,
           "min_samples": ms, "clusters": fit.n_clusters,
           "noise": fit.labels.iter().filter(|l| l.is_none()).count()})
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "/tmp/segstore-hdbscan-bench".into());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut out = serde_json::Map::new();
    out.insert("threads".into(), rayon::current_num_threads().into());
    for &(name, rows, cols, mcs, ms, runs) in CASES {
        out.insert(name.into(), case(dir, name, rows, cols, mcs, ms, runs));
    }
    out.insert("peak_rss_mb".into(), (status_kb("VmHWM:") / 1024.0).into());
    println!("{}", Value::Object(out));
}
