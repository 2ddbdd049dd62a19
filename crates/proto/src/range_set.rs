//! A bounded set of `u64` values kept as disjoint half-open ranges.
//!
//! [`RangeSet`] tracks received packet numbers (for ACK frames) and
//! acknowledged or lost byte ranges of crypto and stream data. It stores its
//! values as a short sorted list of ranges, so that the usual handful of
//! ranges costs a few comparisons and no tree nodes.

use std::ops::Range;

#[cfg(test)]
mod tests;

/// A set of `u64` values, stored as sorted, disjoint, non-adjacent half-open
/// ranges.
///
/// Values are kept as `start..end` ranges, so `u64::MAX` itself can never be
/// a member: a range may end at `u64::MAX`, which makes `u64::MAX - 1` its
/// largest value. Inserting `u64::MAX` alone is a no-op. QUIC never needs it:
/// packet numbers and stream offsets stay below 2^62.
///
/// The set may be bounded in its number of ranges with
/// [`RangeSet::with_max_ranges`]. When an insert or a remove would leave more
/// ranges than the bound, the lowest ranges are dropped: for ACK generation,
/// forgetting the oldest packets is the safe choice, since the peer has most
/// likely seen them acknowledged already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// Sorted by start; each range non-empty, and each ends strictly before
    /// the next one starts (no overlap, no adjacency).
    ranges: Vec<Range<u64>>,
    /// The most ranges kept; at least 1.
    max_ranges: usize,
}

impl Default for RangeSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeSet {
    /// An empty set with no bound on its number of ranges.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            ranges: Vec::new(),
            max_ranges: usize::MAX,
        }
    }

    /// An empty set that keeps at most `max` ranges, dropping the lowest
    /// ranges when it would hold more. A `max` of 0 is taken as 1.
    #[must_use]
    pub fn with_max_ranges(max: usize) -> Self {
        Self {
            ranges: Vec::new(),
            max_ranges: max.max(1),
        }
    }

    /// Adds every value of `range`, merging it with the ranges it overlaps or
    /// touches. An empty range is ignored.
    ///
    /// Returns `true` when any value of `range` was not in the set before,
    /// even if keeping the bound on ranges then drops those values again
    /// (which happens when `range` would become the lowest range of a full
    /// set).
    pub fn insert(&mut self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        // Fast path: values at or beyond the highest range, the common case
        // for packet numbers arriving in order.
        if let Some(last) = self.ranges.last_mut() {
            if range.start > last.end {
                self.ranges.push(range);
                self.enforce_max();
                return true;
            }
            if range.start >= last.start {
                let grew = range.end > last.end;
                last.end = last.end.max(range.end);
                return grew;
            }
        }
        // The first range that overlaps or touches `range`, and the end of
        // the run of ranges that do.
        let first = self.ranges.partition_point(|r| r.end < range.start);
        let past = self.ranges.partition_point(|r| r.start <= range.end);
        if first == past {
            self.ranges.insert(first, range);
            self.enforce_max();
            return true;
        }
        let lowest = &self.ranges[first];
        if past - first == 1 && lowest.start <= range.start && range.end <= lowest.end {
            return false;
        }
        // Some value is new: either `range` reaches outside the one range it
        // touches, or it bridges a gap between two ranges.
        let merged = range.start.min(lowest.start)..range.end.max(self.ranges[past - 1].end);
        self.ranges.drain(first + 1..past);
        self.ranges[first] = merged;
        true
    }

    /// Adds one value; returns `true` when it was not in the set before.
    ///
    /// `u64::MAX` cannot be stored (see the type's documentation): inserting
    /// it does nothing and returns `false`.
    pub fn insert_one(&mut self, value: u64) -> bool {
        match value.checked_add(1) {
            Some(end) => self.insert(value..end),
            None => false,
        }
    }

    /// Removes every value of `range`, splitting a range that contains it.
    /// A split that would exceed the bound on ranges drops the lowest range.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        // The run of ranges that share a value with `range`.
        let first = self.ranges.partition_point(|r| r.end <= range.start);
        let past = self.ranges.partition_point(|r| r.start < range.end);
        if first >= past {
            return;
        }
        let left = self.ranges[first].start..range.start;
        let right = range.end..self.ranges[past - 1].end;
        let kept = [left, right].into_iter().filter(|r| !r.is_empty());
        self.ranges.splice(first..past, kept);
        self.enforce_max();
    }

    /// Whether `value` is in the set.
    #[must_use]
    pub fn contains(&self, value: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= value);
        self.ranges.get(i).is_some_and(|r| r.start <= value)
    }

    /// Whether every value of `range` is in the set; `true` for an empty
    /// range.
    #[must_use]
    pub fn contains_range(&self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return true;
        }
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges
            .get(i)
            .is_some_and(|r| r.start <= range.start && range.end <= r.end)
    }

    /// The smallest value in the set.
    #[must_use]
    pub fn min(&self) -> Option<u64> {
        self.ranges.first().map(|r| r.start)
    }

    /// The largest value in the set (the end of the highest range, minus one).
    #[must_use]
    pub fn max(&self) -> Option<u64> {
        // Ranges are never empty, so `end > start >= 0` and `end - 1` cannot
        // underflow.
        self.ranges.last().map(|r| r.end - 1)
    }

    /// The number of ranges (not of values).
    #[must_use]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the set holds no value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges, in ascending order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = Range<u64>> + ExactSizeIterator + Clone + '_ {
        self.ranges.iter().cloned()
    }

    /// Removes and returns the lowest range.
    pub fn pop_min(&mut self) -> Option<Range<u64>> {
        if self.ranges.is_empty() {
            None
        } else {
            Some(self.ranges.remove(0))
        }
    }

    /// Removes every value of `other` from this set.
    pub fn subtract(&mut self, other: &Self) {
        for range in other.iter() {
            if self.ranges.is_empty() {
                return;
            }
            self.remove(range);
        }
    }

    /// Removes every value, keeping the bound on ranges.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Drops the lowest ranges until at most `max_ranges` remain.
    fn enforce_max(&mut self) {
        // RFC 9000 §13.2.3: a receiver that must limit its ACK ranges drops
        // the ones for the smallest packet numbers first.
        if let Some(excess) = self.ranges.len().checked_sub(self.max_ranges) {
            self.ranges.drain(..excess);
        }
        debug_assert!(self.is_well_formed(), "range set invariant broken");
    }

    /// Sorted, non-empty, disjoint and non-adjacent.
    fn is_well_formed(&self) -> bool {
        self.ranges.iter().all(|r| !r.is_empty())
            && self.ranges.windows(2).all(|w| w[0].end < w[1].start)
    }
}
