//! Priorities and fairness among streams (RFC 9000 §2.3).

use super::*;

/// The stream of each STREAM frame in the next `packets` client packets.
fn order(pair: &mut Pair, packets: usize) -> Vec<StreamId> {
    let mut order = Vec::new();
    for _ in 0..packets {
        let packet = pair.transmit(Side::Client).unwrap();
        order.extend(packet.sent.stream_frames().map(|(id, _, _)| id));
        pair.deliver(packet).unwrap();
    }
    order
}

#[test]
fn streams_with_lower_urgency_are_sent_first() {
    let mut pair = Pair::new(&small_config());
    let low = pair.client.open(Dir::Uni).unwrap();
    let high = pair.client.open(Dir::Uni).unwrap();
    pair.client.set_priority(high, -1).unwrap();
    pair.client.write(low, pattern(1, 3000)).unwrap();
    pair.client.write(high, pattern(2, 3000)).unwrap();
    let order = order(&mut pair, 6);
    let first_low = order.iter().position(|&id| id == low).unwrap();
    assert!(order[..first_low].iter().all(|&id| id == high));
    assert_eq!(
        order[..first_low].len(),
        3,
        "all of the urgent stream first"
    );
}

#[test]
fn streams_of_equal_urgency_take_turns() {
    let mut pair = Pair::new(&small_config());
    let ids: Vec<_> = (0..3)
        .map(|_| pair.client.open(Dir::Uni).unwrap())
        .collect();
    for (n, id) in ids.iter().enumerate() {
        pair.client.write(*id, pattern(n as u64, 4000)).unwrap();
    }
    let order = order(&mut pair, 6);
    assert_eq!(order, [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2]]);
}

#[test]
fn small_writes_from_several_streams_share_one_packet() {
    let mut pair = Pair::new(&small_config());
    let ids: Vec<_> = (0..4).map(|_| pair.client.open(Dir::Bi).unwrap()).collect();
    for id in &ids {
        pair.client
            .write(*id, Bytes::from_static(b"hello"))
            .unwrap();
    }
    assert_eq!(order(&mut pair, 1), ids);
}
