use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use super::*;

/// The fixed base instant every test measures from.
#[expect(clippy::disallowed_methods, reason = "tests need one base instant")]
pub(super) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(super) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

pub(super) fn at(millis: u64) -> Instant {
    epoch() + ms(millis)
}

pub(super) const MSS: u16 = 1200;
pub(super) const MSS_BYTES: u64 = 1200;

/// Sends `bytes` in full datagrams at `sent` and acknowledges each at `acked`.
pub(super) fn round_trip(
    cc: &mut dyn Controller,
    sent: Instant,
    acked: Instant,
    bytes: u64,
    rtt: &RttEstimator,
) {
    let packets = bytes / MSS_BYTES;
    for i in 0..packets {
        cc.on_sent(sent, MSS_BYTES, (i + 1) * MSS_BYTES);
    }
    for _ in 0..packets {
        cc.on_ack(acked, sent, MSS_BYTES, false, rtt);
    }
}

fn new_reno() -> NewReno {
    NewReno::new(&NewRenoConfig::default(), at(0), MSS)
}

fn rtt_100ms() -> RttEstimator {
    RttEstimator::new(ms(100))
}

// RFC 9002 §7.2 (test): the initial window is min(10 * mss, max(14720, 2 * mss)).
#[test]
fn initial_window_is_ten_datagrams_capped_at_14720_bytes() {
    assert_eq!(initial_window(1200), 12_000);
    assert_eq!(initial_window(1500), 14_720);
    assert_eq!(initial_window(9000), 18_000);
    assert_eq!(minimum_window(1200), 2400);
    assert_eq!(initial_window(0), 10);
}

#[test]
fn a_configured_initial_window_is_used_but_never_below_the_minimum() {
    let big = NewRenoConfig {
        initial_window: Some(100_000),
    };
    assert_eq!(big.build(at(0), MSS).window(), 100_000);
    let tiny = CubicConfig {
        initial_window: Some(1),
        ..CubicConfig::default()
    };
    assert_eq!(tiny.build(at(0), MSS).window(), 2400);
}

#[test]
fn cubic_is_the_default_controller() {
    let cc = default_factory().build(at(0), MSS);
    assert_eq!(cc.name(), "cubic");
    assert_eq!(
        NewRenoConfig::default().build(at(0), MSS).name(),
        "new_reno"
    );
}

// RFC 9002 §7.3.1 (test): slow start grows the window by the bytes acknowledged.
#[test]
fn new_reno_slow_start_doubles_the_window_per_round_trip() {
    let mut cc = new_reno();
    let rtt = rtt_100ms();
    round_trip(&mut cc, at(0), at(100), 12_000, &rtt);
    assert_eq!(cc.window(), 24_000);
    round_trip(&mut cc, at(100), at(200), 24_000, &rtt);
    assert_eq!(cc.window(), 48_000);
}

// RFC 9002 §7.3.2 (test): one congestion event per recovery period halves the window.
#[test]
fn new_reno_halves_the_window_once_per_recovery_period() {
    let mut cc = new_reno();
    let rtt = rtt_100ms();
    round_trip(&mut cc, at(0), at(100), 12_000, &rtt);
    assert_eq!(cc.window(), 24_000);

    cc.on_congestion_event(at(300), at(150), false, 1200);
    assert_eq!(cc.window(), 12_000);
    assert_eq!(cc.ssthresh(), 12_000);

    // A second loss of a packet sent before the period began is the same event.
    cc.on_congestion_event(at(320), at(299), false, 1200);
    assert_eq!(cc.window(), 12_000);
    // So is one sent at the instant it began.
    cc.on_congestion_event(at(330), at(300), false, 1200);
    assert_eq!(cc.window(), 12_000);

    // A loss of a packet sent after it began starts a new period.
    cc.on_congestion_event(at(500), at(301), false, 1200);
    assert_eq!(cc.window(), 6000);
}

// RFC 9002 §7.3.2 (test): acknowledgments of packets sent before recovery began do not grow the window.
#[test]
fn new_reno_acks_of_packets_sent_before_recovery_do_not_grow_the_window() {
    let mut cc = new_reno();
    let rtt = rtt_100ms();
    cc.on_congestion_event(at(100), at(50), false, 1200);
    assert_eq!(cc.window(), 6000);
    round_trip(&mut cc, at(90), at(150), 6000, &rtt);
    assert_eq!(cc.window(), 6000);
}

// RFC 9002 §7.3.3 (test): congestion avoidance adds one datagram per window acknowledged.
#[test]
fn new_reno_congestion_avoidance_adds_one_datagram_per_window_acknowledged() {
    let mut cc = new_reno();
    let rtt = rtt_100ms();
    cc.on_congestion_event(at(100), at(50), false, 1200);
    assert_eq!(cc.window(), 6000);
    assert_eq!(cc.ssthresh(), 6000);

    round_trip(&mut cc, at(200), at(300), 4800, &rtt);
    assert_eq!(cc.window(), 6000, "less than a window acknowledged");
    round_trip(&mut cc, at(300), at(400), 1200, &rtt);
    assert_eq!(cc.window(), 7200);
    round_trip(&mut cc, at(400), at(500), 7200, &rtt);
    assert_eq!(cc.window(), 8400);
}

// RFC 9002 §7.6.2 (test): persistent congestion reduces the window to kMinimumWindow.
#[test]
fn new_reno_persistent_congestion_collapses_to_the_minimum_window() {
    let mut cc = new_reno();
    let rtt = rtt_100ms();
    round_trip(&mut cc, at(0), at(100), 12_000, &rtt);
    cc.on_congestion_event(at(5000), at(4000), true, 12_000);
    assert_eq!(cc.window(), 2400);
    assert_eq!(cc.ssthresh(), 12_000);
    // The recovery period ended: a later loss counts again.
    cc.on_congestion_event(at(5100), at(4500), false, 1200);
    assert_eq!(cc.ssthresh(), 1200);
    assert_eq!(cc.window(), 2400);
}

#[test]
fn persistent_congestion_collapses_the_window_even_within_a_recovery_period() {
    for factory in [
        Box::new(NewRenoConfig::default()) as Box<dyn ControllerFactory>,
        Box::new(CubicConfig::default()),
    ] {
        let mut cc = factory.build(at(0), MSS);
        cc.on_congestion_event(at(1000), at(900), false, 1200);
        cc.on_congestion_event(at(1010), at(950), true, 1200);
        assert_eq!(cc.window(), 2400, "{}", cc.name());
    }
}

// RFC 9002 §7.8 (test): the window does not grow while the sender is application limited.
#[test]
fn app_limited_acks_do_not_grow_the_window() {
    for factory in [
        Box::new(NewRenoConfig::default()) as Box<dyn ControllerFactory>,
        Box::new(CubicConfig::default()),
    ] {
        let mut cc = factory.build(at(0), MSS);
        let rtt = rtt_100ms();
        for _ in 0..10 {
            cc.on_ack(at(100), at(0), MSS_BYTES, true, &rtt);
        }
        assert_eq!(cc.window(), 12_000, "{} in slow start", cc.name());
        cc.on_congestion_event(at(200), at(150), false, 1200);
        let reduced = cc.window();
        for i in 0..1000 {
            cc.on_ack(at(300 + i), at(250 + i), MSS_BYTES, true, &rtt);
        }
        assert_eq!(cc.window(), reduced, "{} avoiding congestion", cc.name());
    }
}

#[test]
fn a_larger_mtu_raises_the_window_to_the_new_minimum() {
    for factory in [
        Box::new(NewRenoConfig::default()) as Box<dyn ControllerFactory>,
        Box::new(CubicConfig::default()),
    ] {
        let mut cc = factory.build(at(0), MSS);
        cc.on_congestion_event(at(1000), at(900), true, 1200);
        assert_eq!(cc.window(), 2400);
        cc.on_mtu_update(1500);
        assert_eq!(cc.window(), 3000, "{}", cc.name());
        cc.on_mtu_update(1200);
        assert_eq!(cc.window(), 3000, "{}", cc.name());
    }
}

/// RFC 9002 §7.6.3's example: PTO = 2 s, so the duration is 6 s. Packet
/// `n` (1..=9) is sent at the listed second; #1 and #9 are acknowledged,
/// #2 to #8 declared lost at t = 12.2.
fn rfc_example_time(seconds_tenths: u64) -> Instant {
    // Leave room before t = 0 for the handshake's RTT samples.
    at(10_000 + seconds_tenths * 100)
}

fn rfc_example_lost() -> Vec<LostPacket> {
    [
        (2, 10),
        (3, 20),
        (4, 30),
        (5, 40),
        (6, 50),
        (7, 60),
        (8, 80),
    ]
    .into_iter()
    .map(|(pn, tenths)| LostPacket {
        pn,
        time_sent: rfc_example_time(tenths),
        ack_eliciting: true,
    })
    .collect()
}

const RFC_EXAMPLE_PTO: Duration = Duration::from_secs(2);

// RFC 9002 §7.6.3 (test): losing #2 to #8, 7 s apart with no acknowledgment between, is persistent congestion.
#[test]
fn the_rfc_example_establishes_persistent_congestion() {
    let handshake_sample = Some(rfc_example_time(0) - ms(500));
    assert!(in_persistent_congestion(
        &rfc_example_lost(),
        RFC_EXAMPLE_PTO,
        handshake_sample
    ));
}

// RFC 9002 §7.6.2 (test): an acknowledged packet between the lost ones breaks the period.
#[test]
fn an_acknowledged_packet_between_the_losses_prevents_persistent_congestion() {
    let mut lost = rfc_example_lost();
    lost.retain(|p| p.pn != 5);
    let sample = Some(rfc_example_time(0) - ms(500));
    assert!(!in_persistent_congestion(&lost, RFC_EXAMPLE_PTO, sample));
}

// RFC 9002 §7.6.2 (test): packets sent before the first RTT sample do not count.
#[test]
fn losses_before_the_first_rtt_sample_do_not_count() {
    // Had the acknowledgment of #1 at t = 1.2 been the first sample, #2 (sent
    // at t = 1) would not count, and #3 to #8 span exactly 6 s, not more.
    let lost = rfc_example_lost();
    let first_sample = Some(rfc_example_time(12));
    assert!(!in_persistent_congestion(
        &lost,
        RFC_EXAMPLE_PTO,
        first_sample
    ));
    assert!(!in_persistent_congestion(&lost, RFC_EXAMPLE_PTO, None));
}

// RFC 9002 §7.6.2 (test): both packets bounding the period must be ack-eliciting.
#[test]
fn a_lost_packet_that_was_not_ack_eliciting_does_not_bound_the_period() {
    let mut lost = rfc_example_lost();
    if let Some(last) = lost.last_mut() {
        last.ack_eliciting = false;
    }
    let sample = Some(rfc_example_time(0) - ms(500));
    // #2 to #7 span 5 s; #8 still keeps the packet numbers contiguous.
    assert!(!in_persistent_congestion(&lost, RFC_EXAMPLE_PTO, sample));
}

// RFC 9002 §7.6.2 (test): the span must exceed the duration, not merely reach it.
#[test]
fn a_span_equal_to_the_duration_is_not_persistent_congestion() {
    let lost = rfc_example_lost();
    let sample = Some(rfc_example_time(0) - ms(500));
    let seven_thirds = Duration::from_nanos(7_000_000_000 / 3 + 1);
    assert!(!in_persistent_congestion(&lost, seven_thirds, sample));
    let just_under = Duration::from_nanos(7_000_000_000 / 3 - 1);
    assert!(in_persistent_congestion(&lost, just_under, sample));
}

#[test]
fn out_of_order_or_empty_losses_never_declare_persistent_congestion() {
    let sample = Some(rfc_example_time(0) - ms(500));
    assert!(!in_persistent_congestion(&[], RFC_EXAMPLE_PTO, sample));
    let mut lost = rfc_example_lost();
    lost.reverse();
    assert!(!in_persistent_congestion(&lost, RFC_EXAMPLE_PTO, sample));
    let wrapping = [u64::MAX, 0].map(|pn| LostPacket {
        pn,
        time_sent: rfc_example_time(pn % 100),
        ack_eliciting: true,
    });
    assert!(!in_persistent_congestion(&wrapping, Duration::ZERO, sample));
}

// RFC 9002 §7.6.1 (test): the period is smoothed_rtt + max(4 * rttvar, kGranularity) + max_ack_delay.
#[test]
fn the_persistent_congestion_pto_includes_max_ack_delay() {
    let rtt = RttEstimator::new(ms(100));
    // rttvar is 50 ms before any sample.
    assert_eq!(persistent_congestion_pto(&rtt, ms(1), ms(25)), ms(325));
    let mut steady = RttEstimator::new(ms(100));
    steady.update(Duration::ZERO, ms(10), true, ms(25));
    for _ in 0..200 {
        steady.update(Duration::ZERO, ms(10), true, ms(25));
    }
    assert_eq!(steady.rttvar(), Duration::ZERO);
    assert_eq!(persistent_congestion_pto(&steady, ms(1), ms(25)), ms(36));
}
