use std::sync::OnceLock;

use super::*;

/// The fixed base instant every test measures from.
#[expect(clippy::disallowed_methods, reason = "tests need one base instant")]
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn at(secs: u64) -> Instant {
    epoch() + Duration::from_secs(secs)
}

fn config(max: u16) -> MtudConfig {
    MtudConfig {
        max,
        ..MtudConfig::default()
    }
}

/// Drives probes over a path that delivers a probe of `s` bytes iff
/// `delivers(s)`, one probe a second from `start`, until discovery asks for
/// no more. Returns the sizes probed and the next packet number.
fn run(
    mtud: &mut MtuDiscovery,
    start: u64,
    first_pn: u64,
    delivers: impl Fn(u16) -> bool,
) -> (Vec<u16>, u64) {
    let mut probed = Vec::new();
    for step in 0..100 {
        let now = at(start + step);
        let pn = first_pn + step;
        let Some(size) = mtud.poll_probe(now) else {
            return (probed, pn);
        };
        probed.push(size);
        mtud.on_probe_sent(pn, size);
        assert_eq!(mtud.poll_probe(now), None, "one probe in flight at a time");
        if delivers(size) {
            mtud.on_acked(now, pn);
        } else {
            mtud.on_lost(now, pn);
        }
    }
    panic!("search did not terminate: probed {probed:?}");
}

#[test]
fn the_search_converges_just_below_the_true_mtu() {
    let max = 1500;
    for true_mtu in [1200, 1280, 1350, 1452, 1500] {
        let mut mtud = MtuDiscovery::new(config(max));
        let (probed, _) = run(&mut mtud, 0, 0, |s| s <= true_mtu);
        let current = mtud.current();
        assert!(current <= true_mtu, "{true_mtu}: {current} above the path");
        assert!(
            true_mtu - current < SEARCH_GRANULARITY,
            "{true_mtu}: stopped at {current} after {probed:?}"
        );
        // A size step costs at most max_probes probes: the maximum, then a
        // binary search over 300 bytes down to 20.
        assert!(probed.len() <= 18, "{true_mtu}: {} probes", probed.len());
        assert!(probed.iter().all(|&s| (1200..=max).contains(&s)));
    }
}

#[test]
fn a_path_that_carries_the_maximum_needs_one_probe() {
    let mut mtud = MtuDiscovery::new(MtudConfig::default());
    let (probed, _) = run(&mut mtud, 0, 0, |_| true);
    assert_eq!(probed, [1452]);
    assert_eq!(mtud.current(), 1452);
    // Nothing above the maximum is worth a raise timer.
    assert_eq!(mtud.next_timeout(), None);
}

#[test]
fn probes_never_exceed_the_peer_max_udp_payload_size() {
    // RFC 9000 §14.3 (test): probes stay within the peer's limit.
    let mut mtud = MtuDiscovery::new(config(1500));
    mtud.set_peer_max_udp_payload_size(1350);
    let (probed, _) = run(&mut mtud, 0, 0, |_| true);
    assert_eq!(probed, [1350]);
    assert_eq!(mtud.current(), 1350);
}

#[test]
fn a_peer_limit_below_the_base_leaves_the_base() {
    let mut mtud = MtuDiscovery::new(config(1500));
    mtud.set_peer_max_udp_payload_size(1000);
    assert_eq!(mtud.poll_probe(at(0)), None);
    assert_eq!(mtud.current(), 1200);
}

#[test]
fn a_huge_peer_limit_keeps_the_configured_maximum() {
    let mut mtud = MtuDiscovery::new(config(1500));
    mtud.set_peer_max_udp_payload_size(65_527);
    assert_eq!(mtud.poll_probe(at(0)), Some(1500));
}

#[test]
fn a_size_fails_only_after_max_probes_losses() {
    // RFC 8899 §5.1.2 (test): MAX_PROBES losses fail a size, fewer do not.
    let mut mtud = MtuDiscovery::new(MtudConfig::default());
    for pn in 0..3 {
        assert_eq!(mtud.poll_probe(at(pn)), Some(1452));
        mtud.on_probe_sent(pn, 1452);
        mtud.on_lost(at(pn), pn);
    }
    let next = mtud.poll_probe(at(3));
    assert!(next.is_some_and(|s| s < 1452), "{next:?}");
    assert_eq!(mtud.current(), 1200);
}

#[test]
fn unrelated_acks_and_losses_leave_the_probe_in_flight() {
    let mut mtud = MtuDiscovery::new(MtudConfig::default());
    mtud.on_probe_sent(7, 1452);
    mtud.on_acked(at(0), 6);
    mtud.on_lost(at(0), 8);
    assert_eq!(mtud.current(), 1200);
    assert_eq!(mtud.poll_probe(at(0)), None);
    mtud.on_acked(at(0), 7);
    assert_eq!(mtud.current(), 1452);
}

#[test]
fn disabled_discovery_stays_at_the_base() {
    let mut mtud = MtuDiscovery::new(MtudConfig {
        enabled: false,
        ..MtudConfig::default()
    });
    assert_eq!(mtud.poll_probe(at(0)), None);
    assert_eq!(mtud.next_timeout(), None);
    assert_eq!(mtud.current(), 1200);
}

#[test]
fn repeated_losses_of_large_packets_fall_back_to_the_base() {
    // RFC 8899 §4.3 (test): a black hole sends the path MTU back to the base.
    let mut mtud = MtuDiscovery::new(MtudConfig::default());
    let (_, pn) = run(&mut mtud, 0, 0, |_| true);
    assert_eq!(mtud.current(), 1452);
    // Losses at one instant are one loss event; small packets do not count.
    mtud.on_packet_lost(at(10), 1452);
    mtud.on_packet_lost(at(10), 1452);
    mtud.on_packet_lost(at(11), 1100);
    mtud.on_packet_lost(at(12), 1452);
    assert_eq!(mtud.current(), 1452);
    mtud.on_packet_lost(at(13), 1452);
    assert_eq!(mtud.current(), 1200);
    // The search starts again from the base against the now smaller path.
    let (probed, _) = run(&mut mtud, 20, pn, |s| s <= 1300);
    assert_eq!(probed.first(), Some(&1452));
    assert!(mtud.current() <= 1300 && 1300 - mtud.current() < SEARCH_GRANULARITY);
}

#[test]
fn an_acked_large_packet_clears_black_hole_suspicion() {
    let mut mtud = MtuDiscovery::new(MtudConfig::default());
    let _ = run(&mut mtud, 0, 0, |_| true);
    for round in 0..10 {
        mtud.on_packet_lost(at(10 + 2 * round), 1452);
        mtud.on_packet_lost(at(11 + 2 * round), 1452);
        mtud.on_packet_acked(1452);
    }
    assert_eq!(mtud.current(), 1452);
    // Acknowledged small packets prove nothing about large ones.
    mtud.on_packet_lost(at(40), 1452);
    mtud.on_packet_acked(1200);
    mtud.on_packet_lost(at(41), 1452);
    mtud.on_packet_lost(at(42), 1452);
    assert_eq!(mtud.current(), 1200);
}

#[test]
fn losses_of_packets_sent_before_a_fallback_are_ignored() {
    let mut mtud = MtuDiscovery::new(MtudConfig::default());
    let _ = run(&mut mtud, 0, 0, |_| true);
    for t in 10..13 {
        mtud.on_packet_lost(at(t), 1452);
    }
    assert_eq!(mtud.current(), 1200);
    mtud.on_probe_sent(100, 1452);
    for t in 13..20 {
        mtud.on_packet_lost(at(t), 1452);
    }
    // The re-search is still waiting on its probe, not restarted.
    assert_eq!(mtud.poll_probe(at(20)), None);
    mtud.on_acked(at(20), 100);
    assert_eq!(mtud.current(), 1452);
}

#[test]
fn the_search_runs_again_after_the_raise_timer() {
    // RFC 8899 §5.2 (test): PMTU_RAISE_TIMER restarts the search upwards.
    let mut mtud = MtuDiscovery::new(MtudConfig::default());
    let (probed, pn) = run(&mut mtud, 0, 0, |s| s <= 1350);
    let done = at(u64::try_from(probed.len()).unwrap() - 1);
    assert!(mtud.current() <= 1350 && 1350 - mtud.current() < SEARCH_GRANULARITY);
    let raise_at = done + Duration::from_secs(600);
    assert_eq!(mtud.next_timeout(), Some(raise_at));
    assert_eq!(mtud.poll_probe(raise_at - Duration::from_secs(1)), None);
    // The path has grown meanwhile.
    assert_eq!(mtud.poll_probe(raise_at), Some(1452));
    assert_eq!(mtud.next_timeout(), None);
    mtud.on_probe_sent(pn, 1452);
    mtud.on_acked(raise_at, pn);
    assert_eq!(mtud.current(), 1452);
}

#[test]
fn a_search_that_finds_nothing_larger_keeps_its_mtu_and_retries_later() {
    let mut mtud = MtuDiscovery::new(MtudConfig::default());
    let (_, pn) = run(&mut mtud, 0, 0, |s| s <= 1350);
    let found = mtud.current();
    let raise_at = mtud.next_timeout().unwrap();
    let (probed, _) = run(&mut mtud, 700, pn, |s| s <= 1350);
    assert!(!probed.is_empty());
    assert!(probed.iter().all(|&s| s > found && s <= 1452));
    assert_eq!(mtud.current(), found);
    assert!(mtud.next_timeout().unwrap() > raise_at);
}
