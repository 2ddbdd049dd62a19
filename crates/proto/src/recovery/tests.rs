use std::{
    ops::RangeInclusive,
    sync::OnceLock,
    time::{Duration, Instant},
};

use proptest::{collection::vec, prelude::*};

use super::*;
use crate::error::TransportErrorCode;

/// The fixed base instant every test measures from.
#[expect(clippy::disallowed_methods, reason = "tests need one base instant")]
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn at(millis: u64) -> Instant {
    epoch() + ms(millis)
}

/// A server that is not blocked; the handshake is not confirmed.
fn server() -> PathState {
    PathState {
        handshake_confirmed: false,
        peer_completed_address_validation: true,
        amplification_blocked: false,
        has_handshake_keys: true,
        max_ack_delay: ms(25),
        is_client: false,
    }
}

/// A client whose address the server has not validated yet.
fn client() -> PathState {
    PathState {
        peer_completed_address_validation: false,
        has_handshake_keys: false,
        is_client: true,
        ..server()
    }
}

fn confirmed() -> PathState {
    PathState {
        handshake_confirmed: true,
        ..server()
    }
}

/// The results of one call, collected.
struct Harness {
    recovery: Recovery<u64>,
    acked: Vec<SentPacket<u64>>,
    lost: Vec<(SpaceId, SentPacket<u64>)>,
}

impl Harness {
    fn new() -> Self {
        Self {
            recovery: Recovery::new(RecoveryConfig::default()),
            acked: Vec::new(),
            lost: Vec::new(),
        }
    }

    /// Sends an ack-eliciting, in-flight packet of 1000 bytes whose data is its pn.
    fn send(&mut self, millis: u64, space: SpaceId, pn: u64) {
        let packet = SentPacket {
            time_sent: at(millis),
            size: 1000,
            ack_eliciting: true,
            in_flight: true,
            data: pn,
        };
        self.recovery.on_packet_sent(at(millis), space, pn, packet);
    }

    fn ack(
        &mut self,
        millis: u64,
        space: SpaceId,
        ranges: &[RangeInclusive<u64>],
        ack_delay: Duration,
        path: &PathState,
    ) -> Result<AckOutcome, TransportError> {
        self.acked.clear();
        self.lost.clear();
        self.recovery.on_ack_received(
            at(millis),
            space,
            ranges.iter().cloned(),
            ack_delay,
            path,
            &mut self.acked,
            &mut self.lost,
        )
    }

    fn timeout(&mut self, millis: u64, path: &PathState) -> TimeoutOutcome {
        self.lost.clear();
        self.recovery
            .on_loss_detection_timeout(at(millis), path, &mut self.lost)
    }

    fn acked_pns(&self) -> Vec<u64> {
        self.acked.iter().map(|p| p.data).collect()
    }

    fn lost_pns(&self) -> Vec<u64> {
        self.lost.iter().map(|(_, p)| p.data).collect()
    }
}

// RFC 9002 §5.3 (test): before a sample the estimator assumes kInitialRtt and half of it as rttvar.
#[test]
fn estimator_assumes_the_initial_rtt_before_any_sample() {
    let rtt = RttEstimator::default();
    assert_eq!(rtt.smoothed(), ms(333));
    assert_eq!(rtt.rttvar(), Duration::from_micros(166_500));
    assert_eq!(rtt.min(), Duration::ZERO);
    assert!(!rtt.has_sample());
}

// RFC 9002 §5.3 (test): the first sample sets smoothed_rtt to it and rttvar to half of it,
// ignoring ack delay.
#[test]
fn first_sample_sets_smoothed_rtt_and_half_of_it_as_rttvar() {
    let mut rtt = RttEstimator::new(ms(333));
    rtt.update(ms(20), ms(100), true, ms(25));
    assert_eq!(rtt.smoothed(), ms(100));
    assert_eq!(rtt.rttvar(), ms(50));
    assert_eq!(rtt.min(), ms(100));
    assert_eq!(rtt.latest(), ms(100));
    assert!(rtt.has_sample());
}

// RFC 9002 §5.3 (test): after confirmation the ack delay is capped at max_ack_delay.
#[test]
fn later_samples_subtract_the_ack_delay_capped_at_max_ack_delay() {
    let mut rtt = RttEstimator::new(ms(333));
    rtt.update(Duration::ZERO, ms(100), true, ms(25));
    // 200 ms with a claimed 80 ms delay, capped at 25 ms: adjusted 175 ms.
    rtt.update(ms(80), ms(200), true, ms(25));
    // rttvar = 3/4 * 50 + 1/4 * 75; smoothed = 7/8 * 100 + 1/8 * 175.
    assert_eq!(rtt.rttvar(), Duration::from_micros(56_250));
    assert_eq!(rtt.smoothed(), Duration::from_micros(109_375));
    assert_eq!(rtt.latest(), ms(200));
    assert_eq!(rtt.min(), ms(100));
}

#[test]
fn ack_delay_is_not_capped_before_the_handshake_is_confirmed() {
    let mut rtt = RttEstimator::new(ms(333));
    rtt.update(Duration::ZERO, ms(100), false, ms(25));
    // Adjusted 200 - 80 = 120 ms.
    rtt.update(ms(80), ms(200), false, ms(25));
    assert_eq!(rtt.smoothed(), Duration::from_micros(102_500));
}

// RFC 9002 §5.3 (test): the ack delay is not subtracted when the result would be below min_rtt.
#[test]
fn ack_delay_that_would_go_below_min_rtt_is_ignored() {
    let mut rtt = RttEstimator::new(ms(333));
    rtt.update(Duration::ZERO, ms(100), true, ms(25));
    // 110 ms - 20 ms = 90 ms < min_rtt 100 ms, so the sample is taken whole.
    rtt.update(ms(20), ms(110), true, ms(25));
    assert_eq!(rtt.smoothed(), Duration::from_micros(101_250));
}

// RFC 9002 §5.2 (test): min_rtt is the smallest sample, without ack delay.
#[test]
fn min_rtt_tracks_the_smallest_sample_without_ack_delay() {
    let mut rtt = RttEstimator::new(ms(333));
    rtt.update(Duration::ZERO, ms(100), true, ms(25));
    rtt.update(ms(10), ms(60), true, ms(25));
    assert_eq!(rtt.min(), ms(60));
    rtt.update(Duration::ZERO, ms(90), true, ms(25));
    assert_eq!(rtt.min(), ms(60));
    assert_eq!(rtt.latest(), ms(90));
}

// RFC 9002 §5.1 (test): an RTT sample needs the largest acknowledged packet newly acknowledged.
#[test]
fn rtt_is_sampled_only_when_the_largest_acked_is_newly_acked() {
    let mut h = Harness::new();
    h.send(0, SpaceId::Data, 0);
    h.send(0, SpaceId::Data, 1);
    let out = h
        .ack(100, SpaceId::Data, &[1..=1], ms(0), &confirmed())
        .unwrap();
    assert!(out.largest_newly_acked && out.rtt_sampled && out.newly_acked_ack_eliciting);
    assert_eq!(h.recovery.first_rtt_sample(), Some(at(100)));
    assert_eq!(h.recovery.rtt().smoothed(), ms(100));
    // Largest already acknowledged: no sample, though pn 0 is newly acknowledged.
    let out = h
        .ack(300, SpaceId::Data, &[0..=1], ms(0), &confirmed())
        .unwrap();
    assert!(!out.largest_newly_acked && !out.rtt_sampled);
    assert_eq!(h.acked_pns(), [0]);
    assert_eq!(h.recovery.rtt().latest(), ms(100));
}

// RFC 9002 §5.1 (test): an ACK of only non-ack-eliciting packets gives no RTT sample.
#[test]
fn rtt_is_not_sampled_from_packets_that_only_carry_acks() {
    let mut h = Harness::new();
    let packet = SentPacket {
        time_sent: at(0),
        size: 50,
        ack_eliciting: false,
        in_flight: false,
        data: 0,
    };
    h.recovery.on_packet_sent(at(0), SpaceId::Data, 0, packet);
    assert_eq!(h.recovery.bytes_in_flight(), 0);
    assert_eq!(h.recovery.loss_detection_timer(&confirmed()), None);
    let out = h
        .ack(100, SpaceId::Data, &[0..=0], ms(0), &confirmed())
        .unwrap();
    assert!(out.largest_newly_acked && !out.rtt_sampled && !out.newly_acked_ack_eliciting);
    assert!(!h.recovery.rtt().has_sample());
}

#[test]
fn ack_delay_of_initial_acks_is_ignored() {
    let mut h = Harness::new();
    h.send(0, SpaceId::Initial, 0);
    h.send(0, SpaceId::Initial, 1);
    h.ack(100, SpaceId::Initial, &[0..=0], ms(0), &server())
        .unwrap();
    h.send(100, SpaceId::Initial, 2);
    h.ack(300, SpaceId::Initial, &[2..=2], ms(50), &server())
        .unwrap();
    // 200 ms taken whole: 7/8 * 100 + 1/8 * 200.
    assert_eq!(h.recovery.rtt().smoothed(), Duration::from_micros(112_500));
}

// RFC 9002 §6.1.1 (test): a packet kPacketThreshold below an acknowledged one is lost.
#[test]
fn packets_three_below_the_largest_acked_are_lost() {
    let mut h = Harness::new();
    for pn in 0..5 {
        h.send(0, SpaceId::Data, pn);
    }
    assert_eq!(h.recovery.bytes_in_flight(), 5000);
    h.ack(10, SpaceId::Data, &[4..=4], ms(0), &confirmed())
        .unwrap();
    assert_eq!(h.acked_pns(), [4]);
    assert_eq!(h.lost_pns(), [0, 1]);
    assert!(h.lost.iter().all(|(space, _)| *space == SpaceId::Data));
    assert_eq!(h.recovery.bytes_in_flight(), 2000);
    let unacked: Vec<u64> = h
        .recovery
        .unacked(SpaceId::Data)
        .map(|(pn, _)| pn)
        .collect();
    assert_eq!(unacked, [2, 3]);
    assert_eq!(
        h.recovery.oldest_unacked(SpaceId::Data).map(|(pn, _)| pn),
        Some(2)
    );
}

// RFC 9002 §6.1.2 (test): an older packet is lost 9/8 of max(smoothed_rtt, latest_rtt)
// after it was sent, and the timer is set for that time.
#[test]
fn older_packets_are_lost_by_time_when_the_timer_fires() {
    let mut h = Harness::new();
    let path = confirmed();
    h.send(0, SpaceId::Data, 0);
    h.ack(100, SpaceId::Data, &[0..=0], ms(0), &path).unwrap();
    h.send(100, SpaceId::Data, 1);
    h.send(110, SpaceId::Data, 2);
    h.ack(210, SpaceId::Data, &[2..=2], ms(0), &path).unwrap();
    assert!(h.lost.is_empty());
    // Loss delay 9/8 * 100 ms after pn 1 was sent at 100 ms.
    let deadline = at(100) + Duration::from_micros(112_500);
    assert_eq!(h.recovery.loss_detection_timer(&path), Some(deadline));
    assert_eq!(h.timeout(212, &path), TimeoutOutcome::None);
    assert_eq!(h.recovery.pto_count(), 0);
    assert_eq!(
        h.recovery
            .on_loss_detection_timeout(deadline, &path, &mut h.lost),
        TimeoutOutcome::LossDetected
    );
    assert_eq!(h.lost_pns(), [1]);
    assert_eq!(h.recovery.bytes_in_flight(), 0);
    assert_eq!(h.recovery.pto_count(), 0);
    assert_eq!(h.recovery.loss_detection_timer(&path), None);
}

// RFC 9002 §6.1.2 (test): a later ACK declares a packet lost once the time threshold passed.
#[test]
fn a_later_ack_declares_an_old_packet_lost_by_time() {
    let mut h = Harness::new();
    let path = confirmed();
    h.send(0, SpaceId::Data, 0);
    h.ack(100, SpaceId::Data, &[0..=0], ms(0), &path).unwrap();
    h.send(100, SpaceId::Data, 1);
    h.send(200, SpaceId::Data, 2);
    h.ack(300, SpaceId::Data, &[2..=2], ms(0), &path).unwrap();
    assert_eq!(h.lost_pns(), [1]);
}

// RFC 9002 §6.2.1 (test): the PTO fires after smoothed_rtt + max(4 rttvar, kGranularity)
// and each expiry doubles it.
#[test]
fn pto_fires_after_its_period_and_doubles_each_time() {
    let mut h = Harness::new();
    let path = server();
    h.send(0, SpaceId::Initial, 0);
    // 333 ms + 4 * 166.5 ms.
    assert_eq!(h.recovery.pto_duration(&path), ms(999));
    assert_eq!(h.recovery.loss_detection_timer(&path), Some(at(999)));
    assert_eq!(h.timeout(998, &path), TimeoutOutcome::None);
    let probe = TimeoutOutcome::Probe {
        space: SpaceId::Initial,
        packets: 2,
    };
    assert_eq!(h.timeout(999, &path), probe);
    assert_eq!(h.recovery.pto_count(), 1);
    assert_eq!(h.recovery.loss_detection_timer(&path), Some(at(1998)));
    assert_eq!(h.timeout(1998, &path), probe);
    assert_eq!(h.recovery.pto_count(), 2);
    assert_eq!(h.recovery.loss_detection_timer(&path), Some(at(3996)));
    // The base PTO has no backoff.
    assert_eq!(h.recovery.pto_duration(&path), ms(999));
    // RFC 9002 §6.2.1 (test): an acknowledgment resets the backoff.
    h.send(3996, SpaceId::Initial, 1);
    h.ack(4096, SpaceId::Initial, &[1..=1], ms(0), &path)
        .unwrap();
    assert_eq!(h.recovery.pto_count(), 0);
}

#[test]
fn pto_probes_the_space_whose_deadline_is_earliest() {
    let mut h = Harness::new();
    let path = confirmed();
    h.send(0, SpaceId::Data, 0);
    h.send(10, SpaceId::Handshake, 0);
    h.send(20, SpaceId::Initial, 0);
    // Data: 999 + 25 ms; Handshake: 10 + 999 ms; Initial: 20 + 999 ms.
    assert_eq!(h.recovery.loss_detection_timer(&path), Some(at(1009)));
    assert_eq!(
        h.timeout(1009, &path),
        TimeoutOutcome::Probe {
            space: SpaceId::Handshake,
            packets: 2
        }
    );
}

// RFC 9002 §6.2.1 (test): the Application Data PTO is not armed before confirmation, and
// includes max_ack_delay after.
#[test]
fn data_space_pto_waits_for_handshake_confirmation() {
    let mut h = Harness::new();
    h.send(0, SpaceId::Data, 0);
    assert_eq!(h.recovery.loss_detection_timer(&server()), None);
    assert_eq!(h.timeout(5000, &server()), TimeoutOutcome::None);
    assert_eq!(
        h.recovery.loss_detection_timer(&confirmed()),
        Some(at(1024))
    );
    assert_eq!(h.recovery.pto_duration(&confirmed()), ms(1024));
    assert_eq!(
        h.timeout(1024, &confirmed()),
        TimeoutOutcome::Probe {
            space: SpaceId::Data,
            packets: 2
        }
    );
    // Backoff doubles max_ack_delay too.
    assert_eq!(
        h.recovery.loss_detection_timer(&confirmed()),
        Some(at(2048))
    );
}

// RFC 9002 §6.2.2.1 (test): a client not yet validated arms the PTO with nothing in flight,
// and probes with one packet.
#[test]
fn unvalidated_client_arms_the_anti_deadlock_pto_with_nothing_in_flight() {
    let mut h = Harness::new();
    let path = client();
    assert_eq!(h.recovery.loss_detection_timer(&path), None);
    h.send(0, SpaceId::Initial, 0);
    h.ack(100, SpaceId::Initial, &[0..=0], ms(0), &path)
        .unwrap();
    assert!(!h.recovery.ack_eliciting_in_flight(SpaceId::Initial));
    // From the ACK: 100 ms + 4 * 50 ms.
    assert_eq!(h.recovery.loss_detection_timer(&path), Some(at(400)));
    assert_eq!(
        h.timeout(400, &path),
        TimeoutOutcome::Probe {
            space: SpaceId::Initial,
            packets: 1
        }
    );
    // With Handshake keys the probe is a Handshake packet, after a doubled period.
    let path = PathState {
        has_handshake_keys: true,
        ..path
    };
    assert_eq!(h.recovery.loss_detection_timer(&path), Some(at(1000)));
    assert_eq!(
        h.timeout(1000, &path),
        TimeoutOutcome::Probe {
            space: SpaceId::Handshake,
            packets: 1
        }
    );
    // Once validated, nothing in flight means no timer.
    let validated = PathState {
        peer_completed_address_validation: true,
        ..path
    };
    assert_eq!(h.recovery.loss_detection_timer(&validated), None);
}

#[test]
fn a_handshake_ack_tells_the_client_its_address_is_validated() {
    let mut h = Harness::new();
    let path = PathState {
        has_handshake_keys: true,
        ..client()
    };
    h.send(0, SpaceId::Handshake, 0);
    h.ack(100, SpaceId::Handshake, &[0..=0], ms(0), &path)
        .unwrap();
    assert_eq!(h.recovery.loss_detection_timer(&path), None);
}

// RFC 9002 §6.2.1 (test): the backoff is not reset by an ACK while the client is not sure
// the server validated its address.
#[test]
fn initial_ack_does_not_reset_an_unvalidated_clients_backoff() {
    let mut h = Harness::new();
    let path = client();
    h.send(0, SpaceId::Initial, 0);
    h.send(0, SpaceId::Initial, 1);
    assert!(matches!(
        h.timeout(999, &path),
        TimeoutOutcome::Probe { .. }
    ));
    assert_eq!(h.recovery.pto_count(), 1);
    h.ack(1100, SpaceId::Initial, &[1..=1], ms(0), &path)
        .unwrap();
    assert_eq!(h.recovery.pto_count(), 1);
    h.send(1100, SpaceId::Handshake, 0);
    h.ack(1200, SpaceId::Handshake, &[0..=0], ms(0), &path)
        .unwrap();
    assert_eq!(h.recovery.pto_count(), 0);
}

// RFC 9002 §6.2.2.1 (test): a server blocked by the anti-amplification limit does not arm the PTO.
#[test]
fn server_blocked_by_amplification_does_not_arm_the_pto() {
    let mut h = Harness::new();
    let blocked = PathState {
        amplification_blocked: true,
        ..server()
    };
    h.send(0, SpaceId::Initial, 0);
    assert_eq!(h.recovery.loss_detection_timer(&blocked), None);
    assert_eq!(h.timeout(5000, &blocked), TimeoutOutcome::None);
    assert_eq!(h.recovery.pto_count(), 0);
    // Unblocked, the deadline is already past and the PTO fires at once.
    assert_eq!(h.recovery.loss_detection_timer(&server()), Some(at(999)));
    assert!(matches!(
        h.timeout(5000, &server()),
        TimeoutOutcome::Probe { .. }
    ));
}

// RFC 9000 §13.1 (test): acknowledging a packet number never sent is PROTOCOL_VIOLATION.
#[test]
fn ack_of_a_packet_never_sent_is_a_protocol_violation() {
    let mut h = Harness::new();
    let err = h
        .ack(0, SpaceId::Handshake, &[0..=0], ms(0), &server())
        .unwrap_err();
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    for pn in 0..3 {
        h.send(0, SpaceId::Handshake, pn);
    }
    let err = h
        .ack(10, SpaceId::Handshake, &[0..=3], ms(0), &server())
        .unwrap_err();
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert!(h.acked.is_empty());
    assert_eq!(h.recovery.largest_acked(SpaceId::Handshake), None);
    assert_eq!(h.recovery.bytes_in_flight(), 3000);
    assert_eq!(h.recovery.largest_sent(SpaceId::Handshake), Some(2));
}

#[test]
fn ack_range_of_two_to_the_62_packets_costs_only_the_packets_tracked() {
    let top = (1_u64 << 62) - 1;
    let mut h = Harness::new();
    for pn in top - 4..=top {
        h.send(0, SpaceId::Data, pn);
    }
    h.ack(10, SpaceId::Data, &[0..=top], ms(0), &confirmed())
        .unwrap();
    assert_eq!(h.acked_pns(), [top, top - 1, top - 2, top - 3, top - 4]);
    assert_eq!(h.recovery.bytes_in_flight(), 0);

    let mut h = Harness::new();
    for pn in top - 4..=top {
        h.send(0, SpaceId::Data, pn);
    }
    h.ack(
        10,
        SpaceId::Data,
        &[top..=top, 0..=top - 2],
        ms(0),
        &confirmed(),
    )
    .unwrap();
    assert_eq!(h.acked_pns(), [top, top - 2, top - 3, top - 4]);
    assert!(h.lost.is_empty());
    assert_eq!(h.recovery.bytes_in_flight(), 1000);
}

#[test]
fn empty_ack_ranges_change_nothing() {
    let mut h = Harness::new();
    h.send(0, SpaceId::Data, 0);
    let out = h.ack(10, SpaceId::Data, &[], ms(0), &confirmed()).unwrap();
    assert_eq!(out, AckOutcome::default());
    assert_eq!(h.recovery.bytes_in_flight(), 1000);
}

// RFC 9002 §6.4 (test): discarding a space's keys removes its packets from bytes in flight.
#[test]
fn discarding_a_space_removes_its_bytes_in_flight() {
    let mut h = Harness::new();
    let path = server();
    h.send(0, SpaceId::Initial, 0);
    h.send(0, SpaceId::Initial, 1);
    h.send(10, SpaceId::Handshake, 0);
    assert!(matches!(
        h.timeout(999, &path),
        TimeoutOutcome::Probe { .. }
    ));
    let mut discarded = Vec::new();
    h.recovery.discard_space(SpaceId::Initial, &mut discarded);
    assert_eq!(discarded, [0, 1]);
    assert_eq!(h.recovery.bytes_in_flight(), 1000);
    assert!(!h.recovery.ack_eliciting_in_flight(SpaceId::Initial));
    assert_eq!(h.recovery.unacked(SpaceId::Initial).count(), 0);
    // RFC 9002 §6.2.1 (test): discarding keys resets the PTO backoff.
    assert_eq!(h.recovery.pto_count(), 0);
    assert_eq!(h.recovery.loss_detection_timer(&path), Some(at(1009)));
}

#[test]
fn skipped_packet_numbers_are_never_acknowledged() {
    let mut h = Harness::new();
    h.send(0, SpaceId::Data, 0);
    h.send(0, SpaceId::Data, 2);
    h.ack(10, SpaceId::Data, &[0..=2], ms(0), &confirmed())
        .unwrap();
    assert_eq!(h.acked_pns(), [2, 0]);
    assert_eq!(h.recovery.largest_acked(SpaceId::Data), Some(2));
}

#[test]
fn unacked_data_can_be_changed_in_place() {
    let mut h = Harness::new();
    h.send(0, SpaceId::Data, 0);
    h.send(0, SpaceId::Data, 1);
    for (pn, data) in h.recovery.unacked_data_mut(SpaceId::Data) {
        *data = pn + 100;
    }
    h.ack(10, SpaceId::Data, &[0..=1], ms(0), &confirmed())
        .unwrap();
    assert_eq!(h.acked_pns(), [101, 100]);
}

#[test]
fn shrinking_the_buffers_keeps_every_packet_tracked() {
    let mut h = Harness::new();
    for pn in 0..6 {
        h.send(0, SpaceId::Data, pn);
    }
    h.ack(10, SpaceId::Data, &[0..=3], ms(0), &confirmed())
        .unwrap();
    h.recovery.shrink_to_fit();
    let unacked: Vec<u64> = h
        .recovery
        .unacked(SpaceId::Data)
        .map(|(pn, _)| pn)
        .collect();
    assert_eq!(unacked, [4, 5]);
    assert!(h.recovery.any_ack_eliciting_in_flight());
    h.send(20, SpaceId::Data, 6);
    h.ack(30, SpaceId::Data, &[4..=6], ms(0), &confirmed())
        .unwrap();
    assert_eq!(h.acked_pns(), [6, 5, 4]);
    assert!(!h.recovery.any_ack_eliciting_in_flight());
    assert_eq!(h.recovery.bytes_in_flight(), 0);
}

/// One step of the random walk in the proptest.
#[derive(Debug, Clone)]
enum Op {
    Send {
        space: usize,
        size: u16,
        ack_eliciting: bool,
        in_flight: bool,
        skip: u8,
    },
    /// Acknowledges from `largest_offset` below one above the largest sent,
    /// then (gap, length) pairs.
    Ack {
        space: usize,
        largest_offset: u64,
        ranges: Vec<(u64, u64)>,
        ack_delay: u64,
    },
    Timeout,
    Discard {
        space: usize,
    },
    Wait {
        millis: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3_usize, 0..1500_u16, any::<bool>(), any::<bool>(), prop_oneof![9 => Just(0_u8), 1 => 1..3_u8])
            .prop_map(|(space, size, ack_eliciting, in_flight, skip)| Op::Send {
                space,
                size,
                ack_eliciting,
                in_flight: in_flight || ack_eliciting,
                skip,
            }),
        3 => (0..3_usize, 0..6_u64, vec((0..4_u64, 0..4_u64), 0..4), 0..50_u64).prop_map(
            |(space, largest_offset, ranges, ack_delay)| Op::Ack {
                space,
                largest_offset,
                ranges,
                ack_delay,
            }
        ),
        1 => Just(Op::Timeout),
        1 => (0..2_usize).prop_map(|space| Op::Discard { space }),
        3 => (0..400_u64).prop_map(|millis| Op::Wait { millis }),
    ]
}

/// Descending, disjoint ranges from `largest` down: each pair is the gap
/// below the previous range and the length of the next one.
fn build_ranges(largest: u64, pairs: &[(u64, u64)]) -> Vec<RangeInclusive<u64>> {
    let mut out = Vec::new();
    let mut top = Some(largest);
    let mut len = 0;
    for &(gap, next_len) in pairs.iter().chain(std::iter::once(&(0, 0))) {
        let Some(end) = top else {
            break;
        };
        let start = end.saturating_sub(len);
        out.push(start..=end);
        top = start.checked_sub(gap + 2);
        len = next_len;
    }
    out
}

fn check_invariants(recovery: &Recovery<u64>) {
    let mut expected = 0;
    for space in SPACES {
        let mut eliciting = false;
        for (_, packet) in recovery.unacked(space) {
            expected += packet.bytes_in_flight();
            eliciting |= packet.ack_eliciting_in_flight();
        }
        assert_eq!(recovery.ack_eliciting_in_flight(space), eliciting);
    }
    assert_eq!(recovery.bytes_in_flight(), expected);
}

proptest! {
    #[test]
    fn bytes_in_flight_always_match_the_unacked_packets(ops in vec(op(), 1..120), client_side in any::<bool>()) {
        let mut recovery = Recovery::new(RecoveryConfig::default());
        let mut now = epoch();
        let mut next_pn = [0_u64; 3];
        let mut sent = 0_usize;
        let (mut acked, mut lost, mut discarded) = (Vec::new(), Vec::new(), Vec::new());
        let mut path = if client_side { client() } else { server() };
        for op in ops {
            match op {
                Op::Send { space, size, ack_eliciting, in_flight, skip } => {
                    let pn = next_pn[space] + u64::from(skip);
                    next_pn[space] = pn + 1;
                    let packet = SentPacket { time_sent: now, size, ack_eliciting, in_flight, data: pn };
                    recovery.on_packet_sent(now, SPACES[space], pn, packet);
                    sent += 1;
                }
                Op::Ack { space, largest_offset, ranges, ack_delay } => {
                    let largest = next_pn[space].saturating_sub(largest_offset);
                    let ranges = build_ranges(largest, &ranges);
                    let result = recovery.on_ack_received(
                        now, SPACES[space], ranges, ms(ack_delay), &path, &mut acked, &mut lost,
                    );
                    if next_pn[space] == 0 || largest >= next_pn[space] {
                        prop_assert!(result.is_err());
                    }
                    if space == 2 && result.is_ok() {
                        path.handshake_confirmed = true;
                    }
                }
                Op::Timeout => {
                    if let Some(deadline) = recovery.loss_detection_timer(&path) {
                        now = now.max(deadline);
                        let _ = recovery.on_loss_detection_timeout(now, &path, &mut lost);
                    }
                }
                Op::Discard { space } => recovery.discard_space(SPACES[space], &mut discarded),
                Op::Wait { millis } => now += ms(millis),
            }
            check_invariants(&recovery);
            let gone = acked.len() + lost.len() + discarded.len();
            let unacked: usize = SPACES.iter().map(|&s| recovery.unacked(s).count()).sum();
            prop_assert_eq!(sent, gone + unacked);
        }
    }
}
