use super::*;
use crate::{Frame, Frames, TransportErrorCode};

fn cid(byte: u8) -> ConnectionId {
    ConnectionId::new(&[byte; 8]).unwrap()
}

fn new_cid(sequence: u64, retire_prior_to: u64) -> NewConnectionId {
    NewConnectionId {
        sequence: VarInt::from_u64_bounded(sequence),
        retire_prior_to: VarInt::from_u64_bounded(retire_prior_to),
        id: cid(0x10 + u8::try_from(sequence % 200).unwrap()),
        reset_token: [u8::try_from(sequence % 200).unwrap(); 16],
    }
}

/// A table whose handshake ID is `cid(1)`, holding at most `limit`.
fn table(limit: u8) -> RemoteCids {
    let mut cids = RemoteCids::new(cid(1), limit);
    cids.set_handshake_id(cid(1), Some([0xaa; 16]));
    cids
}

fn sequences(cids: &RemoteCids) -> Vec<u64> {
    cids.active.iter().map(|c| c.sequence).collect()
}

/// Writes the retirements due and returns their sequence numbers, as the
/// frames decode.
fn send_retirements(cids: &mut RemoteCids) -> Vec<u64> {
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    cids.write_retirements(&mut buf, 1200, &mut sent);
    if buf.is_empty() {
        assert!(sent.is_empty());
        return sent;
    }
    let decoded: Vec<u64> = Frames::new(buf.into(), crate::EncryptionLevel::OneRtt)
        .map(|f| match f.unwrap() {
            Frame::RetireConnectionId(seq) => seq.into_inner(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(decoded, sent);
    decoded
}

#[test]
fn new_ids_are_stored_in_sequence_order_up_to_the_limit() {
    let mut cids = table(4);
    for seq in [2, 1, 3] {
        assert_eq!(cids.on_new_cid(&new_cid(seq, 0)), Ok(Change::None));
    }
    assert_eq!(sequences(&cids), [0, 1, 2, 3]);
    assert_eq!(cids.in_use().unwrap().id, cid(1));
    assert_eq!(cids.reset_token(), Some([0xaa; 16]));
    assert_eq!(
        cids.unused().map(|c| c.sequence).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

// RFC 9000 §5.1.1 (test): more active IDs than our limit is
// CONNECTION_ID_LIMIT_ERROR.
#[test]
fn one_id_over_the_limit_is_connection_id_limit_error() {
    let mut cids = table(2);
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    let error = cids.on_new_cid(&new_cid(2, 0)).unwrap_err();
    assert_eq!(error.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
    assert_eq!(error.frame_type, Some(FrameType::NEW_CONNECTION_ID));
}

#[test]
fn a_limit_below_two_is_raised_to_the_rfc_minimum() {
    let mut cids = table(0);
    assert_eq!(cids.on_new_cid(&new_cid(1, 0)), Ok(Change::None));
    assert!(cids.on_new_cid(&new_cid(2, 0)).is_err());
}

// RFC 9000 §5.1.2 (test): Retire Prior To retires every lower ID, the one
// in use included, and the next unretired one takes its place.
#[test]
fn retire_prior_to_retires_lower_ids_and_switches_the_one_in_use() {
    let mut cids = table(4);
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    let change = cids.on_new_cid(&new_cid(2, 2)).unwrap();
    let Change::Switched(next) = change else {
        panic!("the id in use was retired: {change:?}");
    };
    assert_eq!(next.sequence, 2);
    assert_eq!(next.id, cid(0x12));
    assert_eq!(cids.in_use().unwrap().sequence, 2);
    assert_eq!(cids.reset_token(), Some([2; 16]), "the new id's token");
    assert_eq!(sequences(&cids), [2]);
    assert_eq!(send_retirements(&mut cids), [0, 1]);
    assert!(!cids.has_retirements_to_send());
}

// RFC 9000 §5.1.1 (test): a frame may exceed the limit when its own Retire
// Prior To makes room.
#[test]
fn retirements_asked_by_the_same_frame_make_room_under_the_limit() {
    let mut cids = table(2);
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    assert!(matches!(
        cids.on_new_cid(&new_cid(2, 1)),
        Ok(Change::Switched(_))
    ));
    assert_eq!(sequences(&cids), [1, 2]);
}

#[test]
fn retiring_an_id_not_in_use_keeps_the_one_in_use() {
    let mut cids = table(4);
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    cids.on_new_cid(&new_cid(2, 0)).unwrap();
    let change = cids.on_new_cid(&new_cid(3, 2));
    // Sequence 0 is in use, and below 2: the switch goes to 2.
    assert!(matches!(change, Ok(Change::Switched(c)) if c.sequence == 2));
    assert_eq!(send_retirements(&mut cids), [0, 1]);
}

// RFC 9000 §13.3 (test): a lost RETIRE_CONNECTION_ID is sent again; an
// acknowledged one is forgotten.
#[test]
fn lost_retirements_are_sent_again_and_acknowledged_ones_forgotten() {
    let mut cids = table(4);
    cids.on_new_cid(&new_cid(1, 1)).unwrap();
    assert_eq!(send_retirements(&mut cids), [0]);
    assert!(send_retirements(&mut cids).is_empty(), "in flight");
    cids.on_retirements_lost(&[0]);
    assert_eq!(send_retirements(&mut cids), [0], "sent again");
    cids.on_retirements_acked(&[0]);
    assert!(cids.retiring.is_empty());
    cids.on_retirements_lost(&[0]);
    assert!(!cids.has_retirements_to_send(), "done once acknowledged");
}

// RFC 9000 §19.15 (test): an ID below a Retire Prior To already received
// is retired at once, and not stored.
#[test]
fn an_id_below_retire_prior_to_already_received_is_retired_at_once() {
    let mut cids = table(4);
    cids.on_new_cid(&new_cid(5, 5)).unwrap();
    assert_eq!(send_retirements(&mut cids), [0]);
    assert_eq!(cids.on_new_cid(&new_cid(3, 0)), Ok(Change::None));
    assert_eq!(sequences(&cids), [5]);
    assert_eq!(send_retirements(&mut cids), [3]);
    // Once more while its retirement is in flight: no second one.
    cids.on_new_cid(&new_cid(3, 0)).unwrap();
    assert!(send_retirements(&mut cids).is_empty());
}

#[test]
fn a_repeated_frame_is_ignored() {
    let mut cids = table(2);
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    assert_eq!(cids.on_new_cid(&new_cid(1, 0)), Ok(Change::None));
    assert_eq!(sequences(&cids), [0, 1]);
}

// RFC 9000 §19.15 (test): a sequence number reused for another ID, an ID
// reused with another sequence number, or a changed token is
// PROTOCOL_VIOLATION.
#[test]
fn contradicting_an_earlier_id_is_protocol_violation() {
    let mut cids = table(4);
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    let other_id = NewConnectionId {
        id: cid(0x77),
        ..new_cid(1, 0)
    };
    let other_sequence = NewConnectionId {
        sequence: VarInt::from_u32(2),
        ..new_cid(1, 0)
    };
    let other_token = NewConnectionId {
        reset_token: [0x55; 16],
        ..new_cid(1, 0)
    };
    let handshake_id_again = NewConnectionId {
        sequence: VarInt::from_u32(3),
        id: cid(1),
        ..new_cid(3, 0)
    };
    for frame in [other_id, other_sequence, other_token, handshake_id_again] {
        let error = cids.clone().on_new_cid(&frame).unwrap_err();
        assert_eq!(
            error.code,
            TransportErrorCode::PROTOCOL_VIOLATION,
            "{frame:?}"
        );
    }
}

// RFC 9000 §19.15 (test): NEW_CONNECTION_ID to an endpoint that sends
// packets with a zero-length DCID is PROTOCOL_VIOLATION.
#[test]
fn new_id_for_a_zero_length_peer_id_is_protocol_violation() {
    let mut cids = RemoteCids::new(ConnectionId::EMPTY, 4);
    let error = cids.on_new_cid(&new_cid(1, 0)).unwrap_err();
    assert_eq!(error.code, TransportErrorCode::PROTOCOL_VIOLATION);
}

// RFC 9000 §5.1.2 (test): retirements awaiting acknowledgement are bounded
// (twice the limit); beyond, CONNECTION_ID_LIMIT_ERROR.
#[test]
fn unacknowledged_retirements_are_bounded() {
    let mut cids = table(2);
    cids.on_new_cid(&new_cid(100, 100)).unwrap();
    // Sequence 0 is retiring; three more fit under twice the limit.
    for seq in 1..4 {
        cids.on_new_cid(&new_cid(seq, 0)).unwrap();
    }
    let error = cids.on_new_cid(&new_cid(4, 0)).unwrap_err();
    assert_eq!(error.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
    assert_eq!(cids.retiring.len(), 4);
    let held = cids.heap_bytes();
    assert!(held <= 2 * size_of::<RemoteCid>() + 8 * size_of::<Retirement>() + 64);
}

#[test]
fn a_huge_retire_prior_to_costs_no_more_than_the_ids_held() {
    let max = VarInt::MAX.into_inner();
    let mut cids = table(4);
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    assert!(matches!(
        cids.on_new_cid(&new_cid(max, max)),
        Ok(Change::Switched(c)) if c.sequence == max
    ));
    assert_eq!(send_retirements(&mut cids), [0, 1]);
}

const PEER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4433);
const ELSEWHERE: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5544);

// RFC 9000 §8.2.2 (test): each challenge is echoed; a flood keeps only the
// latest few.
#[test]
fn path_responses_echo_the_latest_challenges_and_stay_bounded() {
    let mut responses = PathResponses::new(2);
    for i in 0..100u8 {
        responses.on_challenge([i; 8], PEER, None, 1200);
    }
    assert_eq!(responses.len(), 2);
    assert!(
        responses.heap_bytes() <= 4 * std::mem::size_of::<super::OwedResponse>(),
        "a few responses at most"
    );
    let mut buf = Vec::new();
    assert!(responses.write_for(&mut buf, 1200, PEER, None));
    let frames: Vec<Frame> = Frames::new(buf.into(), crate::EncryptionLevel::OneRtt)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        frames,
        [Frame::PathResponse([98; 8]), Frame::PathResponse([99; 8])]
    );
    assert!(!responses.has_pending_for(PEER, None), "never sent twice");
}

#[test]
fn path_responses_that_do_not_fit_wait() {
    let mut responses = PathResponses::new(4);
    responses.on_challenge([1; 8], PEER, None, 1200);
    responses.on_challenge([2; 8], PEER, None, 1200);
    let mut buf = Vec::new();
    assert!(responses.write_for(&mut buf, 10, PEER, None));
    assert_eq!(buf.len(), 9);
    assert_eq!(responses.len(), 1);
}

// RFC 9000 §9.5 (test): a new path takes the lowest unused ID, and the one
// it leaves is retired, never to be used again.
#[test]
fn switching_to_an_unused_id_takes_the_lowest_and_retires_the_old() {
    let mut cids = table(4);
    for seq in [3, 2] {
        cids.on_new_cid(&new_cid(seq, 0)).unwrap();
    }
    let next = cids.switch_to_unused().expect("an unused id");
    assert_eq!((next.sequence, next.id), (2, cid(0x12)));
    assert_eq!(cids.in_use(), Some(&next));
    assert_eq!(cids.reset_token(), Some([2; 16]), "the new id's token");
    assert_eq!(sequences(&cids), [2, 3], "the old id is gone");
    assert_eq!(send_retirements(&mut cids), [0]);
    // A NEW_CONNECTION_ID overtaken by a higher one is unused all the same.
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    assert_eq!(
        cids.unused().map(|c| c.sequence).collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(cids.switch_to_unused().map(|c| c.sequence), Some(1));
    assert_eq!(cids.switch_to_unused().map(|c| c.sequence), Some(3));
    assert_eq!(send_retirements(&mut cids), [2, 1]);
    assert_eq!(sequences(&cids), [3]);
    assert_eq!(cids.switch_to_unused(), None);
}

#[test]
fn switching_with_no_unused_id_changes_nothing() {
    let mut cids = table(4);
    assert_eq!(cids.switch_to_unused(), None);
    assert_eq!(cids.in_use().map(|c| c.sequence), Some(0));
    assert!(!cids.has_retirements_to_send());
}

// RFC 9000 §5.1.2 (test): our own switches wait while twice our limit of
// retirements await acknowledgement, rather than hold more.
#[test]
fn switching_waits_while_retirements_are_at_their_bound() {
    let mut cids = table(2);
    cids.on_new_cid(&new_cid(1, 0)).unwrap();
    for seq in 2..5 {
        assert!(cids.switch_to_unused().is_some());
        cids.on_new_cid(&new_cid(seq, 0)).unwrap();
    }
    // Sequences 0 to 2 retired, 3 in use, 4 unused: one more fits.
    assert_eq!(cids.switch_to_unused().map(|c| c.sequence), Some(4));
    cids.on_new_cid(&new_cid(5, 0)).unwrap();
    assert_eq!(cids.retiring.len(), 4);
    assert_eq!(cids.switch_to_unused(), None, "at the bound");
    assert_eq!(cids.in_use().map(|c| c.sequence), Some(4));
    let sent = send_retirements(&mut cids);
    cids.on_retirements_acked(&sent);
    assert_eq!(cids.switch_to_unused().map(|c| c.sequence), Some(5));
}

// RFC 9000 §8.2.2 (test): a response goes back to the address its
// challenge came from, with three times that datagram to spend there.
#[test]
fn path_responses_go_back_where_their_challenge_came_from() {
    let mut responses = PathResponses::new(4);
    responses.on_challenge([1; 8], ELSEWHERE, None, 100);
    responses.on_challenge([2; 8], PEER, None, 1200);
    assert_eq!(responses.off_path(PEER, None), Some((ELSEWHERE, None, 300)));
    let mut buf = Vec::new();
    assert!(responses.write_for(&mut buf, 1200, PEER, None));
    assert_eq!(buf, [&[0x1b][..], &[2; 8]].concat());
    assert!(!responses.has_pending_for(PEER, None));
    assert!(responses.has_pending_for(ELSEWHERE, None));
    buf.clear();
    assert!(responses.write_for(&mut buf, 1200, ELSEWHERE, None));
    assert_eq!(buf, [&[0x1b][..], &[1; 8]].concat());
    assert_eq!(responses.off_path(PEER, None), None);
}
