//! On a socket bound to a wildcard address, each connection and each
//! stateless answer goes out from the address the peer reached.

use std::{
    cell::RefCell,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use bytes::BytesMut;
use tern_proto::{
    config::{ClientConfig, EndpointConfig, ServerConfig},
    connection::Connection,
    endpoint::Endpoint,
};
use tern_sim::{
    LinkConfig, Sim, TraceEvent, certs, epoch,
    quic::{CLIENT_ADDR, SERVER_ADDR, accept_all},
};

use super::{CLIENT, client_initial, drain_transmits};

/// A second address of the server's host.
const SECOND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 4433);

/// A server endpoint on a wildcard socket (no bound address to send from).
fn wildcard_server() -> Endpoint {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    wildcard_server_with(server_tls)
}

fn wildcard_server_with(server_tls: Arc<rustls::ServerConfig>) -> Endpoint {
    Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(Arc::new(
            ServerConfig::new(server_tls).expect("the test tls config runs quic"),
        )),
        None,
        7,
    )
}

#[test]
fn a_wildcard_server_answers_from_the_address_the_client_reached() {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut sim = Sim::new(60);
    sim.set_default_link(LinkConfig::default());
    let server = sim.add_node(SERVER_ADDR, wildcard_server_with(server_tls));
    sim.add_address(server, SECOND);
    let client = sim.add_node(
        CLIENT_ADDR,
        Endpoint::new(Arc::new(EndpointConfig::default()), None, None, 8),
    );
    let sources = Rc::new(RefCell::new(Vec::new()));
    let seen = sources.clone();
    sim.on_event(move |event| {
        if let TraceEvent::Sent { from, to, .. } = event
            && *to == CLIENT_ADDR
        {
            seen.borrow_mut().push(*from);
        }
    });
    let now = sim.now();
    let client_handle = sim
        .node_mut(client)
        .connect(
            now,
            &ClientConfig::new(client_tls).expect("the test tls config runs quic"),
            SECOND,
            "localhost",
        )
        .expect("the client starts");
    let local_before = sim
        .node(client)
        .connection(client_handle)
        .and_then(Connection::local_ip);
    assert_eq!(local_before, None, "a wildcard client knows no address yet");
    let mut server_handle = None;
    let mut incoming_ip = None;
    let outcome = sim.run_until(
        |sim| {
            if let Some(id) = sim.node_mut(server).poll_incoming() {
                incoming_ip = sim.node(server).incoming(id).map(|i| i.local_ip());
                let now = sim.now();
                server_handle = sim.node_mut(server).accept_incoming(now, id, None).ok();
                let _ = sim.settle();
            }
            server_handle.is_some_and(|h| {
                sim.node(server)
                    .connection(h)
                    .is_some_and(Connection::is_handshake_confirmed)
            }) && sim
                .node(client)
                .connection(client_handle)
                .is_some_and(Connection::is_handshake_confirmed)
        },
        Duration::from_secs(10),
    );
    assert!(outcome.is_satisfied(), "{outcome:?}");
    assert_eq!(incoming_ip, Some(Some(SECOND.ip())));
    let server_conn = server_handle.and_then(|h| sim.node(server).connection(h));
    assert_eq!(
        server_conn.and_then(Connection::local_ip),
        Some(SECOND.ip())
    );
    let client_conn = sim.node(client).connection(client_handle);
    assert_eq!(
        client_conn.and_then(Connection::local_ip),
        Some(CLIENT_ADDR.ip()),
        "the client learnt its address from the server's first datagram"
    );
    let sources = sources.borrow();
    assert!(!sources.is_empty());
    assert!(
        sources.iter().all(|from| *from == SECOND),
        "every answer from the address reached: {sources:?}"
    );
}

#[test]
fn a_bound_address_is_the_source_when_no_destination_is_known() {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut endpoint = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(Arc::new(
            ServerConfig::new(server_tls).expect("the test tls config runs quic"),
        )),
        Some(SERVER_ADDR),
        9,
    );
    let initial = client_initial(61);
    endpoint.handle(epoch(), CLIENT, None, None, BytesMut::from(&initial[..]));
    let handle = accept_all_direct(&mut endpoint);
    let conn = endpoint.connection(handle).expect("accepted");
    assert_eq!(conn.local_ip(), Some(SERVER_ADDR.ip()));
    let sent = drain_transmits(&mut endpoint);
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|(transmit, _)| transmit.src_ip == Some(SERVER_ADDR.ip()))
    );
}

fn accept_all_direct(endpoint: &mut Endpoint) -> tern_proto::endpoint::ConnectionHandle {
    let id = endpoint.poll_incoming().expect("an incoming");
    endpoint
        .accept_incoming(epoch(), id, None)
        .expect("accepted")
}

#[test]
fn stateless_answers_go_out_from_the_address_they_answer() {
    let reached = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
    let mut endpoint = wildcard_server();
    // Version Negotiation (RFC 9000 §6.1).
    let mut unknown = vec![0; 1200];
    unknown[0] = 0xc0;
    unknown[1..5].copy_from_slice(&0x1a2a_3a4a_u32.to_be_bytes());
    unknown[5] = 8;
    unknown[14] = 0;
    endpoint.handle(
        epoch(),
        CLIENT,
        Some(reached),
        None,
        BytesMut::from(&unknown[..]),
    );
    // A stateless reset (RFC 9000 §10.3).
    let mut short = [0x55; 100];
    short[0] = 0x40;
    endpoint.handle(
        epoch(),
        CLIENT,
        Some(reached),
        None,
        BytesMut::from(&short[..]),
    );
    // A refusal (RFC 9000 §10.2.3).
    let initial = client_initial(62);
    endpoint.handle(
        epoch(),
        CLIENT,
        Some(reached),
        None,
        BytesMut::from(&initial[..]),
    );
    let id = endpoint.poll_incoming().expect("an incoming");
    endpoint.refuse_incoming(id);
    let sent = drain_transmits(&mut endpoint);
    assert_eq!(sent.len(), 3, "three answers");
    for (transmit, _) in &sent {
        assert_eq!(transmit.src_ip, Some(reached));
        assert_eq!(transmit.destination, CLIENT);
    }
}

/// `accept_all` is what the sim's own harness uses; it accepts with the
/// endpoint's configuration and sends at once.
#[test]
fn accept_all_accepts_every_pending_client() {
    let mut sim = Sim::new(63);
    let server = sim.add_node(SERVER_ADDR, wildcard_server());
    for seed in 64..67 {
        let initial = client_initial(seed);
        sim.node_mut(server)
            .handle(epoch(), CLIENT, None, None, BytesMut::from(&initial[..]));
    }
    assert!(accept_all(&mut sim, server).is_some());
    assert_eq!(sim.node(server).connection_count(), 3);
    assert_eq!(sim.node(server).stats().incoming, 0);
}
