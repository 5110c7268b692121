//! The set of seqnums already processed from one peer, kept as disjoint ranges.
//!
//! A peer numbers its items 0, 1, 2, … (or from any start), so what has been seen is a few long
//! runs: storing ranges keeps it tiny however long the link lives. Gaps (items still in flight)
//! are what costs memory; past [`SeenSet::MAX_RANGES`] the lowest gap is closed — its seqnums are
//! treated as seen — which only matters for an item missing for millions of seqnums, and is
//! counted so an owner can see it happen.

use std::collections::BTreeMap;

/// Seqnums seen, as inclusive ranges `start..=end`, merged when they touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenSet {
    ranges: BTreeMap<i64, i64>,
    forgotten_gaps: u64,
}

impl SeenSet {
    /// Most ranges kept; the lowest gap is closed beyond this.
    pub const MAX_RANGES: usize = 65_536;

    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding exactly these inclusive ranges (as saved by [`SeenSet::ranges`]).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i64, i64)>) -> Self {
        let mut set = Self::new();
        for (start, end) in ranges {
            if start <= end {
                set.insert_range(start, end);
            }
        }
        set
    }

    fn insert_range(&mut self, start: i64, end: i64) {
        // Remove every range overlapping or touching [start, end], then insert the union.
        let mut lo = start;
        let mut hi = end;
        let touching: Vec<i64> = self
            .ranges
            .range(..=end.saturating_add(1))
            .rev()
            .take_while(|&(_, &e)| e >= start.saturating_sub(1))
            .map(|(&s, _)| s)
            .collect();
        for s in touching {
            let e = self.ranges.remove(&s).expect("key just listed");
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.ranges.insert(lo, hi);
    }

    /// True if `seqnum` was seen.
    pub fn contains(&self, seqnum: i64) -> bool {
        self.ranges
            .range(..=seqnum)
            .next_back()
            .is_some_and(|(_, &end)| end >= seqnum)
    }

    /// Records `seqnum`; returns false if it was already there.
    pub fn insert(&mut self, seqnum: i64) -> bool {
        if self.contains(seqnum) {
            return false;
        }
        self.insert_range(seqnum, seqnum);
        if self.ranges.len() > Self::MAX_RANGES {
            let mut lowest = self.ranges.iter();
            let (&s1, _) = lowest.next().expect("more than one range");
            let (&s2, &e2) = lowest.next().expect("more than one range");
            self.ranges.remove(&s2);
            self.ranges.insert(s1, e2);
            self.forgotten_gaps += 1;
        }
        true
    }

    /// The ranges, lowest first, for persistence.
    pub fn ranges(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ranges.iter().map(|(&s, &e)| (s, e))
    }

    /// How many ranges are kept (a measure of memory use).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// How many gaps were closed to stay under [`SeenSet::MAX_RANGES`].
    pub fn forgotten_gaps(&self) -> u64 {
        self.forgotten_gaps
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn in_order_seqnums_stay_one_range() {
        let mut seen = SeenSet::new();
        for s in 1..=10_000 {
            assert!(seen.insert(s));
        }
        assert_eq!(seen.range_count(), 1);
        assert!(!seen.insert(5_000));
        assert!(
            seen.contains(1)
                && seen.contains(10_000)
                && !seen.contains(0)
                && !seen.contains(10_001)
        );
    }

    #[test]
    fn gaps_fill_and_merge() {
        let mut seen = SeenSet::new();
        for s in [1, 3, 5, 2, 4] {
            seen.insert(s);
        }
        assert_eq!(seen.ranges().collect::<Vec<_>>(), vec![(1, 5)]);
        seen.insert(i64::MAX);
        seen.insert(i64::MIN);
        assert_eq!(seen.range_count(), 3);
        assert_eq!(SeenSet::from_ranges(seen.ranges()), seen);
    }

    #[test]
    fn too_many_gaps_close_the_lowest() {
        let mut seen = SeenSet::new();
        for i in 0..=SeenSet::MAX_RANGES as i64 {
            seen.insert(i * 2);
        }
        assert_eq!(seen.range_count(), SeenSet::MAX_RANGES);
        assert_eq!(seen.forgotten_gaps(), 1);
        assert!(seen.contains(1), "the lowest gap was closed");
        assert!(!seen.contains(3));
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(values in prop::collection::vec(-50i64..50, 0..200)) {
            let mut seen = SeenSet::new();
            let mut model = std::collections::BTreeSet::new();
            for v in values {
                prop_assert_eq!(seen.insert(v), model.insert(v));
            }
            for v in -60..60 {
                prop_assert_eq!(seen.contains(v), model.contains(&v));
            }
            let ranges: Vec<_> = seen.ranges().collect();
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].1 + 1 < pair[1].0, "ranges overlap or touch: {:?}", pair);
            }
            prop_assert_eq!(SeenSet::from_ranges(ranges), seen);
        }
    }
}
