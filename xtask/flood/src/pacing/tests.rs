use std::time::Duration;

use super::{Pacer, TICK};

#[test]
fn the_schedule_holds_rate_times_duration_rounded_down() {
    assert_eq!(Pacer::new(20_000, Duration::from_secs(10)).total(), 200_000);
    assert_eq!(Pacer::new(3, Duration::from_millis(1500)).total(), 4);
    assert_eq!(Pacer::new(0, Duration::from_secs(10)).total(), 0);
    assert_eq!(Pacer::new(20_000, Duration::ZERO).total(), 0);
}

#[test]
fn datagram_n_is_due_n_over_rate_seconds_after_the_start() {
    let pacer = Pacer::new(20_000, Duration::from_secs(1));
    assert_eq!(pacer.due_at(0), Some(Duration::ZERO));
    assert_eq!(pacer.due_at(1), Some(Duration::from_micros(50)));
    assert_eq!(pacer.due_at(19_999), Some(Duration::from_micros(999_950)));
    assert_eq!(pacer.due_at(20_000), None, "past the schedule");
    // Rounded up to the nanosecond: never early.
    let thirds = Pacer::new(3, Duration::from_secs(1));
    assert_eq!(thirds.due_at(1), Some(Duration::from_nanos(333_333_334)));
    assert_eq!(Pacer::new(0, Duration::from_secs(1)).due_at(0), None);
}

#[test]
fn due_counts_the_datagrams_whose_time_has_come() {
    let pacer = Pacer::new(20_000, Duration::from_secs(1));
    assert_eq!(pacer.due(Duration::ZERO), 1, "the first leaves at once");
    assert_eq!(pacer.due(Duration::from_micros(49)), 1);
    assert_eq!(pacer.due(Duration::from_micros(50)), 2);
    assert_eq!(pacer.due(Duration::from_millis(500)), 10_001);
    assert_eq!(
        pacer.due(Duration::from_secs(60)),
        20_000,
        "never past the total"
    );
    assert_eq!(
        Pacer::new(0, Duration::from_secs(1)).due(Duration::from_secs(1)),
        0
    );
}

#[test]
fn due_and_due_at_agree_at_every_boundary() {
    for rate in [1, 3, 7, 1_000, 2_000, 20_000, 99_999] {
        let pacer = Pacer::new(rate, Duration::from_secs(2));
        for n in (0..pacer.total()).step_by(97) {
            let at = pacer.due_at(n).unwrap();
            assert_eq!(pacer.due(at), n + 1, "rate {rate}, datagram {n}");
            if n > 0 {
                let before = at - Duration::from_nanos(1);
                assert_eq!(pacer.due(before), n, "rate {rate}, datagram {n}");
            }
        }
    }
}

#[test]
fn pause_sends_what_is_due_and_sleeps_at_least_a_tick_otherwise() {
    let fast = Pacer::new(2_000, Duration::from_secs(1));
    assert_eq!(fast.pause(Duration::ZERO, 0), Some(Duration::ZERO));
    // The next is due in 500 µs: sleep a tick and send two then.
    assert_eq!(fast.pause(Duration::ZERO, 1), Some(TICK));
    assert_eq!(fast.due(TICK), 3);
    let slow = Pacer::new(10, Duration::from_secs(1));
    assert_eq!(
        slow.pause(Duration::from_millis(30), 1),
        Some(Duration::from_millis(70))
    );
    // Behind: one is due at once.
    assert_eq!(
        slow.pause(Duration::from_millis(450), 2),
        Some(Duration::ZERO)
    );
}

#[test]
fn the_schedule_ends_when_all_are_sent_or_the_time_is_up() {
    let pacer = Pacer::new(10, Duration::from_secs(1));
    assert_eq!(
        pacer.pause(Duration::from_millis(950), 10),
        None,
        "all sent"
    );
    assert_eq!(
        pacer.pause(Duration::from_secs(1), 3),
        None,
        "time is up, even behind"
    );
    assert_eq!(
        Pacer::new(0, Duration::from_secs(1)).pause(Duration::ZERO, 0),
        None
    );
}
