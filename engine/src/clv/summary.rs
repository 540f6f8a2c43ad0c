//! The per-customer summary from purchase lines, as `store::clv` computes it in SQL and
//! lifetimes' `summary_data_from_transaction_data(freq="D")` does: for the command line,
//! which has no database.

use super::Summary;

/// One counted purchase line: the customer (an index), its day (any day number, e.g. days
/// since 1970-01-01) and its amount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Purchase {
    pub customer: usize,
    pub day: i64,
    pub amount: f64,
}

/// The summary as of day `end` (lines after it left out): for each customer with a line on
/// or before it, in customer order, frequency = distinct purchase days − 1, recency = last −
/// first day, T = end − first day, monetary = mean of the repeat days' totals (0 without).
/// Returns the customers summarised and the summary.
pub fn summarise(mut purchases: Vec<Purchase>, end: i64) -> (Vec<usize>, Summary) {
    purchases.retain(|p| p.day <= end);
    purchases.sort_by(|a, b| a.customer.cmp(&b.customer).then(a.day.cmp(&b.day)));
    let mut customers = Vec::new();
    let mut summary = Summary::default();
    let mut i = 0;
    while i < purchases.len() {
        let customer = purchases[i].customer;
        // The customer's days with their totals.
        let mut days: Vec<(i64, f64)> = Vec::new();
        while i < purchases.len() && purchases[i].customer == customer {
            let p = purchases[i];
            match days.last_mut() {
                Some((day, total)) if *day == p.day => *total += p.amount,
                _ => days.push((p.day, p.amount)),
            }
            i += 1;
        }
        let (first, last) = (days[0].0, days[days.len() - 1].0);
        let repeat = &days[1..];
        let monetary = if repeat.is_empty() {
            0.0
        } else {
            repeat.iter().map(|d| d.1).sum::<f64>() / repeat.len() as f64
        };
        customers.push(customer);
        summary.push(
            repeat.len() as u32,
            (last - first) as f64,
            (end - first) as f64,
            monetary,
        );
    }
    (customers, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_summed_and_the_first_is_left_out_of_the_mean() {
        let p = |customer, day, amount| Purchase {
            customer,
            day,
            amount,
        };
        let lines = vec![
            p(1, 10, 5.0),
            p(0, 3, 1.0),
            p(1, 12, 2.0),
            p(1, 10, 5.0), // the same day: one purchase day of 10
            p(1, 20, 4.0),
            p(2, 40, 9.0), // after the end
        ];
        let (customers, s) = summarise(lines, 30);
        assert_eq!(customers, vec![0, 1]);
        assert_eq!(s.frequency, vec![0, 2]);
        assert_eq!(s.recency, vec![0.0, 10.0]);
        assert_eq!(s.t, vec![27.0, 20.0]);
        assert_eq!(s.monetary, vec![0.0, 3.0]);
    }
}
