//! Budgets: what a peer can make us hold, and what it can make us send.

use std::{
    cell::RefCell,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use tern_proto::{
    Dir, StreamId, TransportErrorCode, VarInt,
    config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig},
    connection::{Connection, ConnectionError, Event},
    endpoint::Endpoint,
    frame::{Datagram, Stream as StreamFrame},
    packet::{DecodeOptions, PacketType, PartialDecode},
};
use tern_sim::{
    LinkConfig, TraceEvent, certs,
    pair::{CLIENT, Pair, SERVER},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

const LIMIT: Duration = Duration::from_secs(60);

fn link() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(20))
}

fn connected(seed: u64, transport: TransportConfig) -> Pair {
    let mut pair = Pair::new(seed, link(), transport, EndpointConfig::default());
    assert!(pair.connect(LIMIT), "the handshake completes");
    pair
}

fn closed(events: &[Event]) -> Option<&ConnectionError> {
    events.iter().find_map(|e| match e {
        Event::Closed(error) => Some(error),
        _ => None,
    })
}

/// Counts the datagrams the sim sees sent from `from` to `to`.
fn count_sent(pair: &mut Pair, from: SocketAddr, to: SocketAddr) -> Rc<RefCell<u64>> {
    let count = Rc::new(RefCell::new(0));
    let hook = count.clone();
    pair.sim.on_event(move |event| {
        if let TraceEvent::Sent { from: f, to: t, .. } = event
            && *f == from
            && *t == to
        {
            *hook.borrow_mut() += 1;
        }
    });
    count
}

/// Queues on the hostile `conn` one-byte STREAM frames at every other
/// offset of the first 120 bytes of its first `streams` bidirectional
/// streams: 60 pieces per stream for the victim to hold apart, in packets
/// of about 1,000 bytes.
fn queue_one_byte_gaps(conn: &mut Connection, streams: u32) {
    let mut packet = Vec::new();
    for round in 0..60_u64 {
        for stream in 0..streams {
            StreamFrame {
                id: StreamId::new(VarInt::from_u32(stream * 4)),
                offset: VarInt::from_u64(2 * round + 1).expect("small"),
                fin: false,
                has_length: true,
                data: Bytes::from_static(b"x"),
            }
            .encode(&mut packet);
            if packet.len() > 1000 {
                conn.queue_raw_frames(Bytes::from(std::mem::take(&mut packet)));
            }
        }
    }
    conn.queue_raw_frames(Bytes::from(packet));
}

// RFC 9000 §21.9 (test): one-byte gaps on 1,000 streams. Each byte held
// costs a chunk (about 97 bytes), so the connection-wide reassembly budget
// (4 MiB by default) is what stops the peer: it is closed with
// FLOW_CONTROL_ERROR, and the server's memory_bytes, which counts the
// chunks' real cost, stays under 5 MiB (the budget, plus the 1,000
// streams' own state) the whole time. Before the budget, the per-stream
// limit of 16,384 chunks let such a peer hold tens of megabytes while
// memory_bytes reported its payload bytes only.
#[test]
fn one_byte_gaps_on_a_thousand_streams_close_the_connection_within_its_budget() {
    const STREAMS: u32 = 1000;
    const BOUND: u64 = 5 * 1024 * 1024;
    let transport = TransportConfig {
        streams: tern_proto::streams::StreamsConfig {
            max_concurrent_bidi_streams: u64::from(STREAMS),
            ..Default::default()
        },
        ..TransportConfig::default()
    };
    let mut pair = connected(1, transport);
    // 60 one-byte pieces per stream, every other byte: 60,000 chunks, the
    // bytes of 60 KB of credit, out of the 1 MiB window.
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    queue_one_byte_gaps(client, STREAMS);
    let mut peak = 0;
    let outcome = pair.run_until(LIMIT, |view| {
        if let Some(server) = view.server() {
            peak = peak.max(server.stats().memory_bytes);
        }
        closed(&view.state.server_events).is_some()
    });
    assert!(outcome.is_satisfied(), "the server closed: {outcome:?}");
    let Some(ConnectionError::Transport { error, .. }) = closed(&pair.state.server_events) else {
        panic!("a transport error: {:?}", closed(&pair.state.server_events));
    };
    assert_eq!(error.code, TransportErrorCode::FLOW_CONTROL_ERROR);
    assert!(
        peak <= BOUND,
        "the server's memory peaked at {peak} bytes, above {BOUND}"
    );
    println!("one-byte gaps: server memory_bytes peaked at {peak} bytes");
}

// RFC 9221 §5 (test): a flood of empty DATAGRAM frames (about 550 per
// packet) raises one DatagramReceived until the application reads, and the
// receive queue (64 datagrams) keeps memory_bytes within 64 KiB of the
// idle connection's.
#[test]
fn a_datagram_flood_raises_one_event_and_holds_bounded_memory() {
    const PACKETS: usize = 20;
    let mut pair = connected(2, TransportConfig::default());
    let idle = pair.view().server().expect("server").stats().memory_bytes;
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    for _ in 0..PACKETS {
        let mut packet = Vec::new();
        while packet.len() < 1100 {
            Datagram::encode_header(Some(0), &mut packet);
        }
        client.queue_raw_frames(Bytes::from(packet));
    }
    let before = pair.state.server_events.len();
    let mut peak = 0;
    let _ = pair.run_until(Duration::from_secs(2), |view| {
        if let Some(server) = view.server() {
            peak = peak.max(server.stats().memory_bytes);
        }
        false
    });
    let events = pair.state.server_events[before..]
        .iter()
        .filter(|e| matches!(e, Event::DatagramReceived))
        .count();
    assert_eq!(events, 1, "one event for {PACKETS} packets of datagrams");
    let server = pair.view().server().expect("server").stats();
    assert!(server.datagrams_dropped > 0, "the queue dropped the oldest");
    assert!(
        peak <= idle + 64 * 1024,
        "memory peaked at {peak} bytes, idle {idle}"
    );
    println!("datagram flood: server memory_bytes peaked at {peak} bytes (idle {idle})");
    // Reading re-arms the event: the next arrival raises it again.
    let mut view = pair.view();
    let server = view.server_mut().expect("server");
    while server.recv_datagram().is_some() {}
    view.client_mut()
        .expect("client")
        .send_datagram(Bytes::from_static(b"again"))
        .expect("queued");
    let before = pair.state.server_events.len();
    let _ = pair.run_until(Duration::from_secs(1), |view| {
        view.state.server_events[before..]
            .iter()
            .any(|e| matches!(e, Event::DatagramReceived))
    });
    assert!(
        pair.state.server_events[before..]
            .iter()
            .any(|e| matches!(e, Event::DatagramReceived))
    );
}

/// Whether a client datagram carries a Handshake packet with more than an
/// ACK or a PING in it: the client's Finished (a CRYPTO frame of 36 bytes).
fn carries_handshake_data(datagram: &[u8]) -> bool {
    let Ok(options) = DecodeOptions::new(8) else {
        return false;
    };
    let mut data = BytesMut::from(datagram);
    while !data.is_empty() {
        match PartialDecode::split_from(&mut data, options) {
            // Packet number, frames and the 16-byte tag: an ACK or PING
            // packet stays well under 48 bytes.
            Ok(packet) if packet.packet_type() == PacketType::Handshake => {
                let header = packet.data().len() - packet.pn_offset().unwrap_or(0);
                if header > 48 {
                    return true;
                }
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

// A client that never sends its Finished, and keeps the handshake alive
// (its keep-alive PINGs make the server answer in the Handshake space, and
// it acknowledges those), is closed by the server's 10-second handshake
// timeout, silently, with HandshakeTimedOut; before, its idle timer was
// refreshed for ever. The 1-RTT packets it sends meanwhile are held for
// the handshake, within the per-connection byte cap.
#[test]
fn an_endless_handshake_is_closed_after_the_handshake_timeout() {
    let transport = TransportConfig {
        keep_alive_interval: Some(Duration::from_millis(500)),
        ..TransportConfig::default()
    };
    let mut pair = Pair::new(3, link(), transport.clone(), EndpointConfig::default());
    pair.sim
        .drop_if(CLIENT_ADDR, SERVER_ADDR, carries_handshake_data);
    let mut peak = 0;
    let mut held = 0;
    let outcome = pair.run_until(LIMIT, |view| {
        if let Some(server) = view.server() {
            peak = peak.max(server.stats().memory_bytes);
        }
        held = held.max(view.sim.node(SERVER).stats().undecryptable_bytes);
        closed(&view.state.server_events).is_some()
    });
    assert!(outcome.is_satisfied(), "the server gave up: {outcome:?}");
    let elapsed = pair.sim.elapsed();
    assert_eq!(
        closed(&pair.state.server_events),
        Some(&ConnectionError::HandshakeTimedOut(Duration::from_secs(10)))
    );
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_secs(11),
        "closed at {elapsed:?}"
    );
    assert!(
        held <= transport.max_undecryptable_bytes,
        "{held} bytes held"
    );
    assert!(peak < 64 * 1024, "memory peaked at {peak} bytes");
    println!("endless handshake: closed at {elapsed:?}, memory peaked at {peak} bytes");
}

/// An address of the hostile peer.
fn attacker(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)), 40_000)
}

/// A 1200-byte datagram that looks like a short-header packet to `dcid`,
/// its other bytes varying with `n`.
fn forged(dcid: &[u8], n: u32) -> Vec<u8> {
    let seed = n.to_le_bytes();
    let mut data: Vec<u8> = (0..1200_u32)
        .map(|i| seed[(i % 4) as usize] ^ i.to_le_bytes()[0].wrapping_mul(37))
        .collect();
    data[0] = 0x40 | (seed[0] & 0x3f);
    data[1..=dcid.len()].copy_from_slice(dcid);
    data
}

// RFC 9000 §10.3, §21.11 (test): forged short headers at line rate (10,000
// a second for two seconds, 1200 bytes each). Those for unknown connection
// IDs are answered with at most burst + rate x time stateless resets; those
// carrying the live connection's ID do not decrypt and get no answer at
// all, and the connection stays open.
#[test]
fn forged_short_headers_at_line_rate_get_bounded_resets_and_no_close() {
    let mut pair = connected(4, TransportConfig::default());
    // Let the handshake's last acknowledgments go out first.
    let _ = pair.run_until(Duration::from_millis(500), |_| false);
    let config = EndpointConfig::default();
    let cid = pair.view().server().expect("server").local_cid();
    let to_unknown = count_sent(&mut pair, SERVER_ADDR, attacker(1));
    let to_spoofed = count_sent(&mut pair, SERVER_ADDR, attacker(2));
    let to_client = count_sent(&mut pair, SERVER_ADDR, CLIENT_ADDR);
    let start = pair.sim.elapsed();
    for ms in 0..2000_u32 {
        for i in 0..10 {
            let n = ms * 10 + i;
            let random_cid = n.to_be_bytes().repeat(2);
            pair.sim
                .inject(attacker(1), SERVER_ADDR, None, forged(&random_cid, n));
            pair.sim
                .inject(attacker(2), SERVER_ADDR, None, forged(&cid, n));
        }
        let _ = pair.run_until(Duration::from_millis(1), |_| false);
    }
    let seconds = (pair.sim.elapsed() - start).as_secs_f64();
    let resets = *to_unknown.borrow();
    let allowed = f64::from(config.stateless_burst) + f64::from(config.stateless_rate) * seconds;
    assert!(resets > 0, "some resets are sent");
    assert!(
        resets as f64 <= allowed + 1.0,
        "{resets} resets in {seconds} s, at most {allowed}"
    );
    assert_eq!(*to_spoofed.borrow(), 0, "nothing to the spoofer");
    // Forged packets for the connection are dropped: nothing goes back to
    // the client for them, and the connection is open.
    assert_eq!(*to_client.borrow(), 0, "no CONNECTION_CLOSE, no ACK");
    assert!(pair.view().server().is_some_and(|c| !c.is_closed()));
    let stats = pair.sim.node(SERVER).stats();
    assert!(stats.stateless_rate_limited > 0);
    println!("forged short headers: {resets} resets for 20,000 forged datagrams in {seconds} s");
}

// RFC 9000 §18.2 (test): a datagram larger than our max_udp_payload_size
// (1452 by default) is dropped unread.
#[test]
fn a_datagram_larger_than_we_advertise_is_dropped() {
    let mut pair = connected(5, TransportConfig::default());
    let cid = pair.view().server().expect("server").local_cid();
    let mut big = forged(&cid, 1);
    big.resize(1453, 0);
    pair.sim.inject(attacker(3), SERVER_ADDR, None, big);
    let _ = pair.run_until(Duration::from_millis(50), |_| false);
    assert_eq!(pair.sim.node(SERVER).stats().oversized_datagrams, 1);
}

// RFC 9000 §10.2.1 (test): a closing connection answers the peer's packets
// with CONNECTION_CLOSE at an exponentially falling rate (the 1st, 2nd,
// 4th, 8th... packet that decrypts), and never answers packets that do not
// decrypt.
#[test]
fn a_closing_connection_answers_a_flood_with_exponentially_fewer_closes() {
    const REPLAYS: u32 = 400;
    let mut pair = connected(6, TransportConfig::default());
    // Keep a 1-RTT datagram of the client's to replay.
    let kept: Rc<RefCell<Option<Bytes>>> = Rc::default();
    let hook = kept.clone();
    pair.sim.on_event(move |event| {
        if let TraceEvent::Sent { from, data, .. } = event
            && *from == CLIENT_ADDR
            && data[0] & 0x80 == 0
        {
            *hook.borrow_mut() = Some(data.clone());
        }
    });
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    let id = client.open_stream(Dir::Uni).expect("a stream");
    client
        .write_stream(id, Bytes::from_static(b"hello"))
        .expect("written");
    let _ = pair.run_until(Duration::from_millis(100), |_| false);
    let replay = kept.borrow().clone().expect("a client 1-RTT datagram");
    let cid = pair.view().server().expect("server").local_cid();
    // The server closes; the client never hears of it.
    pair.sim.drop_if(SERVER_ADDR, CLIENT_ADDR, |_| true);
    let now = pair.sim.now();
    pair.view()
        .server_mut()
        .expect("server")
        .close(now, VarInt::from_u32(1), Bytes::new());
    let closes = count_sent(&mut pair, SERVER_ADDR, CLIENT_ADDR);
    let _ = pair.run_until(Duration::from_millis(1), |_| false);
    assert_eq!(*closes.borrow(), 1, "the first CONNECTION_CLOSE");
    // Forged packets with the connection's ID: not one answer.
    for n in 0..REPLAYS {
        pair.sim
            .inject(CLIENT_ADDR, SERVER_ADDR, None, forged(&cid, n));
        let _ = pair.run_until(Duration::from_micros(250), |_| false);
    }
    assert_eq!(*closes.borrow(), 1, "forged packets are not answered");
    // Replays of a genuine packet decrypt: answered with backoff.
    for _ in 0..REPLAYS {
        pair.sim
            .inject(CLIENT_ADDR, SERVER_ADDR, None, replay.clone());
        let _ = pair.run_until(Duration::from_micros(250), |_| false);
    }
    assert!(
        pair.view().server().is_some_and(|c| c.is_closed()),
        "still closing"
    );
    let answered = *closes.borrow() - 1;
    // 1, 2, 4, ..., 256 of 400: nine answers.
    assert_eq!(answered, 9, "answers to {REPLAYS} packets");
    println!("closing flood: {answered} CONNECTION_CLOSE for {REPLAYS} packets");
}

// RFC 9000 §10.2.2 (test): a closing endpoint that receives the peer's
// CONNECTION_CLOSE enters the draining state and answers nothing more, so
// two endpoints that close at the same moment exchange one close each
// instead of answering each other's closes until their deadlines.
#[test]
fn endpoints_closing_at_once_send_one_close_each() {
    let mut pair = connected(7, TransportConfig::default());
    let sent: Rc<RefCell<[u64; 2]>> = Rc::default();
    let hook = sent.clone();
    pair.sim.on_event(move |event| {
        if let TraceEvent::Sent { from, .. } = event {
            hook.borrow_mut()[usize::from(*from == SERVER_ADDR)] += 1;
        }
    });
    let now = pair.sim.now();
    let mut view = pair.view();
    view.client_mut()
        .expect("client")
        .close(now, VarInt::from_u32(1), Bytes::new());
    view.server_mut()
        .expect("server")
        .close(now, VarInt::from_u32(2), Bytes::new());
    let _ = pair.run_until(Duration::from_secs(5), |_| false);
    let [client, server] = *sent.borrow();
    println!("closing at once: the client sent {client} datagrams, the server {server}");
    assert_eq!((client, server), (1, 1), "one CONNECTION_CLOSE each");
}

/// Bytes moved from the honest client to the server, and how long it took
/// in simulated time, with or without a hostile peer on the same server.
fn honest_transfer(hostile: bool) -> Duration {
    const BYTES: usize = 4 * 1024 * 1024;
    let transport = TransportConfig {
        streams: tern_proto::streams::StreamsConfig {
            max_concurrent_bidi_streams: 1000,
            ..Default::default()
        },
        ..TransportConfig::default()
    };
    let honest_link = link().bandwidth(50_000_000);
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let transport = Arc::new(transport);
    let mut client = ClientConfig::new(client_tls).expect("the test tls config runs quic");
    client.transport = transport.clone();
    let mut server = ServerConfig::new(server_tls).expect("the test tls config runs quic");
    server.transport = transport;
    let mut pair = Pair::with_configs(
        7,
        honest_link,
        client.clone(),
        server,
        EndpointConfig::default(),
    );
    assert!(pair.connect(LIMIT));
    if hostile {
        start_hostile_client(&mut pair, &client);
    }
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    let id = client.open_stream(Dir::Uni).expect("a stream");
    let data = Bytes::from(vec![7_u8; BYTES]);
    let start = pair.sim.elapsed();
    let mut written = 0;
    let mut received = 0;
    let outcome = pair.run_until(LIMIT, |view| {
        if written < BYTES
            && let Some(client) = view.client_mut()
            && let Ok(n) = client.write_stream(id, data.slice(written..))
        {
            written += n;
        }
        if let Some(server) = view.server_mut() {
            while let Ok(Some(chunk)) = server.read_stream(id, usize::MAX, true) {
                received += chunk.bytes.len();
            }
        }
        received == BYTES
    });
    assert!(outcome.is_satisfied(), "the honest transfer completes");
    if hostile {
        assert!(
            pair.sim.node(SERVER).stats().stateless_rate_limited > 0,
            "the hostile peer was at work"
        );
    }
    pair.sim.elapsed() - start
}

/// A second client on the server's endpoint that opens a connection and
/// floods it with one-byte gaps, while forged short headers pour in at
/// line rate from another address.
fn start_hostile_client(pair: &mut Pair, config: &ClientConfig) {
    let hostile_addr = attacker(9);
    let node = pair.sim.add_node(
        hostile_addr,
        Endpoint::new(
            Arc::new(EndpointConfig::default()),
            None,
            Some(hostile_addr),
            99,
        ),
    );
    let now = pair.sim.now();
    let handle = pair
        .sim
        .node_mut(node)
        .connect(now, config, SERVER_ADDR, "localhost")
        .expect("connects");
    let outcome = pair.run_until(LIMIT, |view| {
        view.sim
            .node(node)
            .connection(handle)
            .is_some_and(|c| c.is_handshake_confirmed())
    });
    assert!(
        outcome.is_satisfied(),
        "the hostile peer connects: {outcome:?} {:?}",
        pair.sim
            .node(node)
            .connection(handle)
            .map(|c| (c.is_closed(), c.close_reason().cloned()))
    );
    let conn = pair
        .sim
        .node_mut(node)
        .connection_mut(handle)
        .expect("hostile connection");
    queue_one_byte_gaps(conn, 1000);
    for n in 0..5000_u32 {
        let random_cid = n.to_be_bytes().repeat(2);
        pair.sim
            .inject(attacker(10), SERVER_ADDR, None, forged(&random_cid, n));
    }
}

// The steady state (test): an honest 4 MiB transfer over a 50 Mbit/s path
// beside a hostile peer on the same server endpoint (one-byte gaps on
// 1,000 streams until its connection is closed, and 5,000 forged short
// headers) completes at 90% or more of its unloaded rate, in simulated
// time.
#[test]
fn an_honest_transfer_keeps_its_rate_beside_a_hostile_peer() {
    let alone = honest_transfer(false);
    let beside = honest_transfer(true);
    let ratio = alone.as_secs_f64() / beside.as_secs_f64();
    println!("honest transfer: {alone:?} alone, {beside:?} beside a hostile peer ({ratio:.3})");
    assert!(ratio >= 0.9, "{ratio:.3} of the unloaded rate");
    let _ = CLIENT;
}
