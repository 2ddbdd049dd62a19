//! Flow control (RFC 9000 §4) and stream limits (RFC 9000 §4.6).

use super::*;
use crate::frame::Frame;

/// The frames of a packet, decoded.
fn frames(packet: &Packet) -> Vec<Frame> {
    Frames::new(packet.payload.clone(), EncryptionLevel::OneRtt)
        .collect::<Result<_, _>>()
        .unwrap()
}

// RFC 9000 §4.1 (test): a sender never exceeds the stream limit and says it is blocked.
#[test]
fn writes_block_at_the_stream_limit_and_resume_after_max_stream_data() {
    let mut pair = Pair::new(&small_config());
    let id = pair.client.open(Dir::Uni).unwrap();
    assert_eq!(pair.client.write(id, pattern(1, 10_000)), Ok(4096));
    assert_eq!(
        pair.client.write(id, pattern(1, 10)),
        Err(WriteError::Blocked)
    );
    let mut blocked = false;
    while let Some(packet) = pair.transmit(Side::Client) {
        blocked |= frames(&packet).iter().any(|f| {
            matches!(f, Frame::StreamDataBlocked(b) if b.id == id && b.limit.into_inner() == 4096)
        });
        pair.deliver(packet).unwrap();
    }
    assert!(blocked, "STREAM_DATA_BLOCKED sent");
    assert_eq!(pair.server.accept(Dir::Uni), Some(id));
    let mut read = 0;
    while let Ok(Some(chunk)) = pair.server.read(id, usize::MAX, true) {
        read += chunk.bytes.len();
    }
    assert_eq!(read, 4096);
    let packet = pair.transmit(Side::Server).unwrap();
    assert!(
        frames(&packet)
            .iter()
            .any(|f| matches!(f, Frame::MaxStreamData(m) if m.id == id))
    );
    pair.deliver(packet).unwrap();
    assert!(events(&mut pair.client).contains(&StreamEvent::Writable { id }));
    assert!(pair.client.write(id, pattern(1, 10)).is_ok());
}

// RFC 9000 §4.1 (test): a sender never exceeds the connection limit and sends DATA_BLOCKED.
#[test]
fn writes_block_at_the_connection_limit_and_resume_after_max_data() {
    let mut pair = Pair::new(&small_config());
    let mut ids = Vec::new();
    let mut total = 0;
    for _ in 0..5 {
        let id = pair.client.open(Dir::Uni).unwrap();
        total += pair.client.write(id, pattern(2, 4096)).unwrap_or(0);
        ids.push(id);
    }
    assert_eq!(total, 16 * 1024, "the connection window caps writes");
    assert_eq!(pair.client.send_window(), 0);
    let last = ids[4];
    assert_eq!(
        pair.client.write(last, pattern(2, 1)),
        Err(WriteError::Blocked)
    );
    let mut blocked = false;
    while let Some(packet) = pair.transmit(Side::Client) {
        blocked |= frames(&packet)
            .iter()
            .any(|f| matches!(f, Frame::DataBlocked(_)));
        pair.deliver(packet).unwrap();
    }
    assert!(blocked, "DATA_BLOCKED sent");
    let mut sink = Sink::default();
    pair.run(&mut sink);
    sink.drain(&mut pair.server, Side::Server);
    pair.run(&mut sink);
    assert!(pair.client.send_window() > 0, "MAX_DATA arrived");
    assert!(events(&mut pair.client).contains(&StreamEvent::Writable { id: last }));
}

// RFC 9000 §4.2 (test): the receiver raises limits as the application reads.
#[test]
fn a_long_transfer_keeps_flowing_through_window_updates() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let id = pair.client.open(Dir::Uni).unwrap();
    let data = pattern(3, 200_000);
    write_all(&mut pair, &mut sink, Side::Client, id, &data);
    pair.client.finish(id).unwrap();
    pair.run(&mut sink);
    assert_eq!(sink.bytes(Side::Server, id), &data[..]);
}

#[test]
fn the_receive_window_doubles_when_the_reader_keeps_up_within_two_rtts() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let id = pair.client.open(Dir::Uni).unwrap();
    let rtt = Duration::from_millis(10);
    pair.server.on_rtt_sample(epoch(), rtt);
    let data = pattern(4, 60_000);
    let mut at = 0;
    let mut step = 0_u64;
    while at < data.len() {
        step += 1;
        pair.server
            .on_rtt_sample(epoch() + rtt * u32::try_from(step).unwrap() / 4, rtt);
        match pair.client.write(id, data.slice(at..)) {
            Ok(n) => at += n,
            Err(_) => pair.run(&mut sink),
        }
    }
    pair.run(&mut sink);
    let window = pair.server.streams[&id].recv.as_ref().unwrap().window;
    assert!(window > 4096, "window grew to {window}");
    assert!(window <= 16 * 1024, "window within its maximum");
}

// RFC 9000 §4.6 (test): an endpoint opens no more streams than the peer allows and says so.
#[test]
fn open_stops_at_the_peer_limit_and_resumes_after_max_streams() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let ids: Vec<_> = (0..8)
        .map(|_| pair.client.open(Dir::Uni).unwrap())
        .collect();
    assert_eq!(pair.client.open(Dir::Uni), None);
    let packet = pair.transmit(Side::Client).unwrap();
    assert!(frames(&packet).iter().any(|f| matches!(
        f,
        Frame::StreamsBlocked(b) if b.dir == Dir::Uni && b.limit.into_inner() == 8
    )));
    pair.deliver(packet).unwrap();
    for id in &ids {
        pair.client.finish(*id).unwrap();
    }
    pair.run(&mut sink);
    assert_eq!(
        events(&mut pair.client).last(),
        Some(&StreamEvent::Available { dir: Dir::Uni })
    );
    assert!(pair.client.open(Dir::Uni).is_some());
    assert_eq!(
        pair.server.stream_count(),
        0,
        "closed peer streams are freed"
    );
}

#[test]
fn a_stream_blocked_again_and_again_is_listed_once() {
    let mut pair = Pair::new(&small_config());
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.write(id, pattern(5, 4096)).unwrap();
    for step in 1..10_u32 {
        assert_eq!(
            pair.client.write(id, pattern(5, 1)),
            Err(WriteError::Blocked)
        );
        pair.client
            .on_frame(Frame::MaxStreamData(crate::frame::MaxStreamData {
                id,
                max_data: VarInt::from_u32(4096 + step),
            }))
            .unwrap();
        assert_eq!(pair.client.write(id, pattern(5, 1)), Ok(1));
    }
    assert!(pair.client.write_blocked.len() <= 1);
}
