//! Token buckets: a key's rate on this replica, and per-address budgets (sign-ins, refused
//! requests) held in a bounded map.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// A token bucket's size: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub per_second: f64,
    pub burst: u32,
}

impl Budget {
    /// No limit.
    pub const UNLIMITED: Budget = Budget {
        per_second: f64::INFINITY,
        burst: u32::MAX,
    };

    pub fn is_unlimited(self) -> bool {
        self.per_second.is_infinite()
    }
}

/// A rate limit's state after a call: what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Refused: seconds until one call is allowed.
    pub retry_after: Option<u64>,
}

#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn full(budget: Budget, now: Instant) -> Self {
        Self {
            tokens: f64::from(budget.burst),
            at: now,
        }
    }

    /// Seconds until one call is allowed, when none is now (nothing taken).
    pub fn peek(&self, budget: Budget, now: Instant) -> Option<u64> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let tokens = (self.tokens + elapsed * budget.per_second).min(f64::from(budget.burst));
        (tokens < 1.0).then(|| ((1.0 - tokens) / budget.per_second).ceil().max(1.0) as u64)
    }

    pub fn take(&mut self, budget: Budget, now: Instant) -> Quota {
        let burst = f64::from(budget.burst);
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * budget.per_second).min(burst);
        self.at = now;
        let retry_after = if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(((1.0 - self.tokens) / budget.per_second).ceil().max(1.0) as u64)
        };
        Quota {
            limit: budget.burst,
            remaining: self.tokens.floor() as u32,
            reset: ((burst - self.tokens) / budget.per_second).ceil() as u64,
            retry_after,
        }
    }
}

/// A budget per client address, for what anyone can try without a key (sign-ins, refused
/// requests). At most `capacity` addresses are held: past that, the older half is forgotten
/// (an address forgotten starts again with a full bucket, which only errs towards letting
/// a client through).
pub struct AddressBudgets {
    budget: Budget,
    capacity: usize,
    buckets: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<IpAddr, Bucket>,
    previous: HashMap<IpAddr, Bucket>,
}

impl AddressBudgets {
    pub fn new(budget: Budget, capacity: usize) -> Self {
        Self {
            budget,
            capacity: capacity.max(2),
            buckets: Mutex::default(),
        }
    }

    /// Takes one from the address's budget: `Some(seconds to wait)` when there is none left.
    pub fn take(&self, address: IpAddr) -> Option<u64> {
        if self.budget.is_unlimited() {
            return None;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let generations = &mut *buckets;
        if !generations.current.contains_key(&address) {
            let bucket = generations
                .previous
                .remove(&address)
                .unwrap_or_else(|| Bucket::full(self.budget, now));
            if generations.current.len() >= self.capacity / 2 {
                generations.previous = std::mem::take(&mut generations.current);
            }
            generations.current.insert(address, bucket);
        }
        let bucket = generations.current.get_mut(&address).expect("inserted");
        bucket.take(self.budget, now).retry_after
    }

    /// Whether the address has nothing left: `Some(seconds to wait)` then (nothing taken).
    pub fn exhausted(&self, address: IpAddr) -> Option<u64> {
        if self.budget.is_unlimited() {
            return None;
        }
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .current
            .get(&address)
            .or_else(|| buckets.previous.get(&address))?;
        bucket.peek(self.budget, Instant::now())
    }

    /// Addresses held now (both generations).
    pub fn len(&self) -> usize {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.current.len() + buckets.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_refills_at_its_rate_and_says_when_to_retry() {
        let budget = Budget {
            per_second: 2.0,
            burst: 3,
        };
        let t0 = Instant::now();
        let mut bucket = Bucket::full(budget, t0);
        let taken: Vec<Quota> = (0..4).map(|_| bucket.take(budget, t0)).collect();
        assert_eq!(
            taken.iter().map(|q| q.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert!(taken[..3].iter().all(|q| q.retry_after.is_none()));
        assert_eq!(taken[3].retry_after, Some(1));
        assert_eq!(taken[3].reset, 2); // 3 tokens at 2/s
        let later = bucket.take(budget, t0 + Duration::from_millis(600));
        assert_eq!(later.retry_after, None);
        assert_eq!(later.remaining, 0);
    }

    #[test]
    fn each_address_has_its_own_budget_and_the_map_stays_bounded() {
        let budgets = AddressBudgets::new(
            Budget {
                per_second: 0.001,
                burst: 2,
            },
            100,
        );
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(budgets.take(one), None);
        assert_eq!(budgets.exhausted(one), None, "one left");
        assert_eq!(budgets.take(one), None);
        assert!(budgets.exhausted(one).is_some(), "none left");
        assert!(budgets.take(one).is_some(), "the third is refused");
        assert_eq!(budgets.take("10.0.0.2".parse().unwrap()), None);
        for i in 0..10_000u32 {
            budgets.take(IpAddr::from(i.to_be_bytes()));
        }
        assert!(budgets.len() <= 100, "{}", budgets.len());
    }
}
