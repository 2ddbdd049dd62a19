//! Many handshakes: one after another, and at once.

use tern::TransportConfig;

use crate::support::{Rt, pair, pair_with_server, timeout};

crate::on_both_runtimes!(
    a_thousand_sequential_handshakes_complete,
    two_hundred_concurrent_handshakes_complete
);

async fn a_thousand_sequential_handshakes_complete(rt: Rt) {
    let pair = pair(&rt);
    let addr = pair.server.local_addr().unwrap();
    let server = pair.server.clone();
    // The server keeps its connections: dropping the last handle closes one.
    let _acceptor = rt.spawn(async move {
        let mut held = Vec::new();
        while let Some(incoming) = server.accept().await {
            held.push(incoming.accept().unwrap());
        }
    });
    for i in 0..1000_u32 {
        let conn = timeout(&rt, pair.client.connect(addr, "localhost").unwrap())
            .await
            .unwrap_or_else(|e| panic!("handshake {i}: {e}"));
        assert!(conn.try_handshake_info().is_some());
        conn.close(tern::VarInt::from_u32(0), b"");
    }
}

async fn two_hundred_concurrent_handshakes_complete(rt: Rt) {
    // All 200 come from 127.0.0.1 at once: beyond the default
    // `max_handshakes_per_address` (64), which refuses them even after a
    // Retry, as it should a flood from one address. This test is about the
    // endpoint's scale, so its server takes them all.
    let pair = pair_with_server(&rt, TransportConfig::default(), |server| {
        server.max_handshakes_per_address = 200;
    });
    let addr = pair.server.local_addr().unwrap();
    let server = pair.server.clone();
    // The server keeps its connections: dropping the last handle closes one.
    let _acceptor = rt.spawn(async move {
        let mut held = Vec::new();
        while let Some(incoming) = server.accept().await {
            held.push(incoming.accept().unwrap());
        }
    });
    let mut connecting = Vec::new();
    for _ in 0..200 {
        connecting.push(pair.client.connect(addr, "localhost").unwrap());
    }
    for (i, c) in connecting.into_iter().enumerate() {
        let conn = timeout(&rt, c)
            .await
            .unwrap_or_else(|e| panic!("handshake {i}: {e}"));
        assert!(conn.try_handshake_info().is_some());
    }
    let stats = pair.server.stats();
    assert_eq!(stats.refused_address_limit, 0);
}
