use super::*;

fn counts(ect0: u32, ect1: u32, ce: u32) -> Option<EcnCounts> {
    Some(EcnCounts {
        ect0: VarInt::from_u32(ect0),
        ect1: VarInt::from_u32(ect1),
        ce: VarInt::from_u32(ce),
    })
}

/// Sends `n` packets in the Data space from packet number `first`, marked
/// with whatever the state asks for.
fn send(ecn: &mut EcnState, first: u64, n: u64) {
    for pn in first..first + n {
        let marked = ecn.codepoint();
        ecn.on_packet_sent(SpaceId::Data, pn, marked);
    }
}

#[test]
fn a_new_path_marks_ect0_while_testing() {
    let ecn = EcnState::new(true);
    assert_eq!(ecn.codepoint(), Some(EcnCodepoint::Ect0));
    assert!(!ecn.is_capable());
    assert!(!ecn.has_failed());
}

#[test]
fn a_disabled_path_never_marks() {
    let mut ecn = EcnState::new(false);
    assert_eq!(ecn.codepoint(), None);
    send(&mut ecn, 0, 3);
    let outcome = ecn.on_ack(SpaceId::Data, 2, 0, counts(0, 0, 5));
    assert_eq!(outcome.ce_increase, 0);
    assert!(!ecn.has_failed());
    assert_eq!(ecn.codepoint(), None);
}

#[test]
fn marking_stops_after_the_testing_packets_until_validated() {
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, TESTING_PACKETS);
    assert_eq!(ecn.codepoint(), None);
    assert!(!ecn.is_capable());
    // Unmarked packets sent meanwhile do not count.
    send(&mut ecn, TESTING_PACKETS, 5);
    assert_eq!(ecn.codepoint(), None);
}

#[test]
fn a_path_that_echoes_counts_correctly_becomes_capable() {
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 4);
    let outcome = ecn.on_ack(SpaceId::Data, 3, 4, counts(4, 0, 0));
    assert_eq!(outcome.ce_increase, 0);
    assert!(ecn.is_capable());
    assert_eq!(ecn.codepoint(), Some(EcnCodepoint::Ect0));
    // Marking goes on past the testing period once capable.
    send(&mut ecn, 4, 2 * TESTING_PACKETS);
    assert_eq!(ecn.codepoint(), Some(EcnCodepoint::Ect0));
}

#[test]
fn a_path_awaiting_validation_becomes_capable_on_a_valid_ack() {
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, TESTING_PACKETS);
    assert_eq!(ecn.codepoint(), None);
    let _ = ecn.on_ack(SpaceId::Data, 9, 10, counts(10, 0, 0));
    assert!(ecn.is_capable());
    assert_eq!(ecn.codepoint(), Some(EcnCodepoint::Ect0));
}

#[test]
fn counts_larger_than_the_newly_acked_packets_pass() {
    // RFC 9000 §13.4.2.1 (test): lost ACK frames let counts grow by more than
    // the packets one frame newly acknowledges.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 6);
    let _ = ecn.on_ack(SpaceId::Data, 5, 2, counts(6, 0, 0));
    assert!(ecn.is_capable());
}

#[test]
fn counts_that_decrease_fail_validation() {
    // RFC 9000 §13.4.2.1 (test): counts are cumulative and never decrease.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 6);
    let _ = ecn.on_ack(SpaceId::Data, 2, 3, counts(3, 0, 0));
    assert!(ecn.is_capable());
    let _ = ecn.on_ack(SpaceId::Data, 5, 3, counts(2, 0, 0));
    assert!(ecn.has_failed());
    assert_eq!(ecn.codepoint(), None);
}

#[test]
fn counts_that_fall_short_of_the_newly_acked_marked_packets_fail_validation() {
    // RFC 9000 §13.4.2.1 (test): ECT(0) plus CE must grow by at least the
    // newly acknowledged ECT(0) packets.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 4);
    let _ = ecn.on_ack(SpaceId::Data, 3, 4, counts(2, 0, 1));
    assert!(ecn.has_failed());
    assert_eq!(ecn.codepoint(), None);
}

#[test]
fn missing_counts_for_marked_packets_fail_validation() {
    // RFC 9000 §13.4.2.1 (test): an ACK frame without ECN counts that newly
    // acknowledges marked packets fails validation.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 2);
    let _ = ecn.on_ack(SpaceId::Data, 1, 2, None);
    assert!(ecn.has_failed());
}

#[test]
fn an_ack_without_counts_for_unmarked_packets_changes_nothing() {
    let mut ecn = EcnState::new(true);
    ecn.on_packet_sent(SpaceId::Data, 0, None);
    let _ = ecn.on_ack(SpaceId::Data, 0, 0, None);
    assert!(!ecn.has_failed());
    assert_eq!(ecn.codepoint(), Some(EcnCodepoint::Ect0));
}

#[test]
fn a_path_that_bleaches_marks_fails_and_stops_marking() {
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, TESTING_PACKETS);
    // The network zeroed the ECN field, so the peer sends plain ACK frames.
    let _ = ecn.on_ack(SpaceId::Data, 4, 5, None);
    assert!(ecn.has_failed());
    assert!(!ecn.is_capable());
    assert_eq!(ecn.codepoint(), None);
}

#[test]
fn ect1_echoes_we_never_sent_fail_validation() {
    // RFC 9000 §13.4.2.1 (test): a count for a codepoint we never applied
    // fails validation.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 3);
    let _ = ecn.on_ack(SpaceId::Data, 2, 3, counts(3, 1, 0));
    assert!(ecn.has_failed());
}

#[test]
fn ect0_echoes_beyond_the_packets_sent_fail_validation() {
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 3);
    let _ = ecn.on_ack(SpaceId::Data, 2, 3, counts(7, 0, 0));
    assert!(ecn.has_failed());
}

#[test]
fn ce_increases_are_reported() {
    // RFC 9002 §7.1 (test): a growing CE count is reported as congestion.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 8);
    let first = ecn.on_ack(SpaceId::Data, 3, 4, counts(3, 0, 1));
    assert_eq!(first.ce_increase, 1);
    assert!(ecn.is_capable());
    let second = ecn.on_ack(SpaceId::Data, 7, 4, counts(4, 0, 4));
    assert_eq!(second.ce_increase, 3);
    let unchanged = ecn.on_ack(SpaceId::Data, 8, 0, counts(4, 0, 4));
    assert_eq!(unchanged.ce_increase, 0);
    assert!(ecn.is_capable());
}

#[test]
fn a_reordered_ack_does_not_fail_validation() {
    // RFC 9000 §13.4.2.1 (test): an ACK frame that does not raise the largest
    // acknowledged packet number never fails validation.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 6);
    let _ = ecn.on_ack(SpaceId::Data, 5, 6, counts(6, 0, 0));
    let late = ecn.on_ack(SpaceId::Data, 2, 1, counts(2, 0, 0));
    assert_eq!(late.ce_increase, 0);
    assert!(ecn.is_capable());
}

#[test]
fn validation_is_kept_per_packet_number_space() {
    let mut ecn = EcnState::new(true);
    ecn.on_packet_sent(SpaceId::Initial, 0, Some(EcnCodepoint::Ect0));
    ecn.on_packet_sent(SpaceId::Handshake, 0, Some(EcnCodepoint::Ect0));
    let _ = ecn.on_ack(SpaceId::Initial, 0, 1, counts(1, 0, 0));
    assert!(ecn.is_capable());
    // Handshake's counts are checked against Handshake's own marked packets.
    let _ = ecn.on_ack(SpaceId::Handshake, 0, 1, counts(1, 0, 0));
    assert!(ecn.is_capable());
    let _ = ecn.on_ack(SpaceId::Handshake, 1, 0, counts(2, 0, 0));
    assert!(ecn.has_failed());
}

#[test]
fn a_capable_path_that_later_fails_validation_stops_marking() {
    // RFC 9000 §13.4.2.2 (test): ECN is disabled when validation later fails.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 3);
    let _ = ecn.on_ack(SpaceId::Data, 2, 3, counts(3, 0, 0));
    assert!(ecn.is_capable());
    send(&mut ecn, 3, 3);
    let _ = ecn.on_ack(SpaceId::Data, 5, 3, None);
    assert!(ecn.has_failed());
    assert_eq!(ecn.codepoint(), None);
    // Counts are no longer trusted once failed.
    let outcome = ecn.on_ack(SpaceId::Data, 6, 0, counts(6, 0, 0));
    assert_eq!(outcome.ce_increase, 0);
}

#[test]
fn all_marked_packets_lost_during_testing_fails() {
    // RFC 9000 §13.4.2 (test): losing every marked packet fails validation.
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, TESTING_PACKETS);
    ecn.on_packets_lost(SpaceId::Data, 4);
    assert!(!ecn.has_failed());
    ecn.on_packets_lost(SpaceId::Data, TESTING_PACKETS - 4);
    assert!(ecn.has_failed());
    assert_eq!(ecn.codepoint(), None);
}

#[test]
fn some_marked_packets_lost_during_testing_do_not_fail() {
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, TESTING_PACKETS);
    ecn.on_packets_lost(SpaceId::Data, TESTING_PACKETS - 1);
    let _ = ecn.on_ack(SpaceId::Data, 9, 1, counts(1, 0, 0));
    assert!(ecn.is_capable());
    // Losses after validation are congestion, not a verdict on ECN.
    ecn.on_packets_lost(SpaceId::Data, 50);
    assert!(ecn.is_capable());
}

#[test]
fn ack_counts_reflect_received_codepoints_per_space() {
    let mut ecn = EcnState::new(true);
    assert_eq!(ecn.ack_counts(SpaceId::Data), None);
    ecn.on_packet_received(SpaceId::Data, Some(EcnCodepoint::Ect0));
    ecn.on_packet_received(SpaceId::Data, Some(EcnCodepoint::Ect0));
    ecn.on_packet_received(SpaceId::Data, Some(EcnCodepoint::Ce));
    ecn.on_packet_received(SpaceId::Data, None);
    ecn.on_packet_received(SpaceId::Handshake, Some(EcnCodepoint::Ect1));
    ecn.on_packet_received(SpaceId::Initial, None);
    assert_eq!(ecn.ack_counts(SpaceId::Data), counts(2, 0, 1));
    assert_eq!(ecn.ack_counts(SpaceId::Handshake), counts(0, 1, 0));
    assert_eq!(ecn.ack_counts(SpaceId::Initial), None);
}

#[test]
fn ack_counts_are_kept_when_our_own_marking_failed() {
    let mut ecn = EcnState::new(true);
    send(&mut ecn, 0, 1);
    let _ = ecn.on_ack(SpaceId::Data, 0, 1, None);
    assert!(ecn.has_failed());
    ecn.on_packet_received(SpaceId::Data, Some(EcnCodepoint::Ect0));
    assert_eq!(ecn.ack_counts(SpaceId::Data), counts(1, 0, 0));
}
