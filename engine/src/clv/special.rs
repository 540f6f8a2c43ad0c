//! The trigamma function ψ₁ = d²/dx² ln Γ, which Gamma-Gamma's Hessian needs (statrs has
//! ln Γ and ψ, not ψ₁).

/// ψ₁(x) for x > 0: the recurrence ψ₁(x) = ψ₁(x+1) + 1/x² up to x ≥ 10, then the asymptotic
/// series 1/x + 1/(2x²) + Σ B₂ₖ/x^(2k+1) (relative error below 1e-14 there).
pub(super) fn trigamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // B₂/1, B₄/…: 1/6, −1/30, 1/42, −1/30, 5/66, −691/2730, 7/6.
    let series = inv2
        * (1.0 / 6.0
            + inv2
                * (-1.0 / 30.0
                    + inv2
                        * (1.0 / 42.0
                            + inv2
                                * (-1.0 / 30.0
                                    + inv2
                                        * (5.0 / 66.0
                                            + inv2 * (-691.0 / 2730.0 + inv2 * 7.0 / 6.0))))));
    acc + inv + 0.5 * inv2 + inv * series
}

#[cfg(test)]
mod tests {
    use super::trigamma;

    #[test]
    fn matches_known_values() {
        // ψ₁(1) = π²/6, ψ₁(1/2) = π²/2, ψ₁(n+1) = π²/6 − Σ_{k≤n} 1/k².
        let pi2 = std::f64::consts::PI.powi(2);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * b.abs();
        assert!(close(trigamma(1.0), pi2 / 6.0));
        assert!(close(trigamma(0.5), pi2 / 2.0));
        let tail: f64 = (1..=20).map(|k| 1.0 / (k * k) as f64).sum();
        assert!(close(trigamma(21.0), pi2 / 6.0 - tail));
        // Large arguments: ψ₁(x) ≈ 1/x + 1/(2x²).
        let x = 1e8;
        assert!(close(trigamma(x), 1.0 / x + 0.5 / (x * x)));
    }
}
