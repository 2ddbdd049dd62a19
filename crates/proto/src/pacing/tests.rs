use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use proptest::{collection::vec, prelude::*};

use super::*;

/// The fixed base instant every test measures from.
#[expect(clippy::disallowed_methods, reason = "tests need one base instant")]
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn us(micros: u64) -> Duration {
    Duration::from_micros(micros)
}

const MTU: u16 = 1200;
const PACKET: u64 = 1200;
const RTT: Duration = Duration::from_millis(100);
/// 1.25 * 120000 bytes per 100 ms: one 1200-byte packet every 800 µs.
const WINDOW: u64 = 120_000;
const INTERVAL: Duration = Duration::from_micros(800);

/// Sends every packet that may go at `now`; returns how many went.
fn drain(pacer: &mut Pacer, now: Instant) -> usize {
    let mut sent = 0;
    while pacer.delay(now, PACKET, RTT, WINDOW, MTU).is_none() {
        pacer.on_sent(now, PACKET);
        sent += 1;
        assert!(sent <= 1000, "the bucket never empties");
    }
    sent
}

// RFC 9002 §7.7 (test): a burst of at most the initial window, then packets at rate N * cwnd / smoothed_rtt.
#[test]
fn a_full_bucket_sends_a_burst_then_one_packet_per_interval() {
    let start = epoch();
    let mut pacer = Pacer::new(start, MTU);
    assert_eq!(pacer.capacity(), 12_000);
    assert_eq!(drain(&mut pacer, start), 10);

    let mut now = start;
    for _ in 0..20 {
        let next = pacer.delay(now, PACKET, RTT, WINDOW, MTU).unwrap();
        assert_eq!(next, now + INTERVAL);
        now = next;
        assert_eq!(drain(&mut pacer, now), 1);
    }
}

#[test]
fn frequent_polling_does_not_slow_the_rate() {
    let start = epoch();
    let mut pacer = Pacer::new(start, MTU);
    drain(&mut pacer, start);
    // Asking every 7 µs loses no fraction of a byte to rounding.
    let mut sent_at = Vec::new();
    let mut now = start;
    while sent_at.len() < 5 {
        now += us(7);
        if drain(&mut pacer, now) > 0 {
            sent_at.push(now.duration_since(start));
        }
    }
    let expected: Vec<Duration> = (1..=5u32)
        .map(|n| {
            // The first poll at or after each multiple of 800 µs.
            let due = INTERVAL * n;
            let polls = due.as_micros().div_ceil(7);
            us(u64::try_from(polls).unwrap() * 7)
        })
        .collect();
    assert_eq!(sent_at, expected);
}

#[test]
fn a_long_idle_refills_only_up_to_the_burst() {
    let start = epoch();
    let mut pacer = Pacer::new(start, MTU);
    assert_eq!(drain(&mut pacer, start), 10);
    let later = start + Duration::from_secs(3600);
    assert_eq!(drain(&mut pacer, later), 10);
    assert_eq!(
        pacer.delay(later, PACKET, RTT, WINDOW, MTU),
        Some(later + INTERVAL)
    );
}

#[test]
fn a_packet_larger_than_the_bucket_waits_for_a_full_bucket() {
    let start = epoch();
    let mut pacer = Pacer::new(start, MTU);
    drain(&mut pacer, start);
    let next = pacer.delay(start, 1_000_000, RTT, WINDOW, MTU);
    assert_eq!(next, Some(start + INTERVAL * 10));
}

#[test]
fn a_new_mtu_resizes_the_bucket() {
    let start = epoch();
    let mut pacer = Pacer::new(start, MTU);
    assert_eq!(pacer.delay(start, 1500, RTT, WINDOW, 1500), None);
    assert_eq!(pacer.capacity(), 14_720);
    assert_eq!(pacer.delay(start, 1200, RTT, WINDOW, 1200), None);
    assert_eq!(pacer.capacity(), 12_000);
    assert_eq!(pacer.tokens(), 12_000);
}

#[test]
fn a_zero_rtt_disables_pacing_and_a_zero_window_paces_one_datagram_per_rtt() {
    let start = epoch();
    let mut pacer = Pacer::new(start, MTU);
    for _ in 0..100 {
        assert_eq!(
            pacer.delay(start, PACKET, Duration::ZERO, WINDOW, MTU),
            None
        );
        pacer.on_sent(start, PACKET);
    }
    let mut pacer = Pacer::new(start, MTU);
    for _ in 0..10 {
        pacer.on_sent(start, PACKET);
    }
    // A window below a datagram counts as one: 1.25 datagrams per RTT.
    let next = pacer.delay(start, PACKET, RTT, 0, MTU);
    assert_eq!(next, Some(start + RTT * 4 / 5));
}

#[test]
fn time_going_backwards_adds_no_tokens() {
    let start = epoch() + Duration::from_secs(10);
    let mut pacer = Pacer::new(start, MTU);
    drain(&mut pacer, start);
    let earlier = start - Duration::from_secs(5);
    assert_eq!(
        pacer.delay(earlier, PACKET, RTT, WINDOW, MTU),
        Some(start + INTERVAL)
    );
}

proptest! {
    #[test]
    fn random_calls_never_panic_and_never_overfill_the_bucket(
        calls in vec(
            (0u64..10_000_000, any::<u64>(), any::<u64>(), any::<u64>(), any::<u16>(), any::<bool>()),
            0..100,
        ),
    ) {
        let mut now = epoch();
        let mut pacer = Pacer::new(now, MTU);
        for (advance, bytes, rtt, window, mtu, send) in calls {
            now += us(advance);
            let rtt = Duration::from_nanos(rtt);
            if let Some(at) = pacer.delay(now, bytes, rtt, window, mtu) {
                prop_assert!(at > now);
            }
            if send {
                pacer.on_sent(now, bytes);
            }
            prop_assert!(pacer.tokens() <= pacer.capacity());
        }
    }
}
