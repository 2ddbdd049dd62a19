use super::*;
use crate::{Frame, Frames, TransportErrorCode};

fn cid(byte: u8) -> ConnectionId {
    ConnectionId::new(&[byte; 8]).unwrap()
}

/// The token the tests' endpoint derives for the ID `cid(byte)`.
fn token(byte: u8) -> [u8; 16] {
    [byte ^ 0xa5; 16]
}

/// A table whose handshake ID is `cid(0)`, issuing up to `configured`,
/// started with the peer's `peer_limit`.
fn started(configured: u8, peer_limit: u64) -> LocalCids {
    let mut cids = LocalCids::new(cid(0), configured);
    cids.start(peer_limit);
    cids
}

/// Plays the endpoint: hands over every ID wanted, `cid(n)` for sequence
/// number n.
fn issue_wanted(cids: &mut LocalCids) {
    for _ in 0..cids.wanted() {
        let byte = u8::try_from(cids.next_sequence).unwrap();
        cids.on_issued(cid(byte), token(byte));
    }
}

fn usable(cids: &LocalCids) -> Vec<u64> {
    cids.usable().map(|(sequence, _)| sequence).collect()
}

/// Writes the NEW_CONNECTION_ID frames due and returns them, decoded;
/// checks that `sent` lists exactly their sequence numbers.
fn send(cids: &mut LocalCids) -> Vec<NewConnectionId> {
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    cids.write_frames(&mut buf, 1200, &mut sent);
    if buf.is_empty() {
        assert!(sent.is_empty());
        return Vec::new();
    }
    let frames: Vec<NewConnectionId> = Frames::new(buf.into(), crate::EncryptionLevel::OneRtt)
        .map(|f| match f.unwrap() {
            Frame::NewConnectionId(frame) => frame,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let sequences: Vec<u64> = frames.iter().map(|f| f.sequence.into_inner()).collect();
    assert_eq!(sequences, sent);
    frames
}

fn sequences(frames: &[NewConnectionId]) -> Vec<u64> {
    frames.iter().map(|f| f.sequence.into_inner()).collect()
}

fn unrouted(cids: &mut LocalCids) -> Vec<ConnectionId> {
    std::iter::from_fn(|| cids.poll_unrouted()).collect()
}

#[test]
fn nothing_is_wanted_before_issuing_starts() {
    let cids = LocalCids::new(cid(0), 4);
    assert_eq!(cids.wanted(), 0);
    assert_eq!(cids.routed().collect::<Vec<_>>(), [&cid(0)]);
}

// RFC 9000 §5.1.1 (test): the peer gets IDs up to the lower of its
// active_connection_id_limit and our issued_connection_ids, counting the
// handshake ID; our setting is at least 2.
#[test]
fn the_peer_gets_up_to_the_lower_limit_counting_the_handshake_id() {
    for (configured, peer, wanted) in [(4, 8, 3), (4, 2, 1), (8, 5, 4), (0, 8, 1), (1, 8, 1)] {
        let mut cids = started(configured, peer);
        assert_eq!(cids.wanted(), wanted, "ours {configured}, peer's {peer}");
        issue_wanted(&mut cids);
        assert_eq!(cids.wanted(), 0);
        assert_eq!(usable(&cids).len(), wanted + 1);
    }
    // A huge limit from the peer is no reason to make more.
    assert_eq!(started(4, u64::MAX).wanted(), 3);
}

// RFC 9000 §5.1.1 (test): an endpoint using zero-length IDs issues none.
#[test]
fn zero_length_ids_issue_none() {
    let mut cids = LocalCids::new(ConnectionId::EMPTY, 4);
    cids.start(8);
    assert_eq!(cids.wanted(), 0);
    assert!(!cids.rotate());
    assert_eq!(cids.wanted(), 0);
}

// RFC 9000 §19.15 (test): each new ID goes out in a NEW_CONNECTION_ID with
// its sequence number, the ID, its reset token and our Retire Prior To.
#[test]
fn new_ids_are_announced_with_their_tokens() {
    let mut cids = started(4, 4);
    issue_wanted(&mut cids);
    assert!(cids.has_frames_to_send());
    let frames = send(&mut cids);
    assert_eq!(sequences(&frames), [1, 2, 3]);
    for frame in &frames {
        let byte = u8::try_from(frame.sequence.into_inner()).unwrap();
        assert_eq!(frame.id, cid(byte));
        assert_eq!(frame.reset_token, token(byte));
        assert_eq!(frame.retire_prior_to.into_inner(), 0);
    }
    assert!(!cids.has_frames_to_send(), "in flight");
    assert!(send(&mut cids).is_empty());
}

#[test]
fn frames_that_do_not_fit_wait() {
    let mut cids = started(4, 4);
    issue_wanted(&mut cids);
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    // A NEW_CONNECTION_ID of an 8-byte ID takes 28 bytes here.
    cids.write_frames(&mut buf, 60, &mut sent);
    assert_eq!(sent, [1, 2]);
    assert_eq!(sequences(&send(&mut cids)), [3]);
}

// RFC 9000 §13.3 (test): a lost NEW_CONNECTION_ID is sent again; once
// acknowledged it is forgotten, and so is its reset token.
#[test]
fn lost_frames_are_sent_again_and_acknowledged_ones_forgotten() {
    let mut cids = started(4, 4);
    issue_wanted(&mut cids);
    let idle = cids.issued.capacity() * size_of::<Issued>();
    send(&mut cids);
    cids.on_frames_lost(&[2]);
    assert_eq!(sequences(&send(&mut cids)), [2], "sent again");
    cids.on_frames_acked(&[1, 2, 3]);
    assert!(!cids.has_frames_to_send());
    cids.on_frames_lost(&[2]);
    assert!(!cids.has_frames_to_send(), "done once acknowledged");
    assert_eq!(cids.heap_bytes(), idle, "the tokens are freed");
    assert_eq!(idle, 4 * 32);
}

// RFC 9000 §19.16 (test): the peer retiring an ID stops its route and gets
// it replaced; a second retirement of it is ignored.
#[test]
fn a_retired_id_is_unrouted_and_replaced() {
    let mut cids = started(4, 4);
    issue_wanted(&mut cids);
    send(&mut cids);
    cids.on_retire(VarInt::from_u32(2), &cid(1)).unwrap();
    assert!(cids.has_unrouted());
    assert_eq!(usable(&cids), [0, 1, 3]);
    assert_eq!(cids.wanted(), 1, "a replacement");
    assert_eq!(unrouted(&mut cids), [cid(2)]);
    assert!(!cids.has_unrouted());
    assert!(!cids.routed().any(|c| *c == cid(2)));
    cids.on_retire(VarInt::from_u32(2), &cid(1)).unwrap();
    assert!(!cids.has_unrouted(), "once");
    issue_wanted(&mut cids);
    assert_eq!(sequences(&send(&mut cids)), [4]);
    // The handshake ID may be retired like the others.
    cids.on_retire(VarInt::from_u32(0), &cid(4)).unwrap();
    assert_eq!(unrouted(&mut cids), [cid(0)]);
    assert_eq!(usable(&cids), [1, 3, 4]);
}

// RFC 9000 §19.16 (test): retiring a sequence number never issued, or the
// ID the packet was sent to, is PROTOCOL_VIOLATION.
#[test]
fn retiring_an_unknown_or_the_current_id_is_protocol_violation() {
    let mut cids = started(4, 4);
    issue_wanted(&mut cids);
    for (sequence, dcid) in [(4, cid(0)), (u64::from(u32::MAX), cid(0)), (1, cid(1))] {
        let error = cids
            .clone()
            .on_retire(VarInt::from_u64(sequence).unwrap(), &dcid)
            .unwrap_err();
        assert_eq!(error.code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert_eq!(error.frame_type, Some(FrameType::RETIRE_CONNECTION_ID));
    }
    // Before issuing starts, only the handshake ID exists.
    let mut early = LocalCids::new(cid(0), 4);
    assert!(early.on_retire(VarInt::from_u32(1), &cid(0)).is_err());
    assert!(early.on_retire(VarInt::from_u32(0), &cid(0)).is_err());
}

#[test]
fn a_retired_id_whose_frame_was_unacknowledged_is_not_sent_again() {
    let mut cids = started(4, 4);
    issue_wanted(&mut cids);
    send(&mut cids);
    cids.on_retire(VarInt::from_u32(3), &cid(0)).unwrap();
    cids.on_frames_lost(&[1, 2, 3]);
    assert_eq!(sequences(&send(&mut cids)), [1, 2]);
}

// RFC 9000 §5.1.2 (test): a rotation asks the peer, with Retire Prior To,
// to retire every ID issued so far; as many new ones go out; the old ones
// stay routed until the peer retires them, and a second rotation waits
// for that.
#[test]
fn rotation_replaces_every_id_and_waits_for_the_peer_to_retire_them() {
    let mut cids = started(4, 4);
    assert!(!LocalCids::new(cid(0), 4).rotate(), "not before issuing");
    issue_wanted(&mut cids);
    send(&mut cids);
    cids.on_frames_acked(&[1, 2]);
    assert!(cids.rotate());
    assert!(usable(&cids).is_empty());
    assert_eq!(cids.wanted(), 4);
    issue_wanted(&mut cids);
    // The unacknowledged 3 is lost: it goes again, with a Retire Prior To
    // no greater than its sequence number (RFC 9000 §19.15); the new ones
    // carry the new Retire Prior To, which retires it.
    cids.on_frames_lost(&[3]);
    let frames = send(&mut cids);
    assert_eq!(sequences(&frames), [3, 4, 5, 6, 7]);
    let retire_prior_to: Vec<u64> = frames
        .iter()
        .map(|f| f.retire_prior_to.into_inner())
        .collect();
    assert_eq!(retire_prior_to, [3, 4, 4, 4, 4]);
    assert_eq!(cids.routed().count(), 8, "the old ones still route");
    assert!(!cids.rotate(), "the old ones are not retired yet");

    for sequence in 0..4 {
        cids.on_retire(VarInt::from_u32(sequence), &cid(5)).unwrap();
    }
    assert_eq!(unrouted(&mut cids), [cid(0), cid(1), cid(2), cid(3)]);
    assert_eq!(cids.wanted(), 0, "retiring old ids wants no replacement");
    assert_eq!(usable(&cids), [4, 5, 6, 7]);
    cids.on_frames_acked(&[3, 4, 5, 6, 7]);
    assert_eq!(cids.heap_bytes(), 4 * 32, "what the rotation held is freed");
    assert!(cids.rotate(), "and a new rotation may start");
}

// RFC 9000 §5.1.1 (test): the ID of a server's preferred_address parameter
// has sequence number 1; it counts against the peer's limit and frames
// carry none for it.
#[test]
fn an_id_in_the_transport_parameters_takes_sequence_number_one() {
    let mut cids = LocalCids::new(cid(0), 4);
    assert_eq!(cids.issue_in_params(cid(1)), 1);
    cids.start(4);
    assert_eq!(cids.wanted(), 2);
    issue_wanted(&mut cids);
    assert_eq!(sequences(&send(&mut cids)), [2, 3]);
    assert_eq!(usable(&cids), [0, 1, 2, 3]);
    cids.on_retire(VarInt::from_u32(1), &cid(0)).unwrap();
    assert_eq!(unrouted(&mut cids), [cid(1)]);
}

#[test]
fn the_records_are_32_bytes() {
    assert_eq!(size_of::<Issued>(), 32);
    assert_eq!(size_of::<Announcement>(), 32);
}

// The most IDs a table may hold, all retired at once after a rotation, are
// counted without overflow.
#[test]
fn a_rotation_of_the_largest_table_can_be_retired_at_once() {
    let mut cids = started(u8::MAX, u64::MAX);
    issue_wanted(&mut cids);
    assert!(cids.rotate());
    for _ in 0..cids.wanted() {
        let sequence = cids.next_sequence;
        cids.on_issued(ConnectionId::new(&sequence.to_be_bytes()).unwrap(), [0; 16]);
    }
    let dcid = ConnectionId::new(&[0xff; 8]).unwrap();
    for sequence in 0..cids.next_sequence {
        cids.on_retire(VarInt::from_u64(sequence).unwrap(), &dcid)
            .unwrap();
    }
    assert_eq!(unrouted(&mut cids).len(), 2 * 255);
    assert_eq!(cids.wanted(), 255);
}
