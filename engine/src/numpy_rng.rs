//! numpy's legacy `RandomState` stream (MT19937 seeded from an integer), and the draws
//! scikit-learn's k-means++ makes from it. With it, a fit reproduces a scikit-learn notebook's
//! `KMeans(random_state=seed)` restarts exactly, so its results can be checked one to one.

const N: usize = 624;
const M: usize = 397;

#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mt19937")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl Mt19937 {
    /// `numpy.random.RandomState(seed)` for an integer seed (`mt19937_seed`).
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        let mut s = seed;
        for (i, slot) in state.iter_mut().enumerate() {
            *slot = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(i as u32 + 1);
        }
        Self { state, pos: N }
    }

    fn regenerate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        let mag = |y: u32| if y & 1 == 1 { 0x9908_b0df } else { 0 };
        let mt = &mut self.state;
        for k in 0..N {
            let y = (mt[k] & UPPER) | (mt[(k + 1) % N] & LOWER);
            mt[k] = mt[(k + M) % N] ^ (y >> 1) ^ mag(y);
        }
        self.pos = 0;
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.regenerate();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random_sample()`: a double in [0, 1) from 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `choice(n, size, replace=False, p=[1/n] * n)`: numpy's rounds of inverse-CDF draws,
    /// each round zeroing the rows found so far and keeping the new distinct ones in draw
    /// order (scikit-learn's `init="random"`).
    pub fn choice_distinct(&mut self, n: usize, size: usize) -> Vec<usize> {
        let mut p = vec![1.0 / n as f64; n];
        let mut found: Vec<usize> = Vec::with_capacity(size);
        let mut cdf = vec![0.0; n];
        while found.len() < size {
            let draws: Vec<f64> = (0..size - found.len()).map(|_| self.next_f64()).collect();
            for &f in &found {
                p[f] = 0.0;
            }
            let mut acc = 0.0;
            for (c, w) in cdf.iter_mut().zip(&p) {
                acc += w;
                *c = acc;
            }
            cdf.iter_mut().for_each(|c| *c /= acc);
            let new: Vec<usize> = draws
                .iter()
                .map(|&u| cdf.partition_point(|&c| c <= u).min(n - 1))
                .collect();
            // np.unique(return_index=True), the first occurrences back in draw order.
            for (i, &r) in new.iter().enumerate() {
                if !new[..i].contains(&r) {
                    found.push(r);
                }
            }
        }
        found
    }

    /// `choice(n, p=[1/n] * n)`: numpy's inverse-CDF draw, with its rounding.
    pub fn uniform_choice(&mut self, n: usize) -> usize {
        let p = 1.0 / n as f64;
        self.choice_by(n, |_| p)
    }

    /// `choice(n, p=w / w.sum())` (scikit-learn's first k-means++ centroid with
    /// `sample_weight`): numpy's inverse-CDF draw, with its rounding.
    pub fn weighted_choice(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        self.choice_by(weights.len(), |i| weights[i] / total)
    }

    fn choice_by(&mut self, n: usize, p: impl Fn(usize) -> f64) -> usize {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for i in 0..n {
            acc += p(i);
            cdf.push(acc);
        }
        let last = acc;
        cdf.iter_mut().for_each(|c| *c /= last);
        let u = self.next_f64();
        // searchsorted(side="right"): the first index whose cdf exceeds u.
        cdf.partition_point(|&c| c <= u).min(n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_random_state() {
        // np.random.RandomState(42).random_sample(), twice
        let mut r = Mt19937::new(42);
        assert_eq!(r.next_f64(), 0.3745401188473625);
        assert_eq!(r.next_f64(), 0.9507143064099162);
        // the state after seeding, as get_state() shows it
        let r = Mt19937::new(42);
        assert_eq!(&r.state[..3], &[42, 3107752595, 1895908407]);
    }

    #[test]
    fn uniform_choice_matches_numpy() {
        // r = np.random.RandomState(7); [r.choice(200, p=np.full(200, 1/200)) for _ in range(3)]
        let mut r = Mt19937::new(7);
        let draws: Vec<usize> = (0..3).map(|_| r.uniform_choice(200)).collect();
        assert_eq!(draws, [15, 155, 87]);
    }

    #[test]
    fn choice_distinct_matches_numpy() {
        // r = np.random.RandomState(7)
        // [r.choice(200, 2, replace=False, p=np.full(200, 1/200)) for _ in range(3)]
        let mut r = Mt19937::new(7);
        let draws: Vec<Vec<usize>> = (0..3).map(|_| r.choice_distinct(200, 2)).collect();
        assert_eq!(draws, [[15, 155], [87, 144], [195, 107]]);
        // Of 3 rows, repeats are drawn again: RandomState(1), six draws of 2, then
        // random_sample() (the stream consumed exactly as numpy's).
        let mut r = Mt19937::new(1);
        let draws: Vec<Vec<usize>> = (0..6).map(|_| r.choice_distinct(3, 2)).collect();
        assert_eq!(draws, [[1, 2], [0, 1], [0, 1], [1, 0], [2, 0], [2, 0]]);
        assert_eq!(r.next_f64(), 0.6704675101784022);
    }
}
