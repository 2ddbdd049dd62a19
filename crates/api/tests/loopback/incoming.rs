//! `Incoming`: the server decides before any TLS work (accept, refuse,
//! retry, ignore); per-connection configuration; the address a client sent
//! to on a wildcard socket.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tern::{
    ConnectionError, Endpoint, EndpointConfig, RetryError, ServerConfig, TransportConfig,
    proto::connection::Closer, tls,
};

use crate::support::{ALPN, Rt, cert, echo_one_stream, pair, pair_with, round_trip, timeout};

crate::on_both_runtimes!(
    a_refused_client_learns_it_at_once,
    an_ignored_client_hears_nothing,
    accept_with_gives_one_connection_its_own_configuration,
    on_a_wildcard_socket_local_ip_is_the_address_the_client_sent_to,
    a_retried_client_is_sent_a_retry_and_nothing_is_kept,
    a_client_retried_by_the_accept_loop_comes_back_validated_and_is_accepted,
);

async fn a_refused_client_learns_it_at_once(rt: Rt) {
    let pair = pair(&rt);
    let addr = pair.server.local_addr().unwrap();
    let connecting = pair.client.connect(addr, "localhost").unwrap();
    let incoming = timeout(&rt, pair.server.accept()).await.unwrap();
    assert_eq!(
        incoming.remote_address(),
        Some(pair.client.local_addr().unwrap()),
        "the client's address is known before any TLS work"
    );
    assert!(!incoming.remote_address_validated());
    incoming.refuse();
    match timeout(&rt, connecting).await {
        Err(ConnectionError::Transport { error, closed_by }) => {
            // RFC 9000 §20.1: CONNECTION_REFUSED is 0x2.
            assert_eq!(
                error.code,
                tern::proto::TransportErrorCode::CONNECTION_REFUSED
            );
            assert_eq!(closed_by, Closer::Peer);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pair.server.open_connections(), 0);
}

async fn an_ignored_client_hears_nothing(rt: Rt) {
    let transport = TransportConfig {
        max_idle_timeout: Some(Duration::from_millis(500)),
        ..TransportConfig::default()
    };
    let pair = pair_with(&rt, transport);
    let addr = pair.server.local_addr().unwrap();
    let connecting = pair.client.connect(addr, "localhost").unwrap();
    let incoming = timeout(&rt, pair.server.accept()).await.unwrap();
    incoming.ignore();
    match timeout(&rt, connecting).await {
        Err(ConnectionError::TimedOut(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(pair.server.open_connections(), 0);
}

async fn accept_with_gives_one_connection_its_own_configuration(rt: Rt) {
    let pair = pair(&rt);
    let addr = pair.server.local_addr().unwrap();
    // This connection gets its own ALPN list, and keeps its TLS session.
    let (cert, key) = cert();
    let mut own: ServerConfig = tls::server_config(vec![cert.clone()], key, &[b"other"]).unwrap();
    own.retain_tls_state = true;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = tls::client_config(roots, &[ALPN, b"other"]).unwrap();
    let connecting = pair
        .client
        .connect_with(&client_config, addr, "localhost")
        .unwrap();
    let incoming = timeout(&rt, pair.server.accept()).await.unwrap();
    let served = incoming.accept_with(Arc::new(own)).unwrap();
    let conn = timeout(&rt, connecting).await.unwrap();
    let served = timeout(&rt, served).await.unwrap();
    assert_eq!(
        conn.try_handshake_info().unwrap().alpn(),
        Some(&b"other"[..])
    );
    rt.sleep(Duration::from_millis(200)).await;
    assert!(served.stats().tls_state_retained, "its own retain setting");
    let mut out = [0; 16];
    served
        .export_keying_material(&mut out, b"label", None)
        .expect("the retained session exports");
}

async fn on_a_wildcard_socket_local_ip_is_the_address_the_client_sent_to(rt: Rt) {
    let (cert, key) = cert();
    let server_config = tls::server_config(vec![cert.clone()], key, &[ALPN]).unwrap();
    let server = Endpoint::new_with_runtime(
        EndpointConfig::default(),
        Some(server_config),
        "[::]:0".parse().unwrap(),
        rt.0.clone(),
    )
    .unwrap();
    let port = server.local_addr().unwrap().port();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = tls::client_config(roots, &[ALPN]).unwrap();
    for client_ip in ["::1", "127.0.0.1"] {
        let client_ip: std::net::IpAddr = client_ip.parse().unwrap();
        let client = Endpoint::new_with_runtime(
            EndpointConfig::default(),
            None,
            SocketAddr::new(client_ip, 0),
            rt.0.clone(),
        )
        .unwrap();
        let to = SocketAddr::new(client_ip, port);
        let connecting = client
            .connect_with(&client_config, to, "localhost")
            .unwrap();
        let incoming = timeout(&rt, server.accept()).await.unwrap();
        // A v4 client reaches a dual-stack socket as a v4-mapped address.
        let expected = |ip: Option<std::net::IpAddr>| ip.map(|ip| ip.to_canonical());
        assert_eq!(expected(incoming.local_ip()), Some(client_ip));
        let served = incoming.accept().unwrap();
        let conn = timeout(&rt, connecting).await.unwrap();
        let served = timeout(&rt, served).await.unwrap();
        assert_eq!(expected(served.local_ip()), Some(client_ip));
        assert!(conn.try_handshake_info().is_some());
    }
}

// RFC 9000 §8.1.2 (test): retry() answers with a Retry packet and keeps
// no state for the client.
async fn a_retried_client_is_sent_a_retry_and_nothing_is_kept(rt: Rt) {
    let pair = pair(&rt);
    let client = raw_client(&rt, pair.server.local_addr().unwrap());
    let incoming = timeout(&rt, pair.server.accept()).await.unwrap();
    assert!(!incoming.remote_address_validated());
    incoming.retry().unwrap();
    let first = timeout(&rt, next_datagram(&rt, &client)).await;
    // RFC 9000 §17.2.5: a long header whose type bits say Retry (v1: 0b11).
    assert_eq!(
        first[0] & 0xf0,
        0xf0,
        "a Retry packet, first byte {first:#04x?}"
    );
    let stats = pair.server.stats();
    assert_eq!(stats.retries_sent, 1);
    assert_eq!(pair.server.open_connections(), 0);
}

// RFC 9000 §8.1.2 (test): an accept loop that retries every client whose
// address is not validated, and accepts the one that came back with the
// Retry's token; the snapshot on both sides says a Retry was used.
async fn a_client_retried_by_the_accept_loop_comes_back_validated_and_is_accepted(rt: Rt) {
    let pair = pair(&rt);
    let addr = pair.server.local_addr().unwrap();
    let server = pair.server.clone();
    let accepting = rt.spawn(async move {
        let mut retried = 0;
        loop {
            let incoming = server.accept().await.expect("incoming");
            if !incoming.remote_address_validated() {
                incoming.retry().expect("retry an unvalidated client");
                retried += 1;
                continue;
            }
            // A validated client cannot be retried: it comes back undecided.
            let incoming = match incoming.retry() {
                Err(RetryError::AddressValidated(incoming)) => incoming,
                other => panic!("{other:?}"),
            };
            let conn = incoming.accept().expect("accept").await.expect("handshake");
            return (retried, conn);
        }
    });
    let conn = timeout(&rt, pair.client.connect(addr, "localhost").unwrap())
        .await
        .expect("the client follows the Retry");
    let (retried, served) = timeout(&rt, accepting).await.unwrap();
    assert_eq!(retried, 1);
    let client_info = timeout(&rt, conn.handshake_info()).await.unwrap();
    let server_info = timeout(&rt, served.handshake_info()).await.unwrap();
    assert!(client_info.retry_used(), "the client followed a Retry");
    assert!(server_info.retry_used(), "the server validated by Retry");
    let stats = pair.server.stats();
    assert_eq!(stats.retries_sent, 1);
    assert_eq!(stats.validated_by_retry, 1);
    // The connection carries data like any other.
    let echo = echo_one_stream(&rt, served);
    round_trip(&rt, &conn, b"after a retry").await;
    timeout(&rt, echo).await.unwrap();
}

/// The next datagram that reaches `socket`, polled without blocking the
/// runtime, so that the event loop runs meanwhile on any runtime.
async fn next_datagram(rt: &Rt, socket: &std::net::UdpSocket) -> Vec<u8> {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0; 2048];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((len, _)) => return buf[..len].to_vec(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                rt.sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// A client's first Initial, from a protocol endpoint on a plain socket
/// that the test reads itself.
fn raw_client(rt: &Rt, to: SocketAddr) -> std::net::UdpSocket {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut client = tern::proto::endpoint::Endpoint::new(
        Arc::new(EndpointConfig::default()),
        None,
        Some(socket.local_addr().unwrap()),
        11,
    );
    let now = rt.0.now();
    client
        .connect(
            now,
            &crate::support::client_trusting_another_certificate(),
            to,
            "localhost",
        )
        .unwrap();
    let mut buf = Vec::new();
    while let Some(transmit) = client.poll_transmit(now, 1, &mut buf) {
        socket.send_to(&buf[..transmit.size], to).unwrap();
        buf.clear();
    }
    socket
}

/// Whether a datagram reaches `socket` within a second, read blocking: on
/// a current-thread runtime no task, the event loop included, runs then.
fn datagram_arrives(socket: &std::net::UdpSocket) -> bool {
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    socket.recv_from(&mut [0; 2048]).is_ok()
}

// On a runtime that runs woken tasks in turn, an accepted client's answer
// and a new connection's first Initial leave from the call itself, not
// when the event loop's turn comes after every other task: a server that
// accepts a burst of clients answers each at once.
#[test]
fn the_first_flight_leaves_from_accept_and_connect_on_a_current_thread_runtime() {
    crate::support::run_tokio_current_thread(the_first_flight_leaves_from_accept_and_connect);
}

async fn the_first_flight_leaves_from_accept_and_connect(rt: Rt) {
    let pair = pair(&rt);
    let client = raw_client(&rt, pair.server.local_addr().unwrap());
    let incoming = timeout(&rt, pair.server.accept()).await.unwrap();
    let _connecting = incoming.accept().unwrap();
    assert!(
        datagram_arrives(&client),
        "the server's Initial left from accept"
    );

    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let _connecting = pair
        .client
        .connect(server.local_addr().unwrap(), "localhost")
        .unwrap();
    assert!(
        datagram_arrives(&server),
        "the client's Initial left from connect"
    );
}
