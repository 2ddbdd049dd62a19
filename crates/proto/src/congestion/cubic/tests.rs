use std::time::{Duration, Instant};

use proptest::{collection::vec, prelude::*};

use super::*;
use crate::congestion::{
    NewReno, NewRenoConfig,
    tests::{MSS, MSS_BYTES, at, epoch, ms, round_trip},
};

/// A CUBIC controller that left slow start with a loss at a window of
/// `packets` datagrams, at 1 s.
fn after_loss_at(packets: u64, config: &CubicConfig) -> Cubic {
    let mut cc = Cubic::new(config, at(0), MSS);
    let rtt = RttEstimator::new(ms(100));
    let mut sent = at(0);
    while cc.window() < packets * MSS_BYTES {
        let bytes = cc.window().min(packets * MSS_BYTES - cc.window());
        round_trip(&mut cc, sent, sent + ms(1), bytes.max(MSS_BYTES), &rtt);
        sent += ms(1);
    }
    assert_eq!(cc.window(), packets * MSS_BYTES);
    cc.on_congestion_event(at(1000), at(999), false, MSS_BYTES);
    cc
}

/// Runs congestion avoidance from `start` for `rounds` round trips of
/// `rtt`, acknowledging a full window per round trip, spread over it, of
/// packets sent one RTT earlier. Returns the window at the end of each
/// round, with the time.
fn run(cc: &mut Cubic, start: Instant, rtt: Duration, rounds: u32) -> Vec<(Instant, u64)> {
    let estimator = RttEstimator::new(rtt);
    let mut now = start;
    let mut windows = Vec::new();
    for _ in 0..rounds {
        let packets = (cc.window() / MSS_BYTES).max(1);
        let step = rtt / u32::try_from(packets).unwrap();
        for i in 0..packets {
            let acked = now + step * u32::try_from(i).unwrap();
            cc.on_ack(acked, acked - rtt, MSS_BYTES, false, &estimator);
        }
        now += rtt;
        windows.push((now, cc.window()));
    }
    windows
}

fn cubic_at(cc: &Cubic, t: f64) -> f64 {
    C * (t - cc.k()).powi(3) * 1200.0 + cc.w_max()
}

// RFC 9438 §4.6 (test): a loss reduces the window to beta_cubic times W_max.
#[test]
fn after_a_loss_the_window_is_beta_times_w_max() {
    let cc = after_loss_at(100, &CubicConfig::default());
    assert_eq!(cc.w_max(), 120_000.0);
    assert_eq!(cc.window(), 84_000);
    assert_eq!(cc.ssthresh(), 84_000);
}

// RFC 9438 §4.2 (test): the window regrows along W_cubic and returns to W_max after K seconds.
#[test]
fn the_window_regrows_along_the_cubic_curve_and_reaches_w_max_at_k() {
    let mut cc = after_loss_at(100, &CubicConfig::default());
    let rtt = ms(100);
    let start = at(1100);
    let windows = run(&mut cc, start, rtt, 60);
    // K = cbrt(W_max * (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) s.
    let k = 75f64.cbrt();
    assert!((cc.k() - k).abs() < 1e-9, "K is {}", cc.k());
    for &(now, window) in &windows {
        let t = now.duration_since(start).as_secs_f64();
        let expected = cubic_at(&cc, t);
        let error = (to_f64(window) - expected).abs() / expected;
        assert!(
            error < 0.03,
            "at {t:.1} s: window {window}, W_cubic {expected:.0}"
        );
        if t < k - 0.5 {
            assert!(window < 120_000, "concave region at {t:.1} s");
        }
    }
    let (_, at_k) = windows
        .iter()
        .min_by_key(|(now, _)| {
            let t = now.duration_since(start).as_secs_f64();
            Duration::from_secs_f64((t - k).abs())
        })
        .copied()
        .unwrap();
    let error = (to_f64(at_k) - 120_000.0).abs() / 120_000.0;
    assert!(error < 0.02, "window {at_k} at K");
    let (_, last) = *windows.last().unwrap();
    assert!(last > 121_000, "convex region beyond K: {last}");
}

// RFC 9438 §4.3 (test): with a short RTT the Reno-friendly estimate sets the window.
#[test]
fn the_reno_friendly_estimate_dominates_at_small_rtt_and_window() {
    let mut cc = after_loss_at(20, &CubicConfig::default());
    let start = at(1010);
    let windows = run(&mut cc, start, ms(10), 100);
    // The cubic curve alone stays below W_max until K ≈ 2.47 s.
    assert!(cc.k() > 2.4);
    let (now, window) = *windows.last().unwrap();
    let t = now.duration_since(start).as_secs_f64();
    assert!(cubic_at(&cc, t) < 24_000.0);
    assert!(window > 2 * 24_000, "window {window} after {t} s");
    // As far as Reno, growing one datagram per RTT, would be.
    let mut reno = NewReno::new(&NewRenoConfig::default(), at(0), MSS);
    reno.on_congestion_event(at(1), at(0), false, 0);
    let reno_rtt = RttEstimator::new(ms(10));
    let mut sent = at(10);
    for _ in 0..100 {
        let bytes = reno.window();
        round_trip(&mut reno, sent, sent + ms(10), bytes, &reno_rtt);
        sent += ms(10);
    }
    assert!(
        to_f64(window) > 0.95 * to_f64(reno.window()),
        "cubic {window} against reno {}",
        reno.window()
    );
}

// RFC 9438 §4.7 (test): a loss below the previous W_max lowers W_max to cwnd * (1 + beta) / 2.
#[test]
fn fast_convergence_lowers_w_max_when_the_new_maximum_is_lower() {
    let mut cc = after_loss_at(100, &CubicConfig::default());
    assert_eq!(cc.window(), 84_000);
    cc.on_congestion_event(at(1200), at(1100), false, MSS_BYTES);
    assert!(
        (cc.w_max() - 84_000.0 * 0.85).abs() < 1e-6,
        "{}",
        cc.w_max()
    );
    assert_eq!(cc.window(), 58_800);

    let plain = CubicConfig {
        fast_convergence: false,
        ..CubicConfig::default()
    };
    let mut cc = after_loss_at(100, &plain);
    cc.on_congestion_event(at(1200), at(1100), false, MSS_BYTES);
    assert_eq!(cc.w_max(), 84_000.0);
}

// RFC 9002 §7.3.2 (test): a second loss in the same recovery period does not reduce the window again.
#[test]
fn cubic_reduces_once_per_recovery_period() {
    let mut cc = after_loss_at(100, &CubicConfig::default());
    cc.on_congestion_event(at(1050), at(1000), false, MSS_BYTES);
    assert_eq!(cc.window(), 84_000);
    assert_eq!(cc.w_max(), 120_000.0);
}

// RFC 9438 §4.8 (test): after a timeout, the first stage starts with K = 0 and W_max = cwnd_epoch.
#[test]
fn after_persistent_congestion_the_curve_restarts_from_the_window() {
    let mut cc = after_loss_at(100, &CubicConfig::default());
    cc.on_congestion_event(at(5000), at(4000), true, 12_000);
    assert_eq!(cc.window(), 2400);
    let rtt = RttEstimator::new(ms(100));
    // Slow start up to ssthresh, then one acknowledgment in congestion avoidance.
    let sent = at(5000);
    while cc.window() < cc.ssthresh() {
        cc.on_ack(sent + ms(100), sent, MSS_BYTES, false, &rtt);
    }
    assert_eq!(cc.k(), 0.0, "no stage yet");
    let epoch_window = to_f64(cc.window());
    cc.on_ack(sent + ms(100), sent, MSS_BYTES, false, &rtt);
    assert_eq!(cc.k(), 0.0);
    assert_eq!(cc.w_max(), epoch_window);
}

// RFC 9438 §5.8 (test): time spent application limited is left out of t.
#[test]
fn an_application_limited_pause_does_not_jump_the_curve() {
    let mut cc = after_loss_at(100, &CubicConfig::default());
    let rtt = ms(100);
    let estimator = RttEstimator::new(rtt);
    run(&mut cc, at(1100), rtt, 10);
    let before = cc.window();
    // 60 s of acknowledgments while application limited.
    for i in 0..600 {
        let now = at(2100 + i * 100);
        cc.on_ack(now, now - rtt, MSS_BYTES, true, &estimator);
    }
    assert_eq!(cc.window(), before);
    let now = at(62_200);
    cc.on_ack(now, now - rtt, MSS_BYTES, false, &estimator);
    assert!(
        cc.window() - before < MSS_BYTES,
        "{before} -> {}",
        cc.window()
    );
}

#[derive(Debug, Clone)]
enum Event {
    Advance(u64),
    Sent(u64),
    Ack {
        age: u64,
        bytes: u64,
        app_limited: bool,
        rtt: u64,
    },
    Congestion {
        age: u64,
        persistent: bool,
        bytes: u64,
    },
    Mtu(u16),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u64..10_000_000).prop_map(Event::Advance),
        any::<u64>().prop_map(Event::Sent),
        (0u64..100_000, any::<u64>(), any::<bool>(), 0u64..10_000_000).prop_map(
            |(age, bytes, app_limited, rtt)| Event::Ack {
                age,
                bytes,
                app_limited,
                rtt
            }
        ),
        (0u64..100_000, any::<bool>(), any::<u64>()).prop_map(|(age, persistent, bytes)| {
            Event::Congestion {
                age,
                persistent,
                bytes,
            }
        }),
        any::<u16>().prop_map(Event::Mtu),
    ]
}

/// Plays `events` on `cc` from `mtu`, checking the window after each.
fn play(cc: &mut dyn Controller, mtu: u16, events: &[Event]) {
    let mut mtu = mtu;
    let mut now = epoch() + Duration::from_secs(3600);
    for event in events {
        match *event {
            Event::Advance(micros) => now += Duration::from_micros(micros),
            Event::Sent(bytes) => cc.on_sent(now, bytes, bytes),
            Event::Ack {
                age,
                bytes,
                app_limited,
                rtt,
            } => {
                let sent = now.checked_sub(ms(age)).unwrap_or(now);
                let rtt = RttEstimator::new(Duration::from_micros(rtt));
                cc.on_ack(now, sent, bytes, app_limited, &rtt);
            }
            Event::Congestion {
                age,
                persistent,
                bytes,
            } => {
                let sent = now.checked_sub(ms(age)).unwrap_or(now);
                cc.on_congestion_event(now, sent, persistent, bytes);
            }
            Event::Mtu(size) => {
                mtu = size;
                cc.on_mtu_update(size);
            }
        }
        assert!(
            cc.window() >= crate::congestion::minimum_window(mtu),
            "{} window {} below the minimum for {mtu} after {event:?}",
            cc.name(),
            cc.window()
        );
    }
}

proptest! {
    #[test]
    fn random_events_never_panic_nor_take_the_window_below_the_minimum(
        mtu in any::<u16>(),
        events in vec(event(), 0..200),
    ) {
        let mut cubic = Cubic::new(&CubicConfig::default(), epoch(), mtu);
        play(&mut cubic, mtu, &events);
        prop_assert!(cubic.w_max().is_finite() && cubic.k().is_finite());
        prop_assert!(cubic.credit.is_finite() && cubic.w_est.is_finite());
        let mut reno = NewReno::new(&NewRenoConfig::default(), epoch(), mtu);
        play(&mut reno, mtu, &events);
    }
}
