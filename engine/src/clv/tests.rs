//! Against lifetimes 0.11 (`tests/fixtures/reference/clv.py`, its outputs beside it): the
//! fitted parameters and log-likelihoods, every customer's predictions, the synthetic set's
//! true parameters; and the errors.

use super::*;
use serde_json::Value;
use std::path::PathBuf;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/reference")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(reference_dir().join("clv.json")).expect("clv.json");
    serde_json::from_str(&text).unwrap()
}

/// A reference CSV: the summary and lifetimes' four predictions per customer.
struct Rows {
    summary: Summary,
    predictions: Vec<[f64; 4]>,
}

fn rows(name: &str) -> Rows {
    let text = std::fs::read_to_string(reference_dir().join(name)).expect(name);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer,frequency,recency,T,monetary_value,p_alive,expected_orders,expected_order_value,value"
    );
    let mut out = Rows {
        summary: Summary::default(),
        predictions: Vec::new(),
    };
    for line in lines {
        let f: Vec<f64> = line
            .split(',')
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        out.summary.push(f[0] as u32, f[1], f[2], f[3]);
        out.predictions.push([f[4], f[5], f[6], f[7]]);
    }
    out
}

fn bg_params(v: &Value) -> BgNbd {
    BgNbd {
        r: v["r"].as_f64().unwrap(),
        alpha: v["alpha"].as_f64().unwrap(),
        a: v["a"].as_f64().unwrap(),
        b: v["b"].as_f64().unwrap(),
    }
}

fn gg_params(v: &Value) -> GammaGamma {
    GammaGamma {
        p: v["p"].as_f64().unwrap(),
        q: v["q"].as_f64().unwrap(),
        v: v["v"].as_f64().unwrap(),
    }
}

fn bg_vec(p: &BgNbd) -> [f64; 4] {
    [p.r, p.alpha, p.a, p.b]
}

fn gg_vec(p: &GammaGamma) -> [f64; 3] {
    [p.p, p.q, p.v]
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// Our minimum is at least as low as lifetimes' (to 1e-9 relative) and, where lifetimes
/// converged, the parameters agree to 1e-3 relative.
fn agrees(what: &str, ours: &[f64], objective: f64, theirs: &Value, params: &[f64]) {
    let their_objective = theirs["mean_negative_log_likelihood"].as_f64().unwrap();
    assert!(
        objective <= their_objective + 1e-9 * their_objective.abs(),
        "{what}: objective {objective} vs lifetimes' {their_objective}"
    );
    if theirs["converged"].as_bool().unwrap() {
        for (o, t) in ours.iter().zip(params) {
            assert!(
                rel(*o, *t) < 1e-3,
                "{what}: {ours:?} vs lifetimes' {params:?}"
            );
        }
    }
}

/// [`agrees`] for a BG/NBD fit and lifetimes' record of it.
fn bg_agrees(ours: &FitReport<BgNbd>, theirs: &Value) {
    let params = bg_vec(&bg_params(&theirs["params"]));
    agrees(
        "BG/NBD",
        &bg_vec(&ours.params),
        ours.objective,
        theirs,
        &params,
    );
}

/// [`agrees`] for a Gamma-Gamma fit and lifetimes' record of it.
fn gg_agrees(ours: &FitReport<GammaGamma>, theirs: &Value) {
    let params = gg_vec(&gg_params(&theirs["params"]));
    agrees(
        "Gamma-Gamma",
        &gg_vec(&ours.params),
        ours.objective,
        theirs,
        &params,
    );
}

#[test]
fn synthetic_fit_equals_lifetimes_and_recovers_the_true_parameters() {
    let reference = reference();
    let set = &reference["synthetic"];
    let data = rows("clv_synthetic.csv");
    let fitted = fit(&data.summary, 0.0).unwrap();
    let bg = &fitted.bgnbd;
    let gg = &fitted.gamma_gamma;
    bg_agrees(bg, &set["bgnbd"]);
    gg_agrees(gg, &set["gamma_gamma"]);
    assert_eq!(
        gg.customers,
        set["gamma_gamma"]["customers"].as_u64().unwrap() as usize
    );
    // Standard errors as lifetimes computes them (its Hessian by autograd, ours by differences
    // of the analytic gradient).
    let ses = bg_vec(bg.standard_errors.as_ref().unwrap());
    let theirs = bg_vec(&bg_params(&set["bgnbd"]["standard_errors"]));
    for (o, t) in ses.iter().zip(theirs) {
        assert!(
            rel(*o, t) < 1e-3,
            "BG/NBD standard errors {ses:?} vs {theirs:?}"
        );
    }
    let ses_gg = gg_vec(gg.standard_errors.as_ref().unwrap());
    let theirs = gg_vec(&gg_params(&set["gamma_gamma"]["standard_errors"]));
    for (o, t) in ses_gg.iter().zip(theirs) {
        assert!(
            rel(*o, t) < 1e-3,
            "Gamma-Gamma standard errors {ses_gg:?} vs {theirs:?}"
        );
    }
    // The true parameters lie within two standard errors (a 95% interval each).
    let truth = &set["true"];
    let fitted_all = [bg_vec(&bg.params).to_vec(), gg_vec(&gg.params).to_vec()].concat();
    let ses_all = [ses.to_vec(), ses_gg.to_vec()].concat();
    for (i, name) in ["r", "alpha", "a", "b", "p", "q", "v"].iter().enumerate() {
        let z = (fitted_all[i] - truth[name].as_f64().unwrap()) / ses_all[i];
        assert!(
            z.abs() < 2.0,
            "{name}: {} is {z:.2} standard errors from the truth",
            fitted_all[i]
        );
    }
}

#[test]
fn penalized_synthetic_fit_equals_lifetimes() {
    let reference = reference();
    let set = &reference["synthetic"]["penalizer_0.01"];
    let data = rows("clv_synthetic.csv");
    let fitted = fit(&data.summary, 0.01).unwrap();
    bg_agrees(&fitted.bgnbd, &set["bgnbd"]);
    gg_agrees(&fitted.gamma_gamma, &set["gamma_gamma"]);
}

#[test]
fn online_retail_fit_equals_lifetimes() {
    let reference = reference();
    let set = &reference["online_retail"];
    let data = rows("clv_online_retail.csv");
    assert_eq!(
        data.summary.len(),
        set["customers"].as_u64().unwrap() as usize
    );
    let fitted = fit(&data.summary, 0.0).unwrap();
    let bg = &fitted.bgnbd;
    // a (0.0034, standard error 0.010) and b (6.7, standard error 22) are barely identified:
    // the likelihood is flat along them. Both optimizers still land on the same point.
    bg_agrees(bg, &set["bgnbd"]);
    let gg = &fitted.gamma_gamma;
    gg_agrees(gg, &set["gamma_gamma"]);
}

#[test]
fn online_retail_penalized_reaches_lifetimes_boundary_and_refuses_a_heavy_tail() {
    let reference = reference();
    let set = &reference["online_retail"]["penalizer_0.001"];
    let data = rows("clv_online_retail.csv");
    // lifetimes' BFGS stops without success ("precision loss") with a and b heading to 0; ours
    // reaches a likelihood at least as high there.
    let bg = bgnbd::fit(&data.summary, 0.001).unwrap();
    bg_agrees(&bg, &set["bgnbd"]);
    // Gamma-Gamma's q falls below 1 (lifetimes: 0.839): no finite mean order value.
    let q = gg_params(&set["gamma_gamma"]["params"]).q;
    match fit(&data.summary, 0.001) {
        Err(ClvError::HeavyTail { q: ours }) => assert!(rel(ours, q) < 1e-3, "{ours} vs {q}"),
        other => panic!("{other:?}"),
    }
}

/// Every customer's four figures equal lifetimes' for lifetimes' parameters, to 1e-6.
fn predictions_equal(name: &str, set: &Value) {
    let data = rows(name);
    let bg = bg_params(&set["bgnbd"]["params"]);
    let gg = gg_params(&set["gamma_gamma"]["params"]);
    let ours = predict(&bg, &gg, Horizon::days(365, 0.01), &data.summary).unwrap();
    let mut worst = [0.0f64; 4];
    for (i, (o, t)) in ours.iter().zip(&data.predictions).enumerate() {
        let o = [
            o.p_alive,
            o.expected_orders,
            o.expected_order_value,
            o.value,
        ];
        for k in 0..4 {
            let e = (o[k] - t[k]).abs() / t[k].abs().max(1e-12);
            worst[k] = worst[k].max(e);
            assert!(
                e < 1e-6,
                "{name} row {i} figure {k}: {} vs lifetimes' {}",
                o[k],
                t[k]
            );
        }
    }
    eprintln!("{name}: worst relative differences {worst:?}");
}

#[test]
fn predictions_equal_lifetimes_for_every_customer() {
    let reference = reference();
    predictions_equal("clv_synthetic.csv", &reference["synthetic"]);
    predictions_equal("clv_online_retail.csv", &reference["online_retail"]);
}

#[test]
fn gradients_and_hessians_equal_finite_differences() {
    let data = rows("clv_synthetic.csv");
    let bg = bgnbd::tests_support::objective(&data.summary, 0.01);
    let gg = gamma_gamma::tests_support::objective(&data.summary, 0.01);
    for (f, x) in [
        (&bg as &dyn optimize::Objective, vec![-1.2, -2.5, 0.3, 1.1]),
        (&gg as &dyn optimize::Objective, vec![1.5, 1.2, 2.4]),
    ] {
        let n = x.len();
        let (mut g, mut h) = (vec![0.0; n], vec![0.0; n * n]);
        f.value_grad_hess(&x, &mut g, &mut h);
        let (mut gs, mut hs) = (vec![0.0; n], vec![0.0; n * n]);
        for j in 0..n {
            let step = 1e-6;
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[j] += step;
            xm[j] -= step;
            let fp = f.value_grad_hess(&xp, &mut gs, &mut hs);
            let gp = gs.clone();
            let fm = f.value_grad_hess(&xm, &mut gs, &mut hs);
            let d = (fp - fm) / (2.0 * step);
            assert!(
                (d - g[j]).abs() < 1e-6 * d.abs().max(1.0),
                "gradient {j}: {} vs {d}",
                g[j]
            );
            for i in 0..n {
                let d2 = (gp[i] - gs[i]) / (2.0 * step);
                let got = h[i * n + j];
                assert!(
                    (d2 - got).abs() < 1e-5 * d2.abs().max(1.0),
                    "hessian {i},{j}: {got} vs {d2}"
                );
            }
        }
    }
}

#[test]
fn refuses_what_cannot_be_fitted() {
    let mut s = Summary::default();
    assert_eq!(fit(&s, 0.0), Err(ClvError::NoCustomers));
    // One purchase each.
    (0..5).for_each(|i| s.push(0, 0.0, 10.0 + i as f64, 0.0));
    assert_eq!(
        fit(&s, 0.0),
        Err(ClvError::NoRepeatPurchases { customers: 5 })
    );
    // Everyone on one day.
    let mut one_day = Summary::default();
    (0..5).for_each(|_| one_day.push(0, 0.0, 0.0, 0.0));
    assert_eq!(
        fit(&one_day, 0.0),
        Err(ClvError::NoTimeObserved { customers: 5 })
    );
    // Summary rules.
    let mut bad = Summary::default();
    bad.push(1, 20.0, 10.0, 5.0);
    assert!(matches!(
        fit(&bad, 0.0),
        Err(ClvError::Summary {
            field: "recency",
            ..
        })
    ));
    let mut bad = Summary::default();
    bad.push(2, 5.0, 10.0, f64::INFINITY);
    assert!(matches!(
        fit(&bad, 0.0),
        Err(ClvError::Summary {
            field: "monetary_value",
            ..
        })
    ));
    assert_eq!(fit(&s, -1.0), Err(ClvError::Penalizer(-1.0)));
    assert!(matches!(fit(&s, f64::NAN), Err(ClvError::Penalizer(_))));
}

#[test]
fn the_fit_is_reproducible_and_independent_of_row_order() {
    let data = rows("clv_synthetic.csv");
    let a = fit(&data.summary, 0.0).unwrap();
    let mut reversed = Summary::default();
    for i in (0..data.summary.len()).rev() {
        reversed.push(
            data.summary.frequency[i],
            data.summary.recency[i],
            data.summary.t[i],
            data.summary.monetary[i],
        );
    }
    assert_eq!(a, fit(&reversed, 0.0).unwrap());
    assert_eq!(a, fit(&data.summary, 0.0).unwrap());
}
