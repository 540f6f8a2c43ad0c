//! BFGS for the handful of log-parameters the CLV models have (Nocedal & Wright, Numerical
//! Optimization, 2nd ed.: algorithm 6.1 with the strong-Wolfe line search of algorithms 3.5
//! and 3.6). Hand-written because the problems are 3 and 4 dimensional and need a stopping
//! rule of their own: run until the gradient is at the level of rounding, or until no step
//! can lower the objective, then say which.

/// An objective and its gradient at `x`, written into `grad`. Non-finite values mean "outside
/// the domain": the line search steps back.
pub trait Objective {
    fn value_grad(&self, x: &[f64], grad: &mut [f64]) -> f64;
}

/// Where the minimisation ended and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    /// The largest absolute gradient component at `x`.
    pub gradient_norm: f64,
    pub iterations: usize,
    /// `true` when the gradient reached `tolerance` (or, where rounding stops further
    /// progress first, is below `tolerance.sqrt()`).
    pub converged: bool,
}

pub struct Settings {
    /// Stop when every gradient component is below this.
    pub tolerance: f64,
    pub max_iterations: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tolerance: 1e-10,
            max_iterations: 2_000,
        }
    }
}

fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, g| m.max(g.abs()))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises `f` from `x0`.
pub fn bfgs(f: &impl Objective, x0: &[f64], settings: &Settings) -> Minimum {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![0.0; n];
    let mut fx = f.value_grad(&x, &mut g);
    // The inverse Hessian approximation, row-major.
    let mut h = identity(n);
    let mut first = true;
    let mut iterations = 0;
    let mut stalled = false;
    while iterations < settings.max_iterations && fx.is_finite() {
        if inf_norm(&g) < settings.tolerance {
            break;
        }
        let mut d: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| h[i * n + j] * g[j]).sum::<f64>())
            .collect();
        if dot(&d, &g) >= 0.0 {
            // Lost positive definiteness to rounding: restart from steepest descent.
            h = identity(n);
            d = g.iter().map(|v| -v).collect();
        }
        // A first step of unit length at most, as scipy's BFGS takes.
        let alpha0 = if first {
            (1.0 / inf_norm(&d)).min(1.0)
        } else {
            1.0
        };
        let Some((alpha, fnew, gnew)) = line_search(f, &x, fx, &g, &d, alpha0) else {
            if first {
                stalled = true;
                break;
            }
            // Retry once along steepest descent with a fresh approximation.
            h = identity(n);
            first = true;
            continue;
        };
        iterations += 1;
        let s: Vec<f64> = d.iter().map(|v| alpha * v).collect();
        let y: Vec<f64> = gnew.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        x.iter_mut().zip(&s).for_each(|(xi, si)| *xi += si);
        fx = fnew;
        g = gnew;
        if sy > 0.0 {
            if first {
                // Scale the first approximation (N&W eq. 6.20).
                let yy = dot(&y, &y);
                h.iter_mut().for_each(|v| *v *= sy / yy);
            }
            update(&mut h, &s, &y, sy);
        }
        first = false;
        if inf_norm(&s) == 0.0 {
            stalled = true;
            break;
        }
    }
    let gradient_norm = inf_norm(&g);
    let converged = fx.is_finite()
        && (gradient_norm < settings.tolerance
            || (stalled || iterations >= settings.max_iterations)
                && gradient_norm < settings.tolerance.sqrt());
    Minimum {
        x,
        value: fx,
        gradient_norm,
        iterations,
        converged,
    }
}

fn identity(n: usize) -> Vec<f64> {
    let mut h = vec![0.0; n * n];
    (0..n).for_each(|i| h[i * n + i] = 1.0);
    h
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ.
fn update(h: &mut [f64], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum())
        .collect();
    let yhy = dot(y, &hy);
    for i in 0..n {
        for j in 0..n {
            h[i * n + j] +=
                -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;

/// A step `alpha` along `d` meeting the strong Wolfe conditions, with the objective and
/// gradient there; `None` when no step lowers the objective.
fn line_search(
    f: &impl Objective,
    x: &[f64],
    f0: f64,
    g0: &[f64],
    d: &[f64],
    alpha0: f64,
) -> Option<(f64, f64, Vec<f64>)> {
    let dg0 = dot(g0, d);
    let at = |alpha: f64| {
        let xa: Vec<f64> = x.iter().zip(d).map(|(xi, di)| xi + alpha * di).collect();
        let mut g = vec![0.0; x.len()];
        let v = f.value_grad(&xa, &mut g);
        let dg = dot(&g, d);
        (v, g, dg)
    };
    let mut prev = (0.0, f0, dg0);
    let mut alpha = alpha0;
    for i in 0..60 {
        let (v, g, dg) = at(alpha);
        if !v.is_finite() || !dg.is_finite() {
            // Outside the domain: shrink.
            alpha = prev.0 + 0.5 * (alpha - prev.0);
            continue;
        }
        if v > f0 + C1 * alpha * dg0 || (i > 0 && v >= prev.1) {
            return zoom(&at, f0, dg0, prev, (alpha, v, dg));
        }
        if dg.abs() <= -C2 * dg0 {
            return Some((alpha, v, g));
        }
        if dg >= 0.0 {
            return zoom(&at, f0, dg0, (alpha, v, dg), prev);
        }
        prev = (alpha, v, dg);
        alpha *= 2.0;
    }
    None
}

type Point = (f64, f64, f64);

fn zoom(
    at: &impl Fn(f64) -> (f64, Vec<f64>, f64),
    f0: f64,
    dg0: f64,
    mut lo: Point,
    mut hi: Point,
) -> Option<(f64, f64, Vec<f64>)> {
    for _ in 0..80 {
        // Cubic interpolation between the ends, safeguarded to the middle of the interval.
        let (a0, f0_, d0) = lo;
        let (a1, f1, d1) = hi;
        let mut alpha = cubic_min(a0, f0_, d0, a1, f1, d1);
        let (left, right) = (a0.min(a1), a0.max(a1));
        let width = right - left;
        if !alpha.is_finite() || alpha <= left + 0.1 * width || alpha >= right - 0.1 * width {
            alpha = 0.5 * (a0 + a1);
        }
        if width <= f64::EPSILON * right.max(1e-300) {
            break;
        }
        let (v, g, dg) = at(alpha);
        if !v.is_finite() || v > f0 + C1 * alpha * dg0 || v >= lo.1 {
            hi = (alpha, if v.is_finite() { v } else { f64::MAX }, dg);
        } else {
            if dg.abs() <= -C2 * dg0 {
                return Some((alpha, v, g));
            }
            if dg * (hi.0 - lo.0) >= 0.0 {
                hi = lo;
            }
            lo = (alpha, v, dg);
        }
    }
    // The interval collapsed: take the best point found if it lowered the objective.
    if lo.0 > 0.0 && lo.1 < f0 {
        let (v, g, _) = at(lo.0);
        return Some((lo.0, v, g));
    }
    None
}

/// The minimiser of the cubic through two points with their slopes.
fn cubic_min(a0: f64, f0: f64, d0: f64, a1: f64, f1: f64, d1: f64) -> f64 {
    let d1_ = d0 + d1 - 3.0 * (f0 - f1) / (a0 - a1);
    let disc = d1_ * d1_ - d0 * d1;
    if disc < 0.0 {
        return f64::NAN;
    }
    let d2 = (a1 - a0).signum() * disc.sqrt();
    a1 - (a1 - a0) * (d1 + d2 - d1_) / (d1 - d0 + 2.0 * d2)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rosenbrock;
    impl Objective for Rosenbrock {
        fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        }
    }

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let m = bfgs(&Rosenbrock, &[-1.2, 1.0], &Settings::default());
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-8 && (m.x[1] - 1.0).abs() < 1e-8,
            "{m:?}"
        );
    }

    struct Quadratic;
    impl Objective for Quadratic {
        fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
            // An ill-conditioned bowl centred at (3, -2, 0.5).
            let c = [3.0, -2.0, 0.5];
            let w = [1.0, 1e4, 1e-2];
            let mut v = 0.0;
            for i in 0..3 {
                g[i] = 2.0 * w[i] * (x[i] - c[i]);
                v += w[i] * (x[i] - c[i]).powi(2);
            }
            v
        }
    }

    #[test]
    fn finds_an_ill_conditioned_quadratic_minimum() {
        let m = bfgs(&Quadratic, &[0.0, 0.0, 0.0], &Settings::default());
        assert!(m.converged, "{m:?}");
        for (x, c) in m.x.iter().zip([3.0, -2.0, 0.5]) {
            assert!((x - c).abs() < 1e-7, "{m:?}");
        }
    }

    struct Outside;
    impl Objective for Outside {
        fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
            // ln-barrier: undefined for x <= 0; minimum at x = 1.
            if x[0] <= 0.0 {
                g[0] = f64::NAN;
                return f64::NAN;
            }
            g[0] = 1.0 - 1.0 / x[0];
            x[0] - x[0].ln()
        }
    }

    #[test]
    fn steps_back_from_outside_the_domain() {
        let m = bfgs(&Outside, &[20.0], &Settings::default());
        assert!(m.converged, "{m:?}");
        assert!((m.x[0] - 1.0).abs() < 1e-8, "{m:?}");
    }
}
