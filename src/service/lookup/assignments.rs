//! A run's assignments held in memory for lookups: parallel arrays in customer-id order.

/// A run's assignments, loaded whole: parallel arrays sorted by external id (the ids packed
/// in one string), found by binary search.
#[derive(Debug, Default)]
pub(super) struct CachedAssignments {
    ids: String,
    /// End offset of each id in `ids`.
    ends: Vec<u32>,
    /// Stable segment id, `NOISE` for DBSCAN noise.
    segments: Vec<i32>,
    /// NaN when absent.
    scores: Vec<f64>,
}

/// A noise point's segment in `segments`.
const NOISE: i32 = i32::MIN;

impl CachedAssignments {
    /// Appends a customer's row: rows come in customer-id order.
    pub(super) fn push(
        &mut self,
        external_id: &str,
        segment: Option<i32>,
        score: Option<f64>,
    ) -> anyhow::Result<()> {
        self.ids.push_str(external_id);
        let end = u32::try_from(self.ids.len())
            .map_err(|_| anyhow::anyhow!("a run's ids exceed 4 GiB: not cached"))?;
        self.ends.push(end);
        self.segments.push(segment.unwrap_or(NOISE));
        self.scores.push(score.unwrap_or(f64::NAN));
        Ok(())
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.ids[start..self.ends[i] as usize]
    }

    /// A customer's row, by binary search (rows are in customer id order).
    pub(super) fn position(&self, external_id: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.id(mid).as_bytes().cmp(external_id.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The segment (`None`: noise) and score of a customer.
    pub(super) fn get(&self, external_id: &str) -> Option<(Option<i32>, Option<f64>)> {
        self.position(external_id).map(|i| {
            let (s, v) = (self.segments[i], self.scores[i]);
            ((s != NOISE).then_some(s), (!v.is_nan()).then_some(v))
        })
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.ids.len() + self.ends.len() * 4 + self.segments.len() * 4 + self.scores.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_are_found_by_id_with_noise_and_missing_scores() {
        let mut rows = CachedAssignments::default();
        rows.push("0001", Some(2), Some(0.5)).unwrap();
        rows.push("0002", None, None).unwrap();
        rows.push("0010", Some(0), Some(1.25)).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.get("0001"), Some((Some(2), Some(0.5))));
        assert_eq!(rows.get("0002"), Some((None, None)));
        assert_eq!(rows.get("0010"), Some((Some(0), Some(1.25))));
        assert_eq!(rows.get("0003"), None);
        assert_eq!(rows.position("0010"), Some(2));
        assert_eq!(rows.bytes(), 12 + 3 * (4 + 4 + 8));
    }
}
