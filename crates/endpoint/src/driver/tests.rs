//! The driver's timer discipline, without I/O.

use std::time::{Duration, Instant};

use super::{TimerChange, TimerSlot};

#[expect(
    clippy::disallowed_methods,
    reason = "a base instant for deadlines; no time passes in these tests"
)]
fn base() -> Instant {
    Instant::now()
}

#[test]
fn a_new_slot_is_disarmed_and_stays_so_without_a_deadline() {
    let mut slot = TimerSlot::default();
    assert!(!slot.is_armed());
    assert_eq!(slot.update(None), TimerChange::Keep);
    assert!(!slot.is_armed());
}

#[test]
fn the_slot_follows_the_earliest_deadline_and_disarms_when_it_goes() {
    let t0 = base();
    let (t1, t2) = (t0 + Duration::from_secs(1), t0 + Duration::from_secs(2));
    let mut slot = TimerSlot::default();
    assert_eq!(slot.update(Some(t1)), TimerChange::Arm(t1));
    assert_eq!(
        slot.update(Some(t1)),
        TimerChange::Keep,
        "no reset for the same deadline"
    );
    assert_eq!(slot.update(Some(t2)), TimerChange::Arm(t2));
    assert_eq!(
        slot.update(Some(t1)),
        TimerChange::Arm(t1),
        "an earlier one too"
    );
    // The last connection went: a past deadline must not stay armed.
    assert_eq!(slot.update(None), TimerChange::Disarm);
    assert!(!slot.is_armed());
    assert_eq!(slot.update(None), TimerChange::Keep);
    assert_eq!(slot.update(Some(t2)), TimerChange::Arm(t2));
    assert!(slot.is_armed());
}

#[test]
fn after_any_sequence_the_slot_holds_exactly_the_last_deadline() {
    let t0 = base();
    let deadlines: Vec<Option<Instant>> = (0..200_u64)
        .map(|i| (i % 7 != 3).then(|| t0 + Duration::from_millis((i * 37) % 11)))
        .collect();
    let mut slot = TimerSlot::default();
    for next in deadlines {
        let before = slot;
        let change = slot.update(next);
        assert_eq!(slot, TimerSlot(next));
        match change {
            TimerChange::Keep => assert_eq!(before, slot),
            TimerChange::Arm(deadline) => assert_eq!(Some(deadline), next),
            TimerChange::Disarm => assert!(next.is_none() && before.is_armed()),
        }
    }
}
