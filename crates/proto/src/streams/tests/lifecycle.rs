//! Opening, writing, finishing, resetting and stopping streams end to end.

use super::*;
use crate::frame::Frame;

#[test]
fn many_streams_in_both_directions_arrive_intact() {
    let mut pair = Pair::new(&StreamsConfig::default());
    let mut sink = Sink::default();
    let mut sent = Vec::new();
    for (n, side) in [Side::Client, Side::Server]
        .into_iter()
        .cycle()
        .take(24)
        .enumerate()
    {
        let dir = if n % 3 == 0 { Dir::Uni } else { Dir::Bi };
        let id = pair.side(side).open(dir).unwrap();
        let data = pattern(u64::try_from(n).unwrap(), 3000 + n * 101);
        write_all(&mut pair, &mut sink, side, id, &data);
        pair.side(side).finish(id).unwrap();
        sent.push((side, id, data));
    }
    pair.run(&mut sink);
    for (side, id, data) in sent {
        let peer = if side == Side::Client {
            Side::Server
        } else {
            Side::Client
        };
        assert_eq!(sink.bytes(peer, id), &data[..], "stream {id} intact");
        assert!(sink.finished.contains(&(peer, id)), "stream {id} finished");
    }
}

#[test]
fn finished_streams_report_finished_and_are_freed_on_both_sides() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let id = pair.client.open(Dir::Bi).unwrap();
    sink.watch(Side::Client, id);
    pair.client.write(id, Bytes::from_static(b"ping")).unwrap();
    pair.client.finish(id).unwrap();
    pair.run(&mut sink);
    pair.server.write(id, Bytes::from_static(b"pong")).unwrap();
    pair.server.finish(id).unwrap();
    pair.run(&mut sink);
    assert_eq!(sink.bytes(Side::Server, id), b"ping");
    assert_eq!(sink.bytes(Side::Client, id), b"pong");
    assert!(events(&mut pair.client).contains(&StreamEvent::Finished { id }));
    assert!(events(&mut pair.server).contains(&StreamEvent::Finished { id }));
    assert_eq!(pair.client.stream_count(), 0);
    assert_eq!(pair.server.stream_count(), 0);
    // RFC 9000 §2.1 (test): a stream ID is never reused; frames for it are ignored.
    assert_eq!(pair.client.read(id, 10, true), Err(ReadError::ClosedStream));
    assert_eq!(pair.client.open(Dir::Bi).map(StreamId::index), Some(1));
}

#[test]
fn an_empty_stream_with_only_a_fin_is_read_as_finished() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.finish(id).unwrap();
    pair.run(&mut sink);
    assert!(sink.finished.contains(&(Side::Server, id)));
    assert_eq!(pair.client.stream_count(), 0);
    assert_eq!(pair.server.stream_count(), 0);
}

#[test]
fn a_reset_reaches_the_reader_with_its_code() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.write(id, pattern(1, 500)).unwrap();
    pair.client.reset(id, VarInt::from_u32(7)).unwrap();
    assert_eq!(pair.client.send_buffered(id), Some(0), "reset drops data");
    assert_eq!(
        pair.client.write(id, Bytes::from_static(b"x")),
        Err(WriteError::ClosedStream)
    );
    pair.run(&mut sink);
    assert_eq!(sink.resets, [(Side::Server, id, VarInt::from_u32(7))]);
    assert!(events(&mut pair.server).contains(&StreamEvent::Reset {
        id,
        code: VarInt::from_u32(7)
    }));
    assert_eq!(pair.client.stream_count(), 0, "acknowledged reset frees");
    assert_eq!(pair.server.stream_count(), 0, "read reset frees");
}

// RFC 9000 §3.5 (test): STOP_SENDING is answered by RESET_STREAM with the same code.
#[test]
fn stop_sending_is_answered_with_a_reset_of_the_same_code() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let id = pair.client.open(Dir::Bi).unwrap();
    pair.client.write(id, pattern(2, 100)).unwrap();
    pair.run(&mut sink);
    pair.server.stop(id, VarInt::from_u32(9)).unwrap();
    pair.run(&mut sink);
    let code = VarInt::from_u32(9);
    assert!(events(&mut pair.client).contains(&StreamEvent::Stopped { id, code }));
    assert_eq!(
        pair.client.write(id, Bytes::from_static(b"more")),
        Err(WriteError::Stopped { code })
    );
    assert_eq!(pair.client.send_state(id), Some(SendState::ResetRecvd));
    assert_eq!(pair.server.recv_state(id), Some(RecvState::ResetRead));
    pair.server.finish(id).unwrap();
    pair.run(&mut sink);
    assert_eq!(pair.server.stream_count(), 0, "both halves closed: freed");
}

// RFC 9000 §3.5 (test): after STOP_SENDING, data still arriving is
// discarded; the FIN ends the half, and frames after it was freed are ignored.
#[test]
fn a_stopped_stream_buffers_nothing_and_late_frames_bring_nothing_back() {
    let mut pair = Pair::new(&small_config());
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.write(id, pattern(3, 100)).unwrap();
    let first = pair.transmit(Side::Client).unwrap();
    pair.deliver(first).unwrap();
    assert_eq!(pair.server.accept(Dir::Uni), Some(id));
    pair.server.stop(id, VarInt::from_u32(4)).unwrap();
    assert_eq!(
        pair.server.recv_buffered(),
        0,
        "stopping drops what was held"
    );
    assert_eq!(pair.server.recv_state(id), Some(RecvState::Recv));
    events(&mut pair.server);
    // More data and the FIN leave before the STOP_SENDING arrives.
    pair.client.write(id, pattern(4, 600)).unwrap();
    pair.client.finish(id).unwrap();
    let rest = pair.transmit(Side::Client).unwrap();
    pair.receive(&rest).unwrap();
    assert_eq!(
        pair.server.recv_buffered(),
        0,
        "nothing buffered after a stop"
    );
    assert_eq!(
        pair.server.stream_count(),
        0,
        "the FIN ended the stopped half"
    );
    // A duplicate of the same packet finds nothing to open again.
    pair.receive(&rest).unwrap();
    assert_eq!(pair.server.stream_count(), 0);
    assert_eq!(pair.server.recv_state(id), None);
    assert_eq!(events(&mut pair.server), [], "no Opened, no Readable");
    assert_eq!(pair.server.read(id, 10, true), Err(ReadError::ClosedStream));
    // The STOP_SENDING is no longer needed once the FIN came; the freed
    // stream's MAX_STREAMS goes out instead.
    let answer = pair.transmit(Side::Server).unwrap();
    let frames: Vec<Frame> = Frames::new(answer.payload.clone(), EncryptionLevel::OneRtt)
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        frames.iter().all(|f| !matches!(f, Frame::StopSending(_))),
        "{frames:?}"
    );
    assert!(frames.iter().any(|f| matches!(f, Frame::MaxStreams(_))));
    pair.client.on_acked(rest.sent);
    assert_eq!(pair.client.stream_count(), 0);
}

#[test]
fn accept_hands_out_peer_streams_in_order_with_one_opened_event() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let a = pair.client.open(Dir::Bi).unwrap();
    let b = pair.client.open(Dir::Bi).unwrap();
    pair.client.write(b, Bytes::from_static(b"b")).unwrap();
    pair.client.write(a, Bytes::from_static(b"a")).unwrap();
    for _ in 0..4 {
        if let Some(packet) = pair.transmit(Side::Client) {
            pair.deliver(packet).unwrap();
        }
    }
    let opened: Vec<_> = events(&mut pair.server)
        .into_iter()
        .filter(|e| matches!(e, StreamEvent::Opened { .. }))
        .collect();
    assert_eq!(opened, [StreamEvent::Opened { dir: Dir::Bi }]);
    assert_eq!(pair.server.accept(Dir::Bi), Some(a));
    assert_eq!(pair.server.accept(Dir::Bi), Some(b));
    assert_eq!(pair.server.accept(Dir::Bi), None);
    sink.drain(&mut pair.server, Side::Server);
}

#[test]
fn readable_is_raised_once_until_the_application_reads() {
    let mut pair = Pair::new(&small_config());
    let id = pair.client.open(Dir::Uni).unwrap();
    for _ in 0..3 {
        pair.client.write(id, Bytes::from_static(b"chunk")).unwrap();
        let packet = pair.transmit(Side::Client).unwrap();
        pair.deliver(packet).unwrap();
    }
    let readable = events(&mut pair.server)
        .into_iter()
        .filter(|e| *e == StreamEvent::Readable { id })
        .count();
    assert_eq!(readable, 1);
    assert_eq!(pair.server.accept(Dir::Uni), Some(id));
    let chunk = pair.server.read(id, 4, true).unwrap().unwrap();
    assert_eq!((chunk.offset, &chunk.bytes[..]), (0, &b"chun"[..]));
    let chunk = pair.server.read(id, 100, true).unwrap().unwrap();
    assert_eq!(chunk.offset, 4);
    assert_eq!(&chunk.bytes[..], b"kchunkchunk");
    assert_eq!(pair.server.read(id, 100, true), Err(ReadError::Blocked));
}

#[test]
fn an_idle_manager_allocates_nothing_until_a_stream_is_used() {
    let streams = Streams::new(Side::Server, StreamsConfig::default());
    assert_eq!(streams.streams.capacity(), 0);
    assert_eq!(streams.events.capacity(), 0);
    assert_eq!(streams.control.capacity(), 0);
    assert!(streams.scheduler.is_empty());
    assert!(!streams.wants_to_send());
}
