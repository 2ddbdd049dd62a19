//! The rest of the connection's surface: datagram flow control, key
//! updates on demand, identities and counts, and wake-ups per stream.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Wake, Waker},
    time::Duration,
};

use bytes::Bytes;
use tern::{SendDatagramError, TransportConfig, proto::streams::StreamsConfig};

use crate::support::{Rt, connected, echo_one_stream, pair, pair_with, round_trip, timeout};

crate::on_both_runtimes!(
    datagrams_wait_for_room_instead_of_dropping,
    a_key_update_on_demand_reaches_the_peer,
    connections_have_stable_ids_and_are_counted,
    a_thousand_stream_connection_wakes_only_the_reader_whose_stream_changed,
);

async fn datagrams_wait_for_room_instead_of_dropping(rt: Rt) {
    let transport = TransportConfig {
        max_datagram_frame_size: Some(1200),
        datagram_receive_queue: 1000,
        datagram_send_buffer_size: 4000,
        ..TransportConfig::default()
    };
    let pair = pair_with(&rt, transport);
    let (conn, served) = connected(&rt, &pair).await;
    let max = conn.max_datagram_size().expect("the peer takes datagrams");
    assert!((1000..=1200).contains(&max), "max datagram size {max}");
    assert!(matches!(
        conn.send_datagram(Bytes::from(vec![0; max + 1])),
        Err(SendDatagramError::TooLarge { .. })
    ));
    assert!(conn.datagram_send_buffer_space() <= 4000);
    // 100 datagrams of 1000 bytes through a 4000-byte queue: the sender
    // waits for room, so none is dropped.
    let reader = rt.spawn(async move {
        for _ in 0..100 {
            served.read_datagram().await.expect("datagram");
        }
        served
    });
    for i in 0..100_u8 {
        timeout(&rt, conn.send_datagram_wait(Bytes::from(vec![i; 1000])))
            .await
            .unwrap();
    }
    let served = timeout(&rt, reader).await.unwrap();
    assert_eq!(conn.stats().datagrams_dropped, 0);
    assert_eq!(served.stats().datagrams_dropped, 0);
}

async fn a_key_update_on_demand_reaches_the_peer(rt: Rt) {
    let pair = pair(&rt);
    let (conn, served) = connected(&rt, &pair).await;
    // A key update needs a confirmed handshake (RFC 9001 §6).
    timeout(&rt, async {
        while !conn.force_key_update() {
            rt.sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let echo = echo_one_stream(&rt, served);
    round_trip(&rt, &conn, b"new keys").await;
    let served = timeout(&rt, echo).await.unwrap();
    assert!(conn.stats().key_updates >= 1);
    assert!(served.stats().key_updates >= 1, "the peer followed");
}

async fn connections_have_stable_ids_and_are_counted(rt: Rt) {
    let pair = pair(&rt);
    let (a, served_a) = connected(&rt, &pair).await;
    let (b, served_b) = connected(&rt, &pair).await;
    assert_ne!(a.stable_id(), b.stable_id());
    assert_eq!(a.stable_id(), a.clone().stable_id());
    assert_ne!(served_a.stable_id(), served_b.stable_id());
    assert_eq!(pair.client.open_connections(), 2);
    assert_eq!(pair.server.open_connections(), 2);
    assert_eq!(pair.server.stats().connections, 2);
}

/// Counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn a_thousand_stream_connection_wakes_only_the_reader_whose_stream_changed(rt: Rt) {
    const STREAMS: usize = 1000;
    let transport = TransportConfig {
        streams: StreamsConfig {
            max_concurrent_uni_streams: STREAMS as u64,
            ..StreamsConfig::default()
        },
        ..TransportConfig::default()
    };
    let pair = pair_with(&rt, transport);
    let (conn, served) = connected(&rt, &pair).await;
    let mut sending = Vec::new();
    for _ in 0..STREAMS {
        let mut send = conn.open_uni().await.unwrap();
        send.write_all(b"a").await.unwrap();
        sending.push(send);
    }
    let mut readers = Vec::new();
    for _ in 0..STREAMS {
        let mut recv = timeout(&rt, served.accept_uni()).await.unwrap();
        let first = timeout(&rt, recv.read_chunk(usize::MAX)).await.unwrap();
        assert_eq!(first.as_deref(), Some(&b"a"[..]));
        readers.push(recv);
    }
    // Every reader waits on its own stream, with a waker that counts.
    let counts: Vec<Arc<Count>> = (0..STREAMS).map(|_| Arc::default()).collect();
    for (recv, count) in readers.iter_mut().zip(&counts) {
        let waker = Waker::from(count.clone());
        let poll = recv.poll_read_chunk(&mut Context::from_waker(&waker), usize::MAX);
        assert!(poll.is_pending());
    }
    // Data on one stream, in the middle.
    let chosen = STREAMS / 2;
    sending[chosen].write_all(b"b").await.unwrap();
    timeout(&rt, async {
        while counts[chosen].0.load(Ordering::SeqCst) == 0 {
            rt.sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // Let acknowledgements and flow-control updates come and go.
    rt.sleep(Duration::from_millis(200)).await;
    let others: usize = counts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != chosen)
        .map(|(_, c)| c.0.load(Ordering::SeqCst))
        .sum();
    assert_eq!(others, 0, "readers of unchanged streams were woken");
    assert_eq!(counts[chosen].0.load(Ordering::SeqCst), 1);
}
