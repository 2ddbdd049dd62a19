#![expect(
    clippy::single_range_in_vec_init,
    reason = "a set of one range is compared against a one-range array"
)]

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn ranges(set: &RangeSet) -> Vec<Range<u64>> {
    set.iter().collect()
}

#[test]
fn overlapping_inserts_merge_into_one_range() {
    let mut set = RangeSet::new();
    assert!(set.insert(10..20));
    assert!(set.insert(15..30));
    assert!(set.insert(5..12));
    assert_eq!(ranges(&set), [5..30]);
    assert!(!set.insert(6..29), "every value was already present");
    assert!(!set.insert(5..30));
    assert_eq!(set.len(), 1);
}

#[test]
fn adjacent_inserts_merge_without_a_gap() {
    let mut set = RangeSet::new();
    assert!(set.insert(0..5));
    assert!(set.insert(5..10));
    assert!(set.insert_one(10));
    assert!(set.insert_one(12));
    assert_eq!(ranges(&set), [0..11, 12..13]);
    assert!(set.insert_one(11), "filling the gap joins both sides");
    assert_eq!(ranges(&set), [0..13]);
}

#[test]
fn an_insert_bridging_several_ranges_swallows_them() {
    let mut set = RangeSet::new();
    for start in [0, 10, 20, 30] {
        set.insert(start..start + 2);
    }
    assert!(set.insert(5..25));
    assert_eq!(ranges(&set), [0..2, 5..25, 30..32]);
    assert!(set.insert(1..31));
    assert_eq!(ranges(&set), [0..32]);
}

#[test]
fn inserts_below_the_lowest_range_stay_sorted() {
    let mut set = RangeSet::new();
    set.insert(50..60);
    set.insert(10..20);
    set.insert(30..40);
    set.insert_one(0);
    assert_eq!(ranges(&set), [0..1, 10..20, 30..40, 50..60]);
    assert_eq!(set.min(), Some(0));
    assert_eq!(set.max(), Some(59));
}

#[test]
fn empty_ranges_are_ignored() {
    let mut set = RangeSet::new();
    assert!(!set.insert(5..5));
    #[expect(clippy::reversed_empty_ranges, reason = "the point of the test")]
    let backwards = 9..3;
    assert!(!set.insert(backwards));
    assert!(set.is_empty());
    set.insert(0..10);
    set.remove(4..4);
    assert_eq!(ranges(&set), [0..10]);
    assert!(set.contains_range(7..7));
}

#[test]
fn removing_the_middle_splits_a_range() {
    let mut set = RangeSet::new();
    set.insert(0..100);
    set.remove(40..60);
    assert_eq!(ranges(&set), [0..40, 60..100]);
    set.remove(0..1);
    set.remove(99..200);
    assert_eq!(ranges(&set), [1..40, 60..99]);
    set.remove(30..70);
    assert_eq!(ranges(&set), [1..30, 70..99]);
    set.remove(0..1000);
    assert!(set.is_empty());
}

#[test]
fn removing_absent_values_changes_nothing() {
    let mut set = RangeSet::new();
    set.insert(10..20);
    set.insert(30..40);
    set.remove(20..30);
    set.remove(0..10);
    set.remove(40..u64::MAX);
    assert_eq!(ranges(&set), [10..20, 30..40]);
}

// RFC 9000 §13.2.3 (test): a bounded set forgets its lowest ranges first.
#[test]
fn a_full_set_drops_its_lowest_range() {
    let mut set = RangeSet::with_max_ranges(3);
    for pn in [0, 2, 4, 6, 8] {
        assert!(set.insert_one(pn));
    }
    assert_eq!(ranges(&set), [4..5, 6..7, 8..9]);
    assert!(
        set.insert_one(1),
        "the value was new, even though the bound drops it at once"
    );
    assert_eq!(ranges(&set), [4..5, 6..7, 8..9]);
    assert!(set.insert_one(5), "merging never needs an eviction");
    assert_eq!(ranges(&set), [4..7, 8..9]);
}

#[test]
fn a_split_that_overflows_the_bound_drops_the_lowest_range() {
    let mut set = RangeSet::with_max_ranges(2);
    set.insert(0..10);
    set.insert(20..30);
    set.remove(24..26);
    assert_eq!(ranges(&set), [20..24, 26..30]);
}

#[test]
fn a_bound_of_zero_keeps_one_range() {
    let mut set = RangeSet::with_max_ranges(0);
    set.insert(0..2);
    set.insert(5..7);
    assert_eq!(ranges(&set), [5..7]);
}

#[test]
fn contains_and_contains_range_respect_the_half_open_ends() {
    let mut set = RangeSet::new();
    set.insert(10..20);
    set.insert(30..40);
    assert!(!set.contains(9));
    assert!(set.contains(10));
    assert!(set.contains(19));
    assert!(!set.contains(20));
    assert!(set.contains(39));
    assert!(!set.contains(40));
    assert!(set.contains_range(10..20));
    assert!(set.contains_range(12..15));
    assert!(!set.contains_range(9..12));
    assert!(!set.contains_range(15..31), "a gap lies inside");
    assert!(!set.contains_range(40..41));
}

#[test]
fn ranges_ending_at_u64_max_work_without_overflow() {
    let mut set = RangeSet::new();
    assert!(set.insert(u64::MAX - 10..u64::MAX));
    assert!(!set.insert(u64::MAX - 3..u64::MAX));
    assert!(!set.insert_one(u64::MAX), "u64::MAX cannot be stored");
    assert!(set.insert_one(u64::MAX - 11));
    assert_eq!(ranges(&set), [u64::MAX - 11..u64::MAX]);
    assert_eq!(set.max(), Some(u64::MAX - 1));
    assert!(set.contains(u64::MAX - 1));
    assert!(!set.contains(u64::MAX));
    assert!(set.contains_range(u64::MAX - 5..u64::MAX));
    set.remove(u64::MAX - 5..u64::MAX);
    assert_eq!(ranges(&set), [u64::MAX - 11..u64::MAX - 5]);
    set.insert(0..u64::MAX);
    assert_eq!(ranges(&set), [0..u64::MAX]);
    set.remove(0..u64::MAX);
    assert!(set.is_empty());
}

#[test]
fn pop_min_takes_ranges_in_ascending_order() {
    let mut set = RangeSet::new();
    set.insert(20..30);
    set.insert(0..10);
    assert_eq!(set.pop_min(), Some(0..10));
    assert_eq!(set.pop_min(), Some(20..30));
    assert_eq!(set.pop_min(), None);
}

#[test]
fn iter_runs_both_ways_and_knows_its_length() {
    let mut set = RangeSet::new();
    set.insert(0..1);
    set.insert(5..6);
    set.insert(9..10);
    let iter = set.iter();
    assert_eq!(iter.len(), 3);
    assert_eq!(set.iter().rev().collect::<Vec<_>>(), [9..10, 5..6, 0..1]);
}

#[test]
fn subtract_removes_every_range_of_the_other_set() {
    let mut set = RangeSet::new();
    set.insert(0..100);
    let mut other = RangeSet::new();
    other.insert(10..20);
    other.insert(50..60);
    other.insert(90..200);
    set.subtract(&other);
    assert_eq!(ranges(&set), [0..10, 20..50, 60..90]);
}

#[test]
fn clear_empties_the_set_and_keeps_the_bound() {
    let mut set = RangeSet::with_max_ranges(1);
    set.insert(0..1);
    set.clear();
    assert!(set.is_empty());
    assert_eq!(set.min(), None);
    assert_eq!(set.max(), None);
    set.insert(0..1);
    set.insert(2..3);
    assert_eq!(ranges(&set), [2..3]);
}

/// An operation of the model test, on the domain `0..200`.
#[derive(Debug, Clone)]
enum Op {
    Insert(Range<u64>),
    Remove(Range<u64>),
    PopMin,
}

fn op() -> impl Strategy<Value = Op> {
    let range = (0_u64..200, 0_u64..30).prop_map(|(start, len)| start..start + len);
    prop_oneof![
        4 => range.clone().prop_map(Op::Insert),
        2 => range.prop_map(Op::Remove),
        1 => Just(Op::PopMin),
    ]
}

/// The model's values grouped into maximal runs.
fn model_ranges(model: &BTreeSet<u64>) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for &v in model {
        match out.last_mut() {
            Some(last) if last.end == v => last.end = v + 1,
            _ => out.push(v..v + 1),
        }
    }
    out
}

proptest! {
    #[test]
    fn an_unbounded_set_always_equals_a_btreeset_model(ops in prop::collection::vec(op(), 0..60)) {
        let mut set = RangeSet::new();
        let mut model = BTreeSet::new();
        for op in ops {
            match op {
                Op::Insert(range) => {
                    let new = range.clone().any(|v| !model.contains(&v));
                    model.extend(range.clone());
                    prop_assert_eq!(set.insert(range), new);
                }
                Op::Remove(range) => {
                    for v in range.clone() {
                        model.remove(&v);
                    }
                    set.remove(range);
                }
                Op::PopMin => {
                    let popped = set.pop_min();
                    prop_assert_eq!(popped.clone(), model_ranges(&model).first().cloned());
                    for v in popped.into_iter().flatten() {
                        model.remove(&v);
                    }
                }
            }
            prop_assert_eq!(ranges(&set), model_ranges(&model));
            prop_assert_eq!(set.min(), model.first().copied());
            prop_assert_eq!(set.max(), model.last().copied());
            for v in 0..240 {
                prop_assert_eq!(set.contains(v), model.contains(&v), "value {}", v);
            }
        }
    }

    #[test]
    fn contains_range_agrees_with_the_model(
        inserts in prop::collection::vec((0_u64..200, 1_u64..20), 0..20),
        probe_start in 0_u64..200,
        probe_len in 0_u64..40,
    ) {
        let mut set = RangeSet::new();
        let mut model = BTreeSet::new();
        for (start, len) in inserts {
            set.insert(start..start + len);
            model.extend(start..start + len);
        }
        let probe = probe_start..probe_start + probe_len;
        let expected = probe.clone().all(|v| model.contains(&v));
        prop_assert_eq!(set.contains_range(probe), expected);
    }

    #[test]
    fn subtract_equals_the_model_difference(
        a in prop::collection::vec((0_u64..200, 1_u64..20), 0..15),
        b in prop::collection::vec((0_u64..200, 1_u64..20), 0..15),
    ) {
        let (mut set_a, mut set_b) = (RangeSet::new(), RangeSet::new());
        let (mut model_a, mut model_b) = (BTreeSet::new(), BTreeSet::new());
        for (start, len) in a {
            set_a.insert(start..start + len);
            model_a.extend(start..start + len);
        }
        for (start, len) in b {
            set_b.insert(start..start + len);
            model_b.extend(start..start + len);
        }
        set_a.subtract(&set_b);
        let difference: BTreeSet<u64> = model_a.difference(&model_b).copied().collect();
        prop_assert_eq!(ranges(&set_a), model_ranges(&difference));
    }

    #[test]
    fn a_bounded_set_keeps_the_highest_ranges_of_the_unbounded_one(
        values in prop::collection::vec(0_u64..200, 0..80),
        max in 1_usize..6,
    ) {
        // Eviction only forgets values: whatever the bounded set keeps, the
        // unbounded one holds too, and the largest value is never evicted.
        let mut bounded = RangeSet::with_max_ranges(max);
        let mut unbounded = RangeSet::new();
        for v in values {
            bounded.insert_one(v);
            unbounded.insert_one(v);
            prop_assert!(bounded.len() <= max);
            for range in bounded.iter() {
                prop_assert!(unbounded.contains_range(range));
            }
            prop_assert_eq!(bounded.max(), unbounded.max());
        }
    }
}
