//! Lost packets are retransmitted exactly; acknowledged data is freed.

use super::*;

// RFC 9000 §13.3 (test): lost stream data is sent again, exactly the lost ranges.
#[test]
fn lost_packets_are_retransmitted_exactly() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let id = pair.client.open(Dir::Uni).unwrap();
    let data = pattern(5, 3000);
    pair.client.write(id, data.clone()).unwrap();
    pair.client.finish(id).unwrap();
    let first = pair.transmit(Side::Client).unwrap();
    let second = pair.transmit(Side::Client).unwrap();
    let third = pair.transmit(Side::Client).unwrap();
    assert!(pair.transmit(Side::Client).is_none());
    let lost: Vec<_> = second.sent.stream_frames().collect();
    pair.deliver(first).unwrap();
    pair.deliver(third).unwrap();
    pair.lose(second);
    let again = pair.transmit(Side::Client).unwrap();
    assert_eq!(again.sent.stream_frames().collect::<Vec<_>>(), lost);
    assert!(pair.transmit(Side::Client).is_none(), "nothing else resent");
    pair.deliver(again).unwrap();
    pair.run(&mut sink);
    assert_eq!(sink.bytes(Side::Server, id), &data[..]);
    assert!(sink.finished.contains(&(Side::Server, id)));
}

#[test]
fn a_lost_fin_alone_is_resent_alone() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink::default();
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.write(id, pattern(6, 100)).unwrap();
    let data = pair.transmit(Side::Client).unwrap();
    pair.client.finish(id).unwrap();
    let fin = pair.transmit(Side::Client).unwrap();
    assert_eq!(
        fin.sent.stream_frames().collect::<Vec<_>>(),
        [(id, 100..100, true)]
    );
    pair.deliver(data).unwrap();
    pair.lose(fin);
    let again = pair.transmit(Side::Client).unwrap();
    assert_eq!(
        again.sent.stream_frames().collect::<Vec<_>>(),
        [(id, 100..100, true)]
    );
    pair.deliver(again).unwrap();
    pair.run(&mut sink);
    assert!(sink.finished.contains(&(Side::Server, id)));
}

#[test]
fn data_acknowledged_by_a_later_copy_is_not_resent() {
    let mut pair = Pair::new(&small_config());
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.write(id, pattern(7, 500)).unwrap();
    let first = pair.transmit(Side::Client).unwrap();
    pair.lose(Packet {
        from: Side::Client,
        payload: first.payload.clone(),
        sent: first.sent.clone(),
    });
    let copy = pair.transmit(Side::Client).unwrap();
    pair.deliver(copy).unwrap();
    // The first packet was only late: losing it again must resend nothing.
    pair.lose(first);
    assert!(pair.transmit(Side::Client).is_none());
}

#[test]
fn acknowledged_data_is_freed_from_the_send_buffer() {
    let mut pair = Pair::new(&small_config());
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.write(id, pattern(8, 3000)).unwrap();
    assert_eq!(pair.client.send_buffered(id), Some(3000));
    let first = pair.transmit(Side::Client).unwrap();
    let sent: u64 = first
        .sent
        .stream_frames()
        .map(|(_, r, _)| r.end - r.start)
        .sum();
    pair.deliver(first).unwrap();
    assert_eq!(pair.client.send_buffered(id), Some(3000 - sent));
    while let Some(packet) = pair.transmit(Side::Client) {
        pair.deliver(packet).unwrap();
    }
    assert_eq!(pair.client.send_buffered(id), Some(0));
}

#[test]
fn lost_control_frames_are_resent_with_current_values() {
    let mut pair = Pair::new(&small_config());
    let id = pair.client.open(Dir::Uni).unwrap();
    pair.client.reset(id, VarInt::from_u32(3)).unwrap();
    let packet = pair.transmit(Side::Client).unwrap();
    pair.lose(packet);
    let again = pair.transmit(Side::Client).unwrap();
    pair.deliver(again).unwrap();
    assert_eq!(pair.client.stream_count(), 0);
    assert_eq!(
        events(&mut pair.server),
        [
            StreamEvent::Opened { dir: Dir::Uni },
            StreamEvent::Reset {
                id,
                code: VarInt::from_u32(3)
            }
        ]
    );
}

#[test]
fn unordered_reads_return_data_behind_a_loss_once_each() {
    let mut pair = Pair::new(&small_config());
    let mut sink = Sink {
        unordered: true,
        ..Sink::default()
    };
    let id = pair.client.open(Dir::Uni).unwrap();
    let data = pattern(9, 3000);
    pair.client.write(id, data.clone()).unwrap();
    pair.client.finish(id).unwrap();
    let first = pair.transmit(Side::Client).unwrap();
    let second = pair.transmit(Side::Client).unwrap();
    let third = pair.transmit(Side::Client).unwrap();
    let late_start = third.sent.stream_frames().next().unwrap().1.start;
    pair.deliver(first).unwrap();
    pair.deliver(third).unwrap();
    sink.drain(&mut pair.server, Side::Server);
    let seen: Vec<_> = sink.seen[&(Side::Server, id)].iter().collect();
    assert_eq!(
        seen.last().map(|r| r.start),
        Some(late_start),
        "read past the gap"
    );
    // The lost packet arrives twice: once late, once retransmitted.
    pair.receive(&second).unwrap();
    pair.lose(second);
    pair.run(&mut sink);
    assert_eq!(sink.bytes(Side::Server, id), &data[..]);
    assert!(sink.finished.contains(&(Side::Server, id)));
    assert_eq!(pair.server.stream_count(), 0);
}
