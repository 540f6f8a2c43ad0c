//! Predicted value: BG/NBD and Gamma-Gamma fitted on a summary CSV (`frequency,recency,T,
//! monetary_value`, as benches/gen_clv_orders.py writes it), one process per fit, for timing
//! whole processes against benches/lifetimes_fit.py on the same file:
//!
//!   cargo bench --bench clv -- SUMMARY.csv
//!
//! Prints the parameters, the log-likelihoods and the fit's own time as JSON.

use segstore_engine::clv::{self, Summary};
use std::time::Instant;

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .expect("usage: cargo bench --bench clv -- SUMMARY.csv");
    let text = std::fs::read_to_string(&path).expect("the summary");
    let mut summary = Summary::default();
    for line in text.lines().skip(1) {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        summary.push(f[0] as u32, f[1], f[2], f[3]);
    }
    let started = Instant::now();
    let fitted = clv::fit(&summary, 0.0).expect("a fit");
    let fit_s = started.elapsed().as_secs_f64();
    let (bg, gg) = (&fitted.bgnbd, &fitted.gamma_gamma);
    println!(
        "{}",
        serde_json::json!({
            "customers": summary.len(),
            "fit_s": fit_s,
            "bgnbd": bg.params, "bgnbd_objective": bg.objective, "bgnbd_iterations": bg.iterations,
            "gamma_gamma": gg.params, "gamma_gamma_objective": gg.objective,
            "gamma_gamma_iterations": gg.iterations,
        })
    );
}
