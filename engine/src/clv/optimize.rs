//! Newton's method with Levenberg–Marquardt damping for the handful of log-parameters the
//! CLV models have (Nocedal & Wright, Numerical Optimization, 2nd ed., §3.4 and §10.3).
//! The models give their exact Hessian in the same pass over the data as the gradient, so a
//! step costs one pass and a fit takes a few: BFGS (lifetimes' scipy) needs several times as
//! many passes. The final Hessian gives the standard errors too.
//!
//! Each iteration solves (H + μI) d = −g by Cholesky: μ = 0 (the Newton step) when H is
//! positive definite and the step lowers the objective, else μ grows until it does (towards a
//! short gradient step); it shrinks again after each success.

/// An objective with its gradient and Hessian (row-major) at `x`. Non-finite values mean
/// "outside the domain": the step is refused and damped.
pub trait Objective {
    fn value_grad_hess(&self, x: &[f64], grad: &mut [f64], hess: &mut [f64]) -> f64;
}

/// Where the minimisation ended and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    /// The largest absolute gradient component at `x`.
    pub gradient_norm: f64,
    /// The Hessian at `x`, row-major.
    pub hessian: Vec<f64>,
    pub iterations: usize,
    /// `true` when the gradient reached `tolerance`, or when no step can lower the objective
    /// any more (its rounding outweighs what a step would gain) with the gradient below
    /// `tolerance.sqrt()`.
    pub converged: bool,
}

pub struct Settings {
    /// Stop when every gradient component is below this.
    pub tolerance: f64,
    pub max_iterations: usize,
    /// The largest change of any log-parameter in one step.
    pub max_step: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tolerance: 1e-10,
            max_iterations: 500,
            max_step: 4.0,
        }
    }
}

fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, g| m.max(g.abs()))
}

/// Minimises `f` from `x0`.
pub fn newton(f: &impl Objective, x0: &[f64], settings: &Settings) -> Minimum {
    let n = x0.len();
    let mut x = x0.to_vec();
    let (mut g, mut h) = (vec![0.0; n], vec![0.0; n * n]);
    let mut fx = f.value_grad_hess(&x, &mut g, &mut h);
    let (mut g_try, mut h_try) = (vec![0.0; n], vec![0.0; n * n]);
    let mut mu = 0.0f64;
    let mut iterations = 0;
    let mut stalled = false;
    while iterations < settings.max_iterations && fx.is_finite() {
        if inf_norm(&g) < settings.tolerance {
            break;
        }
        // The damping's scale: the Hessian's largest diagonal entry.
        let scale = (0..n).fold(1e-12f64, |m, i| m.max(h[i * n + i].abs()));
        let mut accepted = false;
        for _ in 0..60 {
            let Some(mut d) = solve_damped(&h, &g, mu) else {
                mu = (mu * 4.0).max(1e-8 * scale);
                continue;
            };
            let longest = inf_norm(&d);
            if longest > settings.max_step {
                d.iter_mut().for_each(|v| *v *= settings.max_step / longest);
            }
            let x_try: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + b).collect();
            let f_try = f.value_grad_hess(&x_try, &mut g_try, &mut h_try);
            if f_try.is_finite() && f_try < fx {
                x = x_try;
                fx = f_try;
                std::mem::swap(&mut g, &mut g_try);
                std::mem::swap(&mut h, &mut h_try);
                mu = if mu < 1e-10 * scale { 0.0 } else { mu / 8.0 };
                accepted = true;
                break;
            }
            mu = (mu * 4.0).max(1e-8 * scale);
        }
        if !accepted {
            stalled = true;
            break;
        }
        iterations += 1;
    }
    let gradient_norm = inf_norm(&g);
    let converged = fx.is_finite()
        && (gradient_norm < settings.tolerance
            || stalled && gradient_norm < settings.tolerance.sqrt());
    Minimum {
        x,
        value: fx,
        gradient_norm,
        hessian: h,
        iterations,
        converged,
    }
}

/// Solves (H + μI) d = −g by Cholesky; `None` when H + μI is not positive definite.
fn solve_damped(h: &[f64], g: &[f64], mu: f64) -> Option<Vec<f64>> {
    let n = g.len();
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = h[i * n + j] + if i == j { mu } else { 0.0 };
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !s.is_finite() || s <= 0.0 {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    // L y = −g, then Lᵀ d = y.
    let mut y = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * y[k]).sum();
        y[i] = (-g[i] - s) / l[i * n + i];
    }
    let mut d = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * d[k]).sum();
        d[i] = (y[i] - s) / l[i * n + i];
    }
    d.iter().all(|v| v.is_finite()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rosenbrock;
    impl Objective for Rosenbrock {
        fn value_grad_hess(&self, x: &[f64], g: &mut [f64], h: &mut [f64]) -> f64 {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            h[0] = 2.0 - 400.0 * (b - 3.0 * a * a);
            h[1] = -400.0 * a;
            h[2] = -400.0 * a;
            h[3] = 200.0;
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        }
    }

    #[test]
    fn finds_the_rosenbrock_minimum_through_an_indefinite_hessian() {
        let m = newton(&Rosenbrock, &[-1.2, 1.0], &Settings::default());
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-8 && (m.x[1] - 1.0).abs() < 1e-8,
            "{m:?}"
        );
    }

    struct Quadratic;
    impl Objective for Quadratic {
        fn value_grad_hess(&self, x: &[f64], g: &mut [f64], h: &mut [f64]) -> f64 {
            // An ill-conditioned bowl centred at (3, -2, 0.5).
            let c = [3.0, -2.0, 0.5];
            let w = [1.0, 1e4, 1e-2];
            h.fill(0.0);
            let mut v = 0.0;
            for i in 0..3 {
                g[i] = 2.0 * w[i] * (x[i] - c[i]);
                h[i * 3 + i] = 2.0 * w[i];
                v += w[i] * (x[i] - c[i]).powi(2);
            }
            v
        }
    }

    #[test]
    fn a_quadratic_takes_one_newton_step() {
        let m = newton(
            &Quadratic,
            &[0.0, 0.0, 0.0],
            &Settings {
                max_step: 100.0,
                ..Settings::default()
            },
        );
        assert!(m.converged, "{m:?}");
        assert!(m.iterations <= 2, "{m:?}");
        for (x, c) in m.x.iter().zip([3.0, -2.0, 0.5]) {
            assert!((x - c).abs() < 1e-9, "{m:?}");
        }
    }

    struct Outside;
    impl Objective for Outside {
        fn value_grad_hess(&self, x: &[f64], g: &mut [f64], h: &mut [f64]) -> f64 {
            // x − ln x: undefined for x <= 0; minimum at x = 1.
            if x[0] <= 0.0 {
                return f64::NAN;
            }
            g[0] = 1.0 - 1.0 / x[0];
            h[0] = 1.0 / (x[0] * x[0]);
            x[0] - x[0].ln()
        }
    }

    #[test]
    fn steps_back_from_outside_the_domain() {
        let m = newton(&Outside, &[20.0], &Settings::default());
        assert!(m.converged, "{m:?}");
        assert!((m.x[0] - 1.0).abs() < 1e-8, "{m:?}");
    }
}
