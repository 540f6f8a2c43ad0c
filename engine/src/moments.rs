//! Mean and standard deviation that do not overflow: values as large as `f64::MAX` have
//! sums and squares beyond it, so both are taken of the values divided by a power of two
//! near the largest magnitude, and scaled back. Dividing by a power of two is exact, so for
//! ordinary values the figures are bit for bit those of the plain formulas.

/// The mean and population standard deviation of `values` (`NaN`s when there are none).
pub fn mean_std<I>(values: I) -> (f64, f64)
where
    I: IntoIterator<Item = f64>,
    I::IntoIter: Clone,
{
    let values = values.into_iter();
    let (n, magnitude) = values
        .clone()
        .fold((0usize, 0.0f64), |(n, m), v| (n + 1, m.max(v.abs())));
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    if magnitude == 0.0 {
        return (0.0, 0.0);
    }
    // f64::MAX rounds to 2^1024 in log2: the power is capped at the largest finite one.
    let magnitude = 2f64.powi(magnitude.log2().floor().min(1023.0) as i32);
    let count = n as f64;
    let mean = values.clone().map(|v| v / magnitude).sum::<f64>() / count;
    let var = values
        .map(|v| {
            let d = v / magnitude - mean;
            d * d
        })
        .sum::<f64>()
        / count;
    (mean * magnitude, var.sqrt() * magnitude)
}

#[cfg(test)]
mod tests {
    use super::mean_std;

    #[test]
    fn agrees_with_the_textbook_formula_on_ordinary_values() {
        let v = [1.0, 3.0, 4.0, 10.5];
        let mean = v.iter().sum::<f64>() / 4.0;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert_eq!(mean_std(v), (mean, std), "bit for bit the plain formulas");
        let income = [15.0, 15.0, 16.0, 16.0, 17.0, 137.0, 60.0];
        assert_eq!(mean_std(income).0, income.iter().sum::<f64>() / 7.0);
    }

    #[test]
    fn the_largest_finite_values_do_not_overflow() {
        let (m, s) = mean_std([f64::MAX, f64::MAX, -f64::MAX, f64::MAX]);
        assert!(m.is_finite() && s.is_finite(), "{m} {s}");
        assert!((m - f64::MAX / 2.0).abs() / f64::MAX < 1e-12);
        let (m, s) = mean_std([1e308, 1e308]);
        assert_eq!((m, s), (1e308, 0.0));
    }

    #[test]
    fn no_values_and_zeros() {
        let (m, s) = mean_std(std::iter::empty::<f64>());
        assert!(m.is_nan() && s.is_nan());
        assert_eq!(mean_std([0.0, 0.0]), (0.0, 0.0));
    }
}
