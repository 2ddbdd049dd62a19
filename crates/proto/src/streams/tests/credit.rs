//! When credit updates go out (RFC 9000 §4.1, §4.6): MAX_STREAMS waits for
//! a packet that is sent anyway until the peer runs low or says it is
//! blocked, and an update the peer missed is sent again at once.

use super::*;
use crate::frame::{Frame, Stream as StreamFrame, StreamDataBlocked, StreamsBlocked};

/// The frames of a packet, decoded.
fn frames(packet: &Packet) -> Vec<Frame> {
    Frames::new(packet.payload.clone(), EncryptionLevel::OneRtt)
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The MAX_STREAMS frames of a packet: direction and limit.
fn max_streams(packet: &Packet) -> Vec<(Dir, u64)> {
    frames(packet)
        .into_iter()
        .filter_map(|f| match f {
            Frame::MaxStreams(m) => Some((m.dir, m.count.into_inner())),
            _ => None,
        })
        .collect()
}

/// The client opens `n` unidirectional streams of one byte and a FIN; the
/// server reads them to the end, which frees them.
fn close_uni_streams(pair: &mut Pair, sink: &mut Sink, n: usize) {
    for _ in 0..n {
        let id = pair.client.open(Dir::Uni).unwrap();
        pair.client.write(id, Bytes::from_static(b"x")).unwrap();
        pair.client.finish(id).unwrap();
    }
    while let Some(packet) = pair.transmit(Side::Client) {
        pair.deliver(packet).unwrap();
    }
    sink.drain(&mut pair.server, Side::Server);
}

/// A server packet carrying a few bytes on a new stream of its own.
fn server_data(pair: &mut Pair) -> (StreamId, Packet) {
    let id = pair.server.open(Dir::Uni).unwrap();
    pair.server.write(id, Bytes::from_static(b"data")).unwrap();
    (id, pair.transmit(Side::Server).unwrap())
}

#[test]
fn a_freed_peer_stream_rides_with_the_next_packet_instead_of_its_own() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    close_uni_streams(&mut pair, &mut sink, 1);
    assert_eq!(pair.server.stream_count(), 0, "the stream is freed");
    assert!(pair.server.has_deferred_credit());
    assert!(!pair.server.wants_to_send(), "7 of 8 streams left: not due");
    assert!(pair.transmit(Side::Server).is_none());
    let (_, packet) = server_data(&mut pair);
    assert_eq!(max_streams(&packet), [(Dir::Uni, 9)]);
    assert_eq!(packet.sent.stream_frames().count(), 1);
    assert!(!pair.server.has_deferred_credit());
    pair.deliver(packet).unwrap();
    // One opened before, eight more now: nine in all.
    for _ in 0..8 {
        assert!(pair.client.open(Dir::Uni).is_some());
    }
    assert_eq!(pair.client.open(Dir::Uni), None);
}

#[test]
fn max_streams_goes_out_alone_once_the_peer_has_fewer_than_half_left() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    close_uni_streams(&mut pair, &mut sink, 4);
    assert!(!pair.server.wants_to_send(), "4 of 8 left: not due");
    assert!(pair.transmit(Side::Server).is_none());
    close_uni_streams(&mut pair, &mut sink, 1);
    assert!(pair.server.wants_to_send(), "3 of 8 left: due");
    let packet = pair.transmit(Side::Server).unwrap();
    assert_eq!(frames(&packet).len(), 1, "the update alone");
    assert_eq!(max_streams(&packet), [(Dir::Uni, 13)]);
    assert!(!pair.server.has_deferred_credit());
}

// A peer blocked by the stream limit gets the update at once, whatever the
// threshold says.
#[test]
fn streams_blocked_brings_a_deferred_max_streams_at_once() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let blocked = |limit| {
        Frame::StreamsBlocked(StreamsBlocked {
            dir: Dir::Uni,
            limit: VarInt::from_u32(limit),
        })
    };
    // Blocked at the limit with no stream freed: nothing to give.
    assert_eq!(pair.server.on_frame(blocked(8)), Ok(None));
    assert!(!pair.server.wants_to_send());
    close_uni_streams(&mut pair, &mut sink, 1);
    assert!(!pair.server.wants_to_send());
    assert_eq!(pair.server.on_frame(blocked(8)), Ok(None));
    let packet = pair.transmit(Side::Server).unwrap();
    assert_eq!(max_streams(&packet), [(Dir::Uni, 9)]);
    // Blocked below a limit already sent (the update is on its way or
    // lost): it goes again at once.
    assert_eq!(pair.server.on_frame(blocked(8)), Ok(None));
    let again = pair.transmit(Side::Server).unwrap();
    assert_eq!(max_streams(&again), [(Dir::Uni, 9)]);
    assert!(pair.transmit(Side::Server).is_none());
}

// RFC 9000 §13.3 (test): a lost MAX_STREAMS is sent again with the current limit.
#[test]
fn a_lost_max_streams_goes_out_again_at_once_even_without_data() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    close_uni_streams(&mut pair, &mut sink, 1);
    let (id, first) = server_data(&mut pair);
    assert_eq!(max_streams(&first), [(Dir::Uni, 9)]);
    // The stream is reset and the reset acknowledged: its data is not sent
    // again, so only the update is left to resend.
    pair.server.reset(id, VarInt::from_u32(1)).unwrap();
    let reset = pair.transmit(Side::Server).unwrap();
    assert_eq!(max_streams(&reset), []);
    pair.deliver(reset).unwrap();
    close_uni_streams(&mut pair, &mut sink, 1);
    pair.lose(first);
    assert!(pair.server.wants_to_send(), "the lost update is due");
    let again = pair.transmit(Side::Server).unwrap();
    assert_eq!(frames(&again).len(), 1);
    assert_eq!(max_streams(&again), [(Dir::Uni, 10)], "the current limit");
}

#[test]
fn a_lost_max_streams_is_not_resent_once_a_higher_one_was_acknowledged() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    close_uni_streams(&mut pair, &mut sink, 1);
    let (_, first) = server_data(&mut pair);
    assert_eq!(max_streams(&first), [(Dir::Uni, 9)]);
    close_uni_streams(&mut pair, &mut sink, 1);
    let (_, second) = server_data(&mut pair);
    assert_eq!(max_streams(&second), [(Dir::Uni, 10)]);
    pair.deliver(second).unwrap();
    pair.lose(first);
    let again = pair.transmit(Side::Server).unwrap();
    assert_eq!(max_streams(&again), [], "the peer already has 10");
    assert_eq!(again.sent.stream_frames().count(), 1, "the data is resent");
}

// RFC 9000 §4.6 (test): a stream beyond the limit we sent is STREAM_LIMIT_ERROR, even with room freed since.
#[test]
fn a_peer_stream_beyond_the_limit_sent_is_an_error_until_the_update_leaves() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    close_uni_streams(&mut pair, &mut sink, 8);
    let beyond = || {
        Frame::Stream(StreamFrame {
            id: StreamId::new(VarInt::from_u32(8 << 2 | 2)),
            offset: VarInt::from_u32(0),
            fin: false,
            has_length: true,
            data: Bytes::from_static(b"x"),
        })
    };
    assert_eq!(
        pair.server.on_frame(beyond()).unwrap_err().code,
        crate::error::TransportErrorCode::STREAM_LIMIT_ERROR
    );
    // The update (due: none of 8 left) goes out; the peer may then open more.
    let packet = pair.transmit(Side::Server).unwrap();
    assert_eq!(max_streams(&packet), [(Dir::Uni, 16)]);
    assert_eq!(pair.server.on_frame(beyond()), Ok(None));
}

// A peer blocked below our connection limit missed a MAX_DATA: it goes
// again at once.
#[test]
fn data_blocked_below_our_limit_sends_max_data_again() {
    let mut pair = Pair::new(&small_config());
    let window = 16 * 1024;
    let blocked = |limit| Frame::DataBlocked(VarInt::from_u32(limit));
    assert_eq!(pair.server.on_frame(blocked(window)), Ok(None));
    assert!(
        !pair.server.wants_to_send(),
        "blocked at our limit: nothing new"
    );
    assert_eq!(pair.server.on_frame(blocked(window / 2)), Ok(None));
    let packet = pair.transmit(Side::Server).unwrap();
    assert_eq!(frames(&packet), [Frame::MaxData(VarInt::from_u32(window))]);
}

// A peer blocked below our stream limit missed a MAX_STREAM_DATA: it goes
// again at once.
#[test]
fn stream_data_blocked_below_our_limit_sends_max_stream_data_again() {
    let mut pair = Pair::new(&small_config());
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.write(id, Bytes::from_static(b"x")).unwrap();
    let packet = pair.transmit(Side::Client).unwrap();
    pair.deliver(packet).unwrap();
    let blocked = |limit| {
        Frame::StreamDataBlocked(StreamDataBlocked {
            id,
            limit: VarInt::from_u32(limit),
        })
    };
    assert_eq!(pair.server.on_frame(blocked(4096)), Ok(None));
    assert!(
        !pair.server.wants_to_send(),
        "blocked at our limit: nothing new"
    );
    assert_eq!(pair.server.on_frame(blocked(1000)), Ok(None));
    let packet = pair.transmit(Side::Server).unwrap();
    assert!(
        matches!(&frames(&packet)[..], [Frame::MaxStreamData(m)] if m.id == id && m.max_data.into_inner() == 4096)
    );
}
