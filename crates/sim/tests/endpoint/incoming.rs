//! New clients wait as incomings for the owner's decision: accepted,
//! refused (RFC 9000 §10.2.3) or ignored, bounded in number, in held
//! datagrams and in time.

use std::{cell::Cell, rc::Rc, sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use tern_proto::{
    EncryptionLevel, Frame, Frames, Side, TransportErrorCode,
    config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig},
    connection::{Closer, ConnectionError, Event},
    crypto::Keys,
    endpoint::{AcceptError, Endpoint, InitialRefusal},
    packet::{DecodeOptions, InvariantHeader, PacketType, PartialDecode, Version},
};
use tern_sim::{
    LinkConfig, RunOutcome, TraceEvent, certs, epoch,
    pair::{Pair, SERVER},
    quic::SERVER_ADDR,
};

use super::{CLIENT, accept_one, client_initial, drain_transmits, feed, feed_initials, server};

const LIMIT: Duration = Duration::from_secs(60);

/// The DCID and SCID of a client's first Initial.
fn cids(datagram: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let header = InvariantHeader::parse(datagram, 8).expect("a long header");
    let scid = header.scid().expect("a long header has an SCID");
    (header.dcid().to_vec(), scid.to_vec())
}

/// Opens a server's Initial with the client's keys for the client's
/// original DCID `dcid`: its DCID, SCID and frames.
fn open_server_initial(datagram: &[u8], dcid: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<Frame>) {
    let keys = Keys::initial(Version::V1, dcid, Side::Client);
    let mut data = BytesMut::from(datagram);
    let options = DecodeOptions::new(8).expect("8 is a valid length");
    let mut packet = PartialDecode::split_from(&mut data, options).expect("a packet");
    assert_eq!(packet.packet_type(), PacketType::Initial);
    assert!(data.is_empty(), "one packet in the datagram");
    let header = (
        packet.dcid().to_vec(),
        packet.scid().expect("an SCID").to_vec(),
    );
    let opened = keys
        .remote
        .open_decoded(&mut packet, None)
        .expect("the client's keys open it");
    let payload = Bytes::copy_from_slice(&packet.data()[opened.payload]);
    let frames = Frames::new(payload, EncryptionLevel::Initial)
        .collect::<Result<Vec<_>, _>>()
        .expect("its frames parse");
    (header.0, header.1, frames)
}

/// Whether `frames` hold CONNECTION_CLOSE with CONNECTION_REFUSED.
fn is_refusal(frames: &[Frame]) -> bool {
    frames.iter().any(|frame| {
        matches!(frame, Frame::ConnectionClose(close)
            if close.error_code == TransportErrorCode::CONNECTION_REFUSED)
    })
}

#[test]
fn a_client_initial_waits_as_an_incoming_with_no_connection() {
    let mut endpoint = server();
    let initial = client_initial(30);
    feed(&mut endpoint, &initial);
    assert_eq!(endpoint.connection_count(), 0);
    assert_eq!(endpoint.stats().incoming, 1);
    let id = endpoint.poll_incoming().expect("an incoming");
    assert!(endpoint.poll_incoming().is_none(), "handed out once");
    let info = endpoint.incoming(id).expect("pending");
    assert_eq!(info.remote(), CLIENT);
    assert_eq!(info.local_ip(), Some(SERVER_ADDR.ip()));
    assert!(!info.remote_address_validated(), "no Retry yet");
    assert_eq!(&info.original_dcid()[..], &cids(&initial).0[..]);
    assert_eq!(info.version(), Version::V1);
    assert_eq!(info.received_at(), epoch());
    assert!(
        drain_transmits(&mut endpoint).is_empty(),
        "nothing sent yet"
    );
}

#[test]
fn a_deferred_accept_does_the_handshake_work_at_handle_deferred() {
    // The same client accepted at once and deferred: the deferred one
    // makes its connection but sends nothing, and processes nothing, until
    // the owner calls handle_deferred; then it sends the same flight.
    let initial = client_initial(31);
    let mut at_once = server();
    feed(&mut at_once, &initial);
    accept_one(&mut at_once);
    let flight = drain_transmits(&mut at_once);
    assert!(!flight.is_empty(), "the server's first flight");

    let mut later = server();
    feed(&mut later, &initial);
    let id = later.poll_incoming().expect("an incoming");
    later
        .accept_incoming_deferred(epoch(), id, None)
        .expect("accepted");
    assert_eq!(later.connection_count(), 1);
    assert!(later.has_deferred());
    assert!(
        drain_transmits(&mut later).is_empty(),
        "no TLS work yet, so nothing to send"
    );
    assert!(!later.handle_deferred(epoch(), 0), "no client asked for");
    assert!(later.has_deferred());
    assert!(later.handle_deferred(epoch(), 1));
    assert!(!later.has_deferred());
    assert!(!later.handle_deferred(epoch(), 1), "nothing left");
    let deferred_flight = drain_transmits(&mut later);
    assert_eq!(
        deferred_flight.iter().map(|(t, _)| t.size).sum::<usize>(),
        flight.iter().map(|(t, _)| t.size).sum::<usize>(),
        "the same flight, once the datagrams reached the connection"
    );
}

#[test]
fn a_refused_incoming_is_answered_with_connection_refused_in_an_initial() {
    // RFC 9000 §10.2.3 (test): the refusal is an Initial packet carrying
    // CONNECTION_CLOSE with CONNECTION_REFUSED (§20.1), under the Initial
    // keys of the client's DCID, addressed to the client's SCID.
    let mut endpoint = server();
    let initial = client_initial(31);
    let (dcid, client_scid) = cids(&initial);
    feed(&mut endpoint, &initial);
    let id = endpoint.poll_incoming().expect("an incoming");
    endpoint.refuse_incoming(id);
    assert!(endpoint.incoming(id).is_none());
    let sent = drain_transmits(&mut endpoint);
    assert_eq!(sent.len(), 1, "one refusal");
    let (transmit, datagram) = &sent[0];
    assert_eq!(transmit.destination, CLIENT);
    assert_eq!(transmit.src_ip, Some(SERVER_ADDR.ip()));
    let (to, from, frames) = open_server_initial(datagram, &dcid);
    assert_eq!(to, client_scid, "to the client's SCID");
    assert_eq!(from.len(), 8, "from a connection ID of ours");
    assert_ne!(from, dcid, "a fresh one");
    assert!(is_refusal(&frames), "{frames:?}");
    assert!(datagram.len() < initial.len(), "no amplification");
    assert!(matches!(
        endpoint.accept_incoming(epoch(), id, None),
        Err(AcceptError::UnknownIncoming)
    ));
    assert!(
        drain_transmits(&mut endpoint).is_empty(),
        "an unknown incoming is not answered"
    );
    assert_eq!(endpoint.stats().incoming, 0);
    assert_eq!(endpoint.connection_count(), 0);
}

#[test]
fn an_ignored_incoming_is_forgotten_without_an_answer() {
    let mut endpoint = server();
    feed(&mut endpoint, &client_initial(32));
    let id = endpoint.poll_incoming().expect("an incoming");
    let dropped = endpoint.stats().dropped_datagrams;
    endpoint.ignore_incoming(id);
    assert!(endpoint.incoming(id).is_none());
    assert!(drain_transmits(&mut endpoint).is_empty());
    assert_eq!(endpoint.stats().dropped_datagrams, dropped + 1);
    assert_eq!(endpoint.poll_timeout(), None, "no timer left");
    assert!(matches!(
        endpoint.accept_incoming(epoch(), id, None),
        Err(AcceptError::UnknownIncoming)
    ));
}

#[test]
fn an_initial_with_a_flipped_bit_creates_no_incoming() {
    // RFC 9001 §5.2 (test): only an Initial that authenticates under the
    // keys of its DCID becomes an incoming.
    let mut endpoint = server();
    let mut initial = client_initial(33);
    let last = initial.len() - 1;
    initial[last] ^= 1;
    feed(&mut endpoint, &initial);
    assert_eq!(endpoint.stats().incoming, 0);
    assert_eq!(endpoint.stats().dropped_datagrams, 1);
    assert!(drain_transmits(&mut endpoint).is_empty());
}

#[test]
fn datagrams_for_a_pending_client_are_held_bounded_and_replayed_on_accept() {
    let mut endpoint = server();
    let initial = client_initial(34);
    for _ in 0..10 {
        feed(&mut endpoint, &initial);
    }
    // The same DCID from elsewhere is not the client's.
    endpoint.handle(
        epoch(),
        "192.0.2.9:1234".parse().expect("an address"),
        None,
        None,
        BytesMut::from(&initial[..]),
    );
    let stats = endpoint.stats();
    assert_eq!(stats.incoming, 1, "one client");
    assert_eq!(
        stats.dropped_datagrams, 3,
        "8 held, 2 beyond, 1 from elsewhere"
    );
    let handle = accept_one(&mut endpoint);
    let conn = endpoint.connection(handle).expect("the connection");
    assert_eq!(conn.stats().datagrams_received, 8, "every held datagram");
    assert_eq!(
        conn.stats().packets_received,
        1,
        "the copies are duplicates"
    );
    // Once accepted, the client's datagrams go to the connection.
    feed(&mut endpoint, &initial);
    let conn = endpoint.connection(handle).expect("the connection");
    assert_eq!(conn.stats().datagrams_received, 9);
}

#[test]
fn clients_beyond_max_incoming_are_refused_and_counted() {
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let config = EndpointConfig {
        max_incoming: 2,
        ..EndpointConfig::default()
    };
    let mut endpoint = Endpoint::new(
        Arc::new(config),
        Some(Arc::new(
            ServerConfig::new(server_tls).expect("the test tls config runs quic"),
        )),
        Some(SERVER_ADDR),
        1,
    );
    let initials: Vec<Vec<u8>> = (40..45).map(client_initial).collect();
    for initial in &initials {
        feed(&mut endpoint, initial);
    }
    let stats = endpoint.stats();
    assert_eq!(stats.incoming, 2);
    assert_eq!(stats.refused_incoming_limit, 3);
    let sent = drain_transmits(&mut endpoint);
    assert_eq!(sent.len(), 3);
    for ((_, datagram), initial) in sent.iter().zip(&initials[2..]) {
        let (dcid, scid) = cids(initial);
        let (to, _, frames) = open_server_initial(datagram, &dcid);
        assert_eq!(to, scid);
        assert!(is_refusal(&frames), "{frames:?}");
    }
    let report = endpoint.poll_refusal_report().expect("reported");
    assert_eq!(report.reason, InitialRefusal::IncomingLimit);
    assert!(
        report.detail.contains("max_incoming (2)"),
        "{}",
        report.detail
    );
    assert!(endpoint.poll_refusal_report().is_none(), "once");
}

#[test]
fn an_undecided_incoming_is_refused_after_the_timeout() {
    let mut endpoint = server();
    feed(&mut endpoint, &client_initial(35));
    let id = endpoint.poll_incoming().expect("an incoming");
    let deadline = epoch() + Duration::from_secs(10);
    assert_eq!(endpoint.poll_timeout(), Some(deadline));
    endpoint.handle_timeout(deadline - Duration::from_millis(1));
    assert!(endpoint.incoming(id).is_some(), "not yet");
    endpoint.handle_timeout(deadline);
    assert!(endpoint.incoming(id).is_none());
    assert_eq!(endpoint.stats().refused_incoming_timeout, 1);
    assert_eq!(endpoint.poll_timeout(), None);
    assert_eq!(drain_transmits(&mut endpoint).len(), 1, "the refusal");
    let report = endpoint.poll_refusal_report().expect("reported");
    assert_eq!(report.reason, InitialRefusal::IncomingTimeout);
    assert!(matches!(
        endpoint.accept_incoming(deadline, id, None),
        Err(AcceptError::UnknownIncoming)
    ));
}

#[test]
fn accepting_without_any_server_config_refuses_the_client() {
    let mut endpoint = server();
    feed_initials(&mut endpoint, 36..37);
    let id = endpoint.poll_incoming().expect("an incoming");
    endpoint.set_server_config(None);
    assert!(matches!(
        endpoint.accept_incoming(epoch(), id, None),
        Err(AcceptError::NoServerConfig)
    ));
    assert_eq!(drain_transmits(&mut endpoint).len(), 1, "the refusal");
    // Without a server configuration new clients are not even held.
    feed_initials(&mut endpoint, 37..38);
    assert_eq!(endpoint.stats().incoming, 0);
}

#[test]
fn accepting_beyond_a_per_connection_max_connections_refuses_the_client() {
    let mut endpoint = server();
    feed_initials(&mut endpoint, 38..40);
    let first = endpoint.poll_incoming().expect("an incoming");
    let second = endpoint.poll_incoming().expect("another");
    let (_, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut small = ServerConfig::new(server_tls).expect("the test tls config runs quic");
    small.max_connections = 1;
    let small = Arc::new(small);
    // The other pending client counts: one connection is already too many.
    assert!(matches!(
        endpoint.accept_incoming(epoch(), first, Some(small.clone())),
        Err(AcceptError::ConnectionLimit)
    ));
    assert_eq!(endpoint.stats().refused_connection_limit, 1);
    assert_eq!(drain_transmits(&mut endpoint).len(), 1, "the refusal");
    assert!(
        endpoint
            .accept_incoming(epoch(), second, Some(small))
            .is_ok()
    );
}

/// A pair whose server leaves its clients to the test.
fn manual_pair(seed: u64) -> Pair {
    let mut pair = Pair::new(
        seed,
        LinkConfig::default(),
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    pair.state.auto_accept = false;
    pair
}

fn client_closed(events: &[Event]) -> Option<&ConnectionError> {
    events.iter().find_map(|event| match event {
        Event::Closed(error) => Some(error),
        _ => None,
    })
}

#[test]
fn a_refused_client_hears_connection_refused_from_the_server_at_once() {
    // RFC 9000 §10.2.3 (test): the client's connection ends with the
    // server's CONNECTION_REFUSED, one round trip after it started.
    let mut pair = manual_pair(50);
    let outcome = pair.run_until(LIMIT, |view| {
        let server = view.sim.node_mut(SERVER);
        if let Some(id) = server.poll_incoming() {
            server.refuse_incoming(id);
            // Send the refusal now, as an event loop would.
            view.sim.settle().expect("the sim settles");
        }
        client_closed(&view.state.client_events).is_some()
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");
    let Some(ConnectionError::Transport { error, closed_by }) =
        client_closed(&pair.state.client_events)
    else {
        panic!("expected a transport error: {:?}", pair.state.client_events);
    };
    assert_eq!(error.code, TransportErrorCode::CONNECTION_REFUSED);
    assert_eq!(*closed_by, Closer::Peer);
    assert!(
        pair.sim.elapsed() <= Duration::from_millis(25),
        "one round trip of 20 ms: {:?}",
        pair.sim.elapsed()
    );
    let stats = pair.sim.node(SERVER).stats();
    assert_eq!((stats.connections, stats.incoming), (0, 0));
}

#[test]
fn an_ignored_client_hears_nothing_and_times_out() {
    let mut pair = manual_pair(51);
    let sent_by_server = Rc::new(Cell::new(0_u32));
    let counter = sent_by_server.clone();
    pair.sim.on_event(move |event| {
        if let TraceEvent::Sent { from, .. } = event
            && *from == SERVER_ADDR
        {
            counter.set(counter.get() + 1);
        }
    });
    let outcome = pair.run_until(LIMIT, |view| {
        let server = view.sim.node_mut(SERVER);
        while let Some(id) = server.poll_incoming() {
            server.ignore_incoming(id);
        }
        client_closed(&view.state.client_events).is_some()
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");
    assert!(
        matches!(
            client_closed(&pair.state.client_events),
            Some(ConnectionError::HandshakeTimedOut(_))
        ),
        "{:?}",
        pair.state.client_events
    );
    assert_eq!(sent_by_server.get(), 0, "the server sent nothing");
    let stats = pair.sim.node(SERVER).stats();
    assert_eq!((stats.connections, stats.incoming), (0, 0));
    assert!(stats.dropped_datagrams >= 2, "every retransmission dropped");
}

#[test]
fn a_per_connection_server_config_takes_effect() {
    // The endpoint's configuration speaks hq-interop with the default
    // idle timeout; the one given on accept speaks h3 with 5 s.
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut client_tls = (*client_tls).clone();
    client_tls.alpn_protocols = vec![b"h3".to_vec(), b"hq-interop".to_vec()];
    let client_config =
        ClientConfig::new(Arc::new(client_tls)).expect("the test tls config runs quic");
    let server_config =
        ServerConfig::new(server_tls.clone()).expect("the test tls config runs quic");
    let mut h3_tls = (*server_tls).clone();
    h3_tls.alpn_protocols = vec![b"h3".to_vec()];
    let mut h3 = ServerConfig::new(Arc::new(h3_tls)).expect("the test tls config runs quic");
    h3.transport = Arc::new(TransportConfig {
        max_idle_timeout: Some(Duration::from_secs(5)),
        ..TransportConfig::default()
    });
    let h3 = Arc::new(h3);
    let mut pair = Pair::with_configs(
        52,
        LinkConfig::default(),
        client_config,
        server_config,
        EndpointConfig::default(),
    );
    pair.state.auto_accept = false;
    let outcome = pair.run_until(LIMIT, |view| {
        let now = view.sim.now();
        while let Some(id) = view.sim.node_mut(SERVER).poll_incoming() {
            let handle = view
                .sim
                .node_mut(SERVER)
                .accept_incoming(now, id, Some(h3.clone()))
                .expect("accepted");
            view.state.server_conn = Some(handle);
            view.sim.settle().expect("the sim settles");
        }
        view.client()
            .is_some_and(tern_proto::connection::Connection::is_handshake_confirmed)
            && view.server().is_some_and(|s| s.handshake_info().is_some())
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");
    let view = pair.view();
    let client = view.client().expect("client");
    let alpn = client.handshake_info().and_then(|info| info.alpn());
    assert_eq!(alpn, Some(&b"h3"[..]), "the accept's ALPN list was used");
    let idle = client.peer_params().map(|p| p.max_idle_timeout);
    assert_eq!(idle, Some(Duration::from_secs(5)), "and its transport");
}

#[test]
fn a_client_retransmission_while_pending_is_replayed_on_accept() {
    let mut pair = manual_pair(53);
    let settled = pair.run_until(Duration::ZERO, |_| false);
    assert_eq!(settled, RunOutcome::TimedOut);
    let flight = pair.view().client().expect("client").stats().datagrams_sent;
    // Leave the client unanswered until it retransmits, and the
    // retransmission arrives.
    let outcome = pair.run_until(LIMIT, |view| {
        view.client()
            .is_some_and(|c| c.stats().datagrams_sent > flight)
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");
    let sent = pair.view().client().expect("client").stats().datagrams_sent;
    let delivered = pair.run_until(Duration::from_millis(50), |_| false);
    assert_eq!(delivered, RunOutcome::TimedOut);
    assert_eq!(pair.sim.node(SERVER).stats().incoming, 1, "one client");
    pair.state.auto_accept = true;
    let outcome = pair.run_until(LIMIT, |view| view.server().is_some());
    assert!(outcome.is_satisfied(), "{outcome:?}");
    let server = pair.view().server().expect("accepted").stats();
    assert_eq!(
        server.datagrams_received, sent,
        "the first flight and the retransmission, all held"
    );
    assert!(pair.connect(LIMIT), "the handshake completes");
}
