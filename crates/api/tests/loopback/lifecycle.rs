//! The lifecycle of handles: stream drops return credit, a local close
//! says so, the last endpoint handle frees the port, the snapshot and the
//! final stats outlive the connection.

use std::{net::UdpSocket, sync::Arc, time::Duration};

use tern::{ConnectionError, TransportConfig, VarInt, WriteError, proto::streams::StreamsConfig};

use crate::support::{Rt, connected, echo_one_stream, pair, pair_with, round_trip, timeout};

crate::on_both_runtimes!(
    a_server_that_drops_unread_streams_serves_ten_thousand_sequential_requests,
    a_server_that_drops_unread_streams_serves_a_thousand_concurrent_requests,
    close_then_closed_is_locally_closed_at_once,
    dropping_the_last_endpoint_releases_the_port,
    a_held_connection_outlives_its_dropped_endpoint,
    handshake_info_and_final_stats_outlive_a_connection_the_peer_closed,
);

/// A transport whose peer may open 100 bidirectional streams at a time.
fn hundred_streams() -> TransportConfig {
    TransportConfig {
        streams: StreamsConfig {
            max_concurrent_bidi_streams: 100,
            ..StreamsConfig::default()
        },
        ..TransportConfig::default()
    }
}

/// Serves requests the way a careless handler does: reads the request
/// line only, answers, and drops both halves of the stream (the send half
/// finishes on drop, the receive half stops).
fn serve_request_lines(rt: &Rt, server: tern::Endpoint) {
    let spawner = rt.clone();
    let _server = rt.spawn(async move {
        while let Some(incoming) = server.accept().await {
            let conn = incoming.accept().expect("accept").into_connection();
            let spawner = spawner.clone();
            let _conn = spawner.clone().spawn(async move {
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    let _stream = spawner.spawn(async move {
                        let mut line = Vec::new();
                        while !line.contains(&b'\n') {
                            match recv.read_chunk(usize::MAX).await {
                                Ok(Some(chunk)) => line.extend_from_slice(&chunk),
                                _ => return,
                            }
                        }
                        let _ = send.write_all(b"ok\n").await;
                        // No finish, no read to the end: both halves drop.
                    });
                }
            });
        }
    });
}

/// One request: a line and a body, then the answer read to its end.
async fn request(conn: &tern::Connection, i: usize) {
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    let mut message = format!("GET /{i}\n").into_bytes();
    message.extend_from_slice(&[b'x'; 3000]);
    // The server may stop the stream (its receive half dropped) before
    // the body is all written: that is its answer to the rest.
    match send.write_all(&message).await.and_then(|()| send.finish()) {
        Ok(()) | Err(WriteError::Stopped(_)) => {}
        Err(error) => panic!("request {i}: {error}"),
    }
    let answer = recv.read_to_end(64).await.expect("answer");
    assert_eq!(answer, b"ok\n", "request {i}");
}

/// A client connected to a careless server (see [`serve_request_lines`])
/// that lets it open 100 streams at a time.
async fn client_of_a_careless_server(rt: &Rt) -> (crate::support::Pair, tern::Connection) {
    let pair = pair_with(rt, hundred_streams());
    serve_request_lines(rt, pair.server.clone());
    let addr = pair.server.local_addr().unwrap();
    let conn = timeout(rt, pair.client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    (pair, conn)
}

async fn a_server_that_drops_unread_streams_serves_ten_thousand_sequential_requests(rt: Rt) {
    let (_pair, conn) = client_of_a_careless_server(&rt).await;
    timeout(&rt, async {
        for i in 0..10_000 {
            request(&conn, i).await;
        }
    })
    .await;
}

async fn a_server_that_drops_unread_streams_serves_a_thousand_concurrent_requests(rt: Rt) {
    let (_pair, conn) = client_of_a_careless_server(&rt).await;
    let requests: Vec<_> = (0..1000)
        .map(|i| {
            let conn = conn.clone();
            rt.spawn(async move { request(&conn, i).await })
        })
        .collect();
    for (i, done) in requests.into_iter().enumerate() {
        timeout(&rt, done)
            .await
            .unwrap_or_else(|_| panic!("request {i} panicked"));
    }
}

async fn close_then_closed_is_locally_closed_at_once(rt: Rt) {
    let pair = pair(&rt);
    let (conn, served) = connected(&rt, &pair).await;
    assert_eq!(conn.close_reason(), None);
    conn.close(VarInt::from_u32(7), b"done");
    // No turn of the event loop in between: the answer is already known.
    assert_eq!(conn.close_reason(), Some(ConnectionError::LocallyClosed));
    assert_eq!(conn.closed().await, ConnectionError::LocallyClosed);
    assert!(matches!(
        conn.open_bi().await,
        Err(ConnectionError::LocallyClosed)
    ));
    // The peer learns the code.
    match timeout(&rt, served.closed()).await {
        ConnectionError::Application { code, .. } => assert_eq!(code, VarInt::from_u32(7)),
        other => panic!("the server saw {other}"),
    }
}

async fn dropping_the_last_endpoint_releases_the_port(rt: Rt) {
    let pair = pair(&rt);
    let addr = pair.server.local_addr().unwrap();
    // A connection came and went: the endpoint has run for real.
    let (conn, served) = connected(&rt, &pair).await;
    drop((conn, served));
    timeout(&rt, pair.server.wait_idle()).await;
    let clone = pair.server.clone();
    drop(pair.server);
    assert!(
        UdpSocket::bind(addr).is_err(),
        "a clone still holds the endpoint"
    );
    drop(clone);
    let socket = UdpSocket::bind(addr).expect("the port is free once the last handle is gone");
    drop(socket);
}

async fn a_held_connection_outlives_its_dropped_endpoint(rt: Rt) {
    let pair = pair(&rt);
    let addr = pair.server.local_addr().unwrap();
    let (conn, served) = connected(&rt, &pair).await;
    drop(pair.server);
    // The server's connection still answers.
    let echo = echo_one_stream(&rt, served);
    round_trip(&rt, &conn, b"still here").await;
    let served = timeout(&rt, echo).await.unwrap();
    // New clients are turned away: nobody can accept them.
    let refused = timeout(&rt, pair.client.connect(addr, "localhost").unwrap()).await;
    assert!(refused.is_err(), "a dropped endpoint took a new connection");
    // Once the last connection handle goes, the connection closes, drains,
    // and the socket closes with the event loop.
    drop(served);
    timeout(&rt, async {
        while UdpSocket::bind(addr).is_err() {
            rt.sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn handshake_info_and_final_stats_outlive_a_connection_the_peer_closed(rt: Rt) {
    let pair = pair(&rt);
    let addr = pair.server.local_addr().unwrap();
    let server = pair.server.clone();
    let accepting = rt.spawn(async move {
        let incoming = server.accept().await.expect("incoming");
        // Accepted, but nobody awaits the handshake yet.
        Some(incoming.accept().expect("accept"))
    });
    let conn = timeout(&rt, pair.client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    let connecting = timeout(&rt, accepting).await.unwrap().unwrap();
    let client_info = conn.handshake_info().await.unwrap();
    conn.close(VarInt::from_u32(3), b"bye");
    drop(conn);
    // The server's connection closes and drains before anyone asks.
    timeout(&rt, pair.server.wait_idle()).await;
    assert_eq!(pair.server.open_connections(), 0);
    let info = timeout(&rt, connecting.handshake_info()).await.unwrap();
    assert_eq!(info.cipher_suite(), client_info.cipher_suite());
    let served = timeout(&rt, connecting).await.unwrap();
    assert!(Arc::ptr_eq(&info, &served.try_handshake_info().unwrap()));
    match served.closed().await {
        ConnectionError::Application {
            code, closed_by, ..
        } => {
            assert_eq!(code, VarInt::from_u32(3));
            assert_eq!(closed_by, tern::proto::connection::Closer::Peer);
        }
        other => panic!("closed with {other}"),
    }
    let stats = served.stats();
    assert!(
        stats.packets_received > 0 && stats.packets_sent > 0,
        "final stats, not zeros: {stats:?}"
    );
}

// The local close is known at once on a current-thread runtime too, where
// the event loop cannot run between `close` and `closed`.
#[test]
fn close_then_closed_is_locally_closed_on_a_current_thread_runtime() {
    crate::support::run_tokio_current_thread(close_then_closed_is_locally_closed_at_once);
}
