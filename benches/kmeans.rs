//! K-Means speed (engine issue). Generates seeded data, writes it (raw little-endian f64) for
//! `benches/sklearn_kmeans.py` to run scikit-learn on the same bytes, and prints one JSON object:
//!
//!   cargo bench --bench kmeans -- DIR        (DIR receives the data files)
//!
//! `benches/kmeans.sh` runs both and prints the comparison recorded in BENCHMARKS.md.

mod shared;

use rayon::prelude::*;
use segstore::segmentation::kmeans::{self, Init, KMeansParams};
use segstore::segmentation::selection::{self, KRule, SweepParams};
use shared::{best_of, blobs, status_kb, write};

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "/tmp/segstore-kmeans-bench".into());
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (n, d, k) = (1_000_000, 8, 8);
    let x = blobs(n, d, k, 1);
    let data_mb = (n * d * 8) as f64 / 1e6;
    write(&dir.join("x_1m.f64"), &x);

    // Streaming bandwidth with every thread: the floor of one Lloyd pass (it reads x once).
    let flat = x.as_slice().unwrap();
    let (bw_s, sum) = best_of(20, || {
        flat.par_chunks(1 << 16)
            .map(|c| c.iter().sum::<f64>())
            .sum::<f64>()
    });
    std::hint::black_box(sum);
    let bandwidth_gbs = data_mb / 1e3 / bw_s;

    // Lloyd from the same initial centroids (k-means++ of seed 7), written for scikit-learn.
    let init_centroids =
        kmeans::initial_centroids(x.view(), &KMeansParams::new(k).seed(7)).unwrap();
    write(&dir.join("init_1m.f64"), &init_centroids);
    let rss_before = status_kb("VmRSS:");
    let lloyd = KMeansParams::new(k)
        .init(Init::Centroids(init_centroids.clone()))
        .n_init(1);
    let mut best_iterations = f64::INFINITY;
    let (lloyd_s, fit) = best_of(5, || {
        let fit = kmeans::fit(x.view(), &lloyd).unwrap();
        best_iterations = best_iterations.min(fit.iterations_seconds);
        fit
    });
    let hwm = status_kb("VmHWM:");
    let per_iter_ms = best_iterations * 1e3 / fit.n_iter as f64;
    let floor_ms = data_mb / 1e3 / bandwidth_gbs * 1e3;

    // End to end: k-means++ and 10 restarts.
    let e2e = KMeansParams::new(k).n_init(10).seed(42);
    let (e2e_s, e2e_fit) = best_of(3, || kmeans::fit(x.view(), &e2e).unwrap());

    // The k sweep with metrics on 100,000 × 8.
    let x100 = blobs(100_000, d, k, 2);
    write(&dir.join("x_100k.f64"), &x100);
    let sweep = SweepParams {
        k_min: 2,
        k_max: 10,
        rule: KRule::Silhouette,
        kmeans: KMeansParams::new(2).n_init(10).seed(42),
    };
    let (sweep_s, sw) = best_of(3, || selection::sweep(x100.view(), &sweep).unwrap());

    let out = serde_json::json!({
        "threads": rayon::current_num_threads(),
        "data_mb": data_mb,
        "bandwidth_gb_s": bandwidth_gbs,
        "floor_ms_per_iter": floor_ms,
        "lloyd": {"seconds": lloyd_s, "n_iter": fit.n_iter, "ms_per_iter": per_iter_ms, "inertia": fit.inertia,
                  "per_iter_over_floor": per_iter_ms / floor_ms},
        "memory": {"rss_before_fit_mb": rss_before / 1e3, "peak_rss_mb": hwm / 1e3,
                   "peak_over_data": hwm / 1e3 / data_mb},
        "end_to_end": {"seconds": e2e_s, "inertia": e2e_fit.inertia, "n_iter": e2e_fit.n_iter},
        "sweep_100k": {"seconds": sweep_s, "chosen_k": sw.chosen_k,
                       "silhouette_rows": sw.points[1].metrics.silhouette_rows,
                       "curve": sw.points.iter().map(|p| (p.k, p.metrics.inertia, p.metrics.silhouette,
                           p.metrics.davies_bouldin, p.metrics.calinski_harabasz)).collect::<Vec<_>>()},
    });
    println!("{out}");
}
