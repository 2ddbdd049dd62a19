//! The driver's timer discipline, without I/O.

use std::time::{Duration, Instant};

use super::{TimerChange, TimerSlot, split_gro};

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

#[test]
fn a_gro_receive_splits_into_datagrams_of_stride_bytes_with_a_shorter_tail() {
    let received: Vec<u8> = (0..=255).collect();
    let datagrams: Vec<&[u8]> = split_gro(&received, 250, 100).collect();
    assert_eq!(
        datagrams,
        [&received[..100], &received[100..200], &received[200..250]]
    );
}

#[test]
fn a_receive_without_gro_is_one_datagram_and_an_empty_one_none() {
    let received = [7_u8; 64];
    assert_eq!(
        split_gro(&received, 40, 0).collect::<Vec<_>>(),
        [&received[..40]]
    );
    assert_eq!(split_gro(&received, 0, 0).count(), 0);
    assert_eq!(split_gro(&received, 0, 16).count(), 0);
}

#[test]
fn a_length_beyond_the_buffer_is_cut_to_it() {
    let received = [1_u8; 10];
    assert_eq!(
        split_gro(&received, 1000, 4)
            .map(<[u8]>::len)
            .collect::<Vec<_>>(),
        [4, 4, 2]
    );
}
