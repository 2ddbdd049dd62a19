//! Random writes, reads, losses and acknowledgments deliver every byte.

use proptest::prelude::*;

use super::*;

/// One step of a random exchange.
#[derive(Debug, Clone)]
enum Step {
    /// Write `len` bytes to stream `stream` (of the client's streams).
    Write { stream: usize, len: usize },
    /// Finish stream `stream`.
    Finish { stream: usize },
    /// The client sends a packet; it is lost, delivered, or held back.
    Send { fate: u8 },
    /// Deliver or lose the oldest held packet.
    Flush { lose: bool },
    /// The server reads everything it can, in order or not.
    Read { ordered: bool, max_len: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..4_usize, 1..3000_usize).prop_map(|(stream, len)| Step::Write { stream, len }),
        1 => (0..4_usize).prop_map(|stream| Step::Finish { stream }),
        6 => (0..3_u8).prop_map(|fate| Step::Send { fate }),
        2 => any::<bool>().prop_map(|lose| Step::Flush { lose }),
        2 => (any::<bool>(), 0..2000_usize)
            .prop_map(|(ordered, max_len)| Step::Read { ordered, max_len }),
    ]
}

proptest! {
    #[test]
    fn random_writes_losses_and_acks_deliver_every_stream_intact(
        steps in proptest::collection::vec(step(), 1..120)
    ) {
        let mut pair = Pair::new(&small_config());
        let mut sink = Sink::default();
        let ids: Vec<_> = (0..4).map(|_| pair.client.open(Dir::Uni).unwrap()).collect();
        let mut written: Vec<Vec<u8>> = vec![Vec::new(); 4];
        let mut finished = [false; 4];
        let mut held: VecDeque<Packet> = VecDeque::new();
        for step in steps {
            match step {
                Step::Write { stream, len } if !finished[stream] => {
                    let data = pattern(len64(written[stream].len()), len);
                    if let Ok(n) = pair.client.write(ids[stream], data.clone()) {
                        written[stream].extend_from_slice(&data[..n]);
                    }
                }
                Step::Finish { stream } if !finished[stream] => {
                    pair.client.finish(ids[stream]).unwrap();
                    finished[stream] = true;
                }
                Step::Send { fate } => {
                    if let Some(packet) = pair.transmit(Side::Client) {
                        match fate {
                            0 => pair.lose(packet),
                            1 => pair.deliver(packet).unwrap(),
                            _ => held.push_back(packet),
                        }
                    }
                }
                Step::Flush { lose } => {
                    if let Some(packet) = held.pop_front() {
                        if lose {
                            pair.lose(packet);
                        } else {
                            pair.deliver(packet).unwrap();
                        }
                    }
                }
                Step::Read { ordered, max_len } => {
                    sink.unordered = !ordered;
                    sink.max_len = max_len;
                    sink.drain(&mut pair.server, Side::Server);
                }
                _ => {}
            }
            if let Some(packet) = pair.transmit(Side::Server) {
                pair.deliver(packet).unwrap();
            }
        }
        // Whatever is still held arrives late, then everything settles.
        while let Some(packet) = held.pop_front() {
            pair.deliver(packet).unwrap();
        }
        for (n, id) in ids.iter().enumerate() {
            if !finished[n] {
                pair.client.finish(*id).unwrap();
            }
        }
        sink.unordered = false;
        sink.max_len = 0;
        pair.run(&mut sink);
        for (n, id) in ids.iter().enumerate() {
            prop_assert_eq!(sink.bytes(Side::Server, *id), &written[n][..]);
            prop_assert!(sink.finished.contains(&(Side::Server, *id)));
        }
        prop_assert_eq!(pair.client.stream_count(), 0);
        prop_assert_eq!(pair.server.stream_count(), 0);
    }
}
