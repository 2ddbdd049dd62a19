//! Event subscribers: each its own queue, `Connected` for every one of
//! them (replayed for a late one), and an explicit count when one lags.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tern::{ConnectionError, Event, Lagged, TransportConfig, VarInt};

use crate::support::{Rt, accept_every, connected, pair, pair_with, timeout};

crate::on_both_runtimes!(
    two_subscribers_and_a_late_one_all_see_connected,
    a_lagging_subscriber_is_told_how_many_events_it_missed,
);

async fn two_subscribers_and_a_late_one_all_see_connected(rt: Rt) {
    let pair = pair(&rt);
    accept_every(&rt, &pair.server);
    let addr = pair.server.local_addr().unwrap();
    let conn = pair
        .client
        .connect(addr, "localhost")
        .unwrap()
        .into_connection();
    let mut first = conn.events();
    let mut second = conn.events();
    let info = timeout(&rt, conn.handshake_info()).await.unwrap();
    let mut late = conn.events();
    for (name, events) in [
        ("first", &mut first),
        ("second", &mut second),
        ("late", &mut late),
    ] {
        match timeout(&rt, events.next()).await {
            Some(Ok(Event::Connected(snapshot))) => {
                assert!(Arc::ptr_eq(&snapshot, &info), "{name}: the same snapshot");
            }
            other => panic!("{name} subscriber began with {other:?}"),
        }
    }
    // Every subscriber sees the close, then its stream ends.
    conn.close(VarInt::from_u32(0), b"");
    for events in [&mut first, &mut second, &mut late] {
        let mut closed = false;
        while let Some(item) = timeout(&rt, events.next()).await {
            if let Ok(Event::Closed(error)) = item {
                assert_eq!(error, ConnectionError::LocallyClosed);
                closed = true;
            }
        }
        assert!(closed, "the subscriber saw the close");
    }
}

async fn a_lagging_subscriber_is_told_how_many_events_it_missed(rt: Rt) {
    let transport = TransportConfig {
        max_datagram_frame_size: Some(1200),
        datagram_receive_queue: 1000,
        ..TransportConfig::default()
    };
    let pair = pair_with(&rt, transport);
    let (conn, served) = connected(&rt, &pair).await;
    // Subscribed after the handshake, with room for two events.
    let mut slow = served.events_with_capacity(2);
    let mut keeping_up = served.events();
    for i in 0..20_u8 {
        conn.send_datagram(Bytes::from(vec![i; 10])).unwrap();
        // One datagram per packet, read before the next is sent: each
        // arrival raises an event of its own (arrivals not yet read share
        // one).
        timeout(&rt, served.read_datagram()).await.unwrap();
    }
    // The one that kept up saw Connected, then every datagram.
    assert!(matches!(
        timeout(&rt, keeping_up.next()).await,
        Some(Ok(Event::Connected(_)))
    ));
    let (mut datagram_events, mut events) = (0, 0_u64);
    while datagram_events < 20 {
        match timeout(&rt, keeping_up.next()).await {
            Some(Ok(Event::DatagramReceived)) => datagram_events += 1,
            Some(Ok(_)) => {}
            other => panic!("the subscriber that kept up got {other:?}"),
        }
        events += 1;
    }
    // The slow one: its two slots, then how many it missed, exactly.
    assert!(matches!(
        timeout(&rt, slow.next()).await,
        Some(Ok(Event::Connected(_)))
    ));
    let mut seen = 0_u64;
    let mut missed = 0_u64;
    while seen + missed < events {
        match timeout(&rt, slow.next()).await {
            Some(Ok(_)) => seen += 1,
            Some(Err(Lagged(n))) => missed += n,
            None => panic!("the stream ended"),
        }
    }
    assert_eq!(seen, 1, "one slot was left after Connected");
    assert_eq!(missed, events - 1, "every other event is counted as missed");
}
