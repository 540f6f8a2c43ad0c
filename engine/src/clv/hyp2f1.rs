//! The Gauss hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1, as BG/NBD's expected
//! purchases need it, by its power series with a bound on the tail.

/// Terms before giving up (z near 1 with a small c converges slowly: z = 0.999 needs ~40k).
const MAX_TERMS: usize = 200_000;

/// ln ₂F₁(a, b; c; z), or `None` when the series does not settle or the sum is not positive.
/// Sums are rescaled as they grow, so large parameters cannot overflow.
#[cfg(test)]
fn ln_hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    let mut out = [0.0];
    ln_hyp2f1_many(a, b, c, &[z], &mut out);
    out[0].is_finite().then_some(out[0])
}

/// ln ₂F₁(a, b; c; zᵢ) for several zᵢ at once (NaN where the series does not settle or the
/// sum is not positive): the terms' ratios (a+k)(b+k)/((c+k)(k+1)) are shared, so each
/// further z costs a multiplication and an addition a term, not a division.
pub(super) fn ln_hyp2f1_many(a: f64, b: f64, c: f64, zs: &[f64], out: &mut [f64]) {
    const MAX_Z: usize = 32;
    assert!(zs.len() <= MAX_Z && out.len() == zs.len());
    let n = zs.len();
    let mut term = [1.0f64; MAX_Z];
    let mut sum = [1.0f64; MAX_Z];
    let mut ln_scale = [0.0f64; MAX_Z];
    let mut done = [false; MAX_Z];
    let mut left = 0;
    for i in 0..n {
        if (0.0..1.0).contains(&zs[i]) {
            left += 1;
        } else {
            done[i] = true;
            out[i] = f64::NAN;
        }
    }
    for k in 0..MAX_TERMS {
        if left == 0 {
            break;
        }
        let kf = k as f64;
        let ratio = (a + kf) * (b + kf) / ((c + kf) * (kf + 1.0));
        // The next ratios, (a+j)/(c+j) (b+j)/(1+j) z for j > k, are bounded once a+j, b+j,
        // c+j are positive: each fraction moves monotonically towards 1, so it is at most the
        // larger of 1 and its value now. The tail is then below a geometric series.
        let j = kf + 1.0;
        let settled = a + j > 0.0 && b + j > 0.0 && c + j > 0.0;
        let growth = ((a + j) / (c + j)).max(1.0) * ((b + j) / (1.0 + j)).max(1.0);
        for i in 0..n {
            if done[i] {
                continue;
            }
            term[i] *= ratio * zs[i];
            sum[i] += term[i];
            let bound = growth * zs[i];
            if term[i] == 0.0
                || settled
                    && bound < 1.0
                    && term[i].abs() * bound / (1.0 - bound) <= 1e-17 * sum[i].abs()
            {
                done[i] = true;
                left -= 1;
                out[i] = if sum[i] > 0.0 {
                    sum[i].ln() + ln_scale[i]
                } else {
                    f64::NAN
                };
                continue;
            }
            if sum[i].abs() > 1e280 {
                sum[i] *= 1e-280;
                term[i] *= 1e-280;
                ln_scale[i] += 280.0 * std::f64::consts::LN_10;
            }
            if !sum[i].is_finite() {
                done[i] = true;
                left -= 1;
                out[i] = f64::NAN;
            }
        }
    }
    for i in 0..n {
        if !done[i] {
            out[i] = f64::NAN;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ln_hyp2f1, ln_hyp2f1_many};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-13 * b.abs().max(1e-300)
    }

    #[test]
    fn matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1−z)/z.
        for z in [0.01, 0.3, 0.9, 0.99] {
            let want = -(1.0f64 - z).ln() / z;
            assert!(
                close(ln_hyp2f1(1.0, 1.0, 2.0, z).unwrap().exp(), want),
                "z {z}"
            );
        }
        // ₂F₁(a, b; b; z) = (1−z)^−a.
        for (a, z) in [(0.5, 0.7), (3.0, 0.2), (-0.3, 0.95)] {
            let want = -a * (1.0f64 - z).ln();
            assert!(
                close(ln_hyp2f1(a, 2.5, 2.5, z).unwrap(), want),
                "a {a} z {z}"
            );
        }
        // A terminating series: ₂F₁(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1)).
        let (b, c, z) = (1.5, 4.0, 0.6);
        let want = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        assert!(close(ln_hyp2f1(-2.0, b, c, z).unwrap().exp(), want));
    }

    #[test]
    fn large_parameters_do_not_overflow() {
        // ₂F₁(a, b; b; z) = (1−z)^−a with a = 5000: e^(5000·ln 10) overflows a double.
        let got = ln_hyp2f1(5000.0, 7.0, 7.0, 0.9).unwrap();
        let want = -5000.0 * 0.1f64.ln();
        assert!((got - want).abs() < 1e-9 * want, "{got} vs {want}");
    }

    #[test]
    fn refuses_z_outside_the_disc() {
        assert_eq!(ln_hyp2f1(1.0, 1.0, 2.0, 1.0), None);
        assert_eq!(ln_hyp2f1(1.0, 1.0, 2.0, -0.1), None);
    }

    #[test]
    fn several_z_at_once_equal_one_at_a_time() {
        let zs = [0.0, 0.1, 0.5, 0.84, 0.97];
        let mut out = [0.0; 5];
        ln_hyp2f1_many(4.9, -0.997, 5.75, &zs, &mut out);
        for (z, got) in zs.iter().zip(out) {
            assert_eq!(got, ln_hyp2f1(4.9, -0.997, 5.75, *z).unwrap(), "z {z}");
        }
    }
}
