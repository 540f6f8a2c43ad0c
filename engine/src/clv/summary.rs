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

/// Purchase days with their totals, per customer, as lines stream in (in any order): memory
/// grows with customers and their purchase days, not with lines.
#[derive(Debug, Default, Clone)]
pub struct Days {
    /// Per customer, its purchase days (ascending) with each day's total.
    pub days: Vec<Vec<(i64, f64)>>,
}

impl Days {
    /// Adds a line of `customer` (an index; customers are numbered from 0 as they come).
    pub fn add(&mut self, customer: usize, day: i64, amount: f64) {
        if customer >= self.days.len() {
            self.days.resize_with(customer + 1, Vec::new);
        }
        let days = &mut self.days[customer];
        // Lines mostly arrive in date order: look from the end.
        match days.last_mut() {
            Some(last) if last.0 == day => last.1 += amount,
            Some(last) if last.0 < day => days.push((day, amount)),
            None => days.push((day, amount)),
            Some(_) => match days.binary_search_by(|d| d.0.cmp(&day)) {
                Ok(i) => days[i].1 += amount,
                Err(i) => days.insert(i, (day, amount)),
            },
        }
    }

    /// The earliest day of any line.
    pub fn earliest(&self) -> Option<i64> {
        self.days
            .iter()
            .filter_map(|d| d.first().map(|l| l.0))
            .min()
    }

    /// The latest day of any line.
    pub fn latest(&self) -> Option<i64> {
        self.days.iter().filter_map(|d| d.last().map(|l| l.0)).max()
    }
}

/// One customer's summary row as of day `end` from their purchase days (ascending): frequency
/// = days − 1, recency = last − first, T = end − first, monetary = mean of the repeat days'
/// totals (0 without); `None` without a day on or before `end`.
pub fn row(days: &[(i64, f64)], end: i64) -> Option<(u32, f64, f64, f64)> {
    let upto = days.partition_point(|d| d.0 <= end);
    let days = &days[..upto];
    let (first, last) = (days.first()?.0, days.last()?.0);
    let repeat = &days[1..];
    let monetary = if repeat.is_empty() {
        0.0
    } else {
        repeat.iter().map(|d| d.1).sum::<f64>() / repeat.len() as f64
    };
    Some((
        repeat.len() as u32,
        (last - first) as f64,
        (end - first) as f64,
        monetary,
    ))
}

/// The purchase days after `from`, up to `end`.
pub fn days_between(days: &[(i64, f64)], from: i64, end: i64) -> u32 {
    days.iter().filter(|d| d.0 > from && d.0 <= end).count() as u32
}

/// The summary as of day `end` (lines after it left out) of the customers with a day on or
/// before it, in customer order, with their indices.
pub fn summarise_days(days: &Days, end: i64) -> (Vec<usize>, Summary) {
    let mut customers = Vec::new();
    let mut summary = Summary::default();
    for (customer, d) in days.days.iter().enumerate() {
        if let Some((x, rec, t, m)) = row(d, end) {
            customers.push(customer);
            summary.push(x, rec, t, m);
        }
    }
    (customers, summary)
}

/// As [`summarise_days`], from lines.
pub fn summarise(purchases: Vec<Purchase>, end: i64) -> (Vec<usize>, Summary) {
    let mut days = Days::default();
    for p in purchases {
        days.add(p.customer, p.day, p.amount);
    }
    summarise_days(&days, end)
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
