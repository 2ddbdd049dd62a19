//! AEAD limits (RFC 9001 §6.6), with limits lowered so that the simulator
//! reaches them: a transfer updates its keys many times on its own and
//! loses nothing, and forged 1-RTT packets that fail to open close the
//! connection with AEAD_LIMIT_REACHED once past the integrity limit, in
//! both roles.

use std::{cell::Cell, rc::Rc, sync::Arc, time::Duration};

use bytes::Bytes;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tern_proto::{
    Side, TransportErrorCode,
    config::{EndpointConfig, TransportConfig},
    congestion::NewRenoConfig,
    connection::{Closer, Connection, ConnectionError},
};
use tern_sim::{
    LinkConfig,
    pair::Pair,
    quic::{CLIENT_ADDR, SERVER_ADDR},
    transfer::TransferRun,
};

/// The lowered confidentiality limit: packets one key may seal.
const CONFIDENTIALITY_LIMIT: u64 = 600;
/// The lowered integrity limit: packets that may fail to open.
const INTEGRITY_LIMIT: u64 = 32;
/// What the victim of the forgeries may hold: its state, the duplicate
/// window and, at the client, its TLS session (measured: about 4.5 KB at
/// the server, 9.3 KB at the client). Forgeries must not add a byte.
const MEMORY_BOUND: u64 = 16 * 1024;

// RFC 9001 §6.6 (test): keys are updated on our own initiative before the
// confidentiality limit, again and again, and the data arrives intact.
#[test]
fn keys_are_updated_before_the_confidentiality_limit_and_no_data_is_lost() {
    // 2 Mbit/s and a short queue: about 170 packets a second and a PTO of
    // about 200 ms, so that the room the margin leaves (half of 600
    // packets) covers the wait for an acknowledgment and three PTOs after
    // each update (RFC 9001 §6.1, §6.5).
    let link = LinkConfig::default()
        .delay(Duration::from_millis(10))
        .bandwidth(2_000_000)
        .queue_limit(16 * 1024);
    let mut run = TransferRun::new(7, link, 6_000_000, 2);
    run.transport = TransportConfig {
        aead_confidentiality_limit: Some(CONFIDENTIALITY_LIMIT),
        key_update_margin_percent: 50,
        ..TransportConfig::default()
    };
    let report = run.run();
    assert!(report.completed && report.intact, "{report:?}");
    assert_eq!(report.received, report.bytes);
    let client = report.client_stats.expect("the client");
    let server = report.server_stats.expect("the server");
    println!(
        "key updates {} / {}, packets sent {} / {}",
        client.key_updates, server.key_updates, client.packets_sent, server.packets_sent
    );
    assert!(client.key_updates >= 10, "{client:?}");
    // No key sealed more than the limit: each phase holds at most that
    // many packets (a few Initial and Handshake packets aside).
    for stats in [client, server] {
        assert!(
            stats.packets_sent <= (stats.key_updates + 1) * CONFIDENTIALITY_LIMIT + 16,
            "{stats:?}"
        );
    }
}

// RFC 9001 §6.6 (test): a sender that cannot update its keys (nothing of
// the current phase is acknowledged) closes with AEAD_LIMIT_REACHED before
// the limit, and never seals a packet past it, however many packets then
// ask for its CONNECTION_CLOSE again.
#[test]
fn a_sender_that_cannot_update_closes_before_the_confidentiality_limit() {
    const LIMIT: u64 = 40;
    let transport = TransportConfig {
        aead_confidentiality_limit: Some(LIMIT),
        key_update_margin_percent: 50,
        // The whole burst below leaves at once.
        congestion: Arc::new(NewRenoConfig {
            initial_window: Some(16 << 20),
        }),
        datagram_send_queue: 1000,
        ..TransportConfig::default()
    };
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::new(62, link, transport, EndpointConfig::default());
    assert!(
        pair.connect(Duration::from_secs(10)),
        "the handshake completes"
    );
    // The server's acknowledgments never arrive from now on.
    let cut = Rc::new(Cell::new(true));
    let filter = cut.clone();
    pair.sim
        .drop_if(SERVER_ADDR, CLIENT_ADDR, move |_| filter.get());
    let before = pair.view().client().expect("client").stats();
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    for _ in 0..3 * LIMIT {
        client
            .send_datagram(Bytes::from(vec![7; 1000]))
            .expect("queued");
    }
    let mut closed = None;
    let _ = pair.run_until(Duration::from_secs(1), |view| {
        closed = view.client().and_then(|c| c.close_reason().cloned());
        closed.is_some()
    });
    assert!(
        matches!(
            &closed,
            Some(ConnectionError::Transport { error, closed_by: Closer::Local })
                if error.code == TransportErrorCode::AEAD_LIMIT_REACHED
        ),
        "{closed:?}"
    );

    // The server goes on sending while the client is closing; each packet
    // would call for the CONNECTION_CLOSE again, but the key seals no more
    // than its limit.
    cut.set(false);
    let mut view = pair.view();
    let server = view.server_mut().expect("server");
    for _ in 0..100 {
        server
            .send_datagram(Bytes::from(vec![8; 1000]))
            .expect("queued");
    }
    let mut after = before;
    let mut received = 0;
    let _ = pair.run_until(Duration::from_secs(1), |view| {
        if let Some(client) = view.client() {
            after = client.stats();
            received = after.datagrams_received - before.datagrams_received;
        }
        false
    });
    assert!(
        received > 20,
        "the server's packets reached the closing client: {received}"
    );
    let sent = after.packets_sent - before.packets_sent;
    println!(
        "{sent} packets sent after the cut, {} key updates",
        after.key_updates
    );
    // Before the cut the current key had sealed a few packets, so at most
    // one update happened since, and no key sealed more than the limit.
    assert!(after.key_updates <= before.key_updates + 1, "{after:?}");
    assert!(
        sent <= (after.key_updates - before.key_updates + 1) * LIMIT,
        "{sent} packets sealed: {after:?}"
    );
}

/// A short-header packet to `victim` that looks right (fixed bit, its
/// connection ID, room for the header protection sample) but that no key
/// opens.
fn forged(rng: &mut StdRng, victim: &Connection) -> Vec<u8> {
    let mut packet = vec![0x40 | rng.random_range(0..0x40_u8)];
    packet.extend_from_slice(&victim.local_cid());
    let mut rest = vec![0_u8; rng.random_range(24..1200)];
    rng.fill(&mut rest[..]);
    packet.extend_from_slice(&rest);
    packet
}

/// Sends a datagram each way and says whether both arrived.
fn still_works(pair: &mut Pair) -> bool {
    let mut view = pair.view();
    for side in [Side::Client, Side::Server] {
        let _ = view
            .connection_mut(side)
            .expect("open")
            .send_datagram(Bytes::from_static(b"still there"));
    }
    let mut got = (false, false);
    pair.run_until(Duration::from_secs(5), |view| {
        got.0 |= view
            .server_mut()
            .and_then(Connection::recv_datagram)
            .is_some();
        got.1 |= view
            .client_mut()
            .and_then(Connection::recv_datagram)
            .is_some();
        got.0 && got.1
    })
    .is_satisfied()
}

fn forgeries_close_the_connection_past_the_integrity_limit(seed: u64, victim: Side) {
    let transport = TransportConfig {
        aead_integrity_limit: Some(INTEGRITY_LIMIT),
        ..TransportConfig::default()
    };
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::new(seed, link, transport, EndpointConfig::default());
    assert!(
        pair.connect(Duration::from_secs(10)),
        "the handshake completes"
    );
    assert!(still_works(&mut pair));
    let (from, to) = if victim.is_client() {
        (SERVER_ADDR, CLIENT_ADDR)
    } else {
        (CLIENT_ADDR, SERVER_ADDR)
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let before = pair.view().connection(victim).expect("open").stats();

    // Up to the limit, forgeries are dropped and counted, nothing more.
    for _ in 0..INTEGRITY_LIMIT {
        let packet = forged(&mut rng, pair.view().connection(victim).expect("open"));
        pair.sim.inject(from, to, None, packet);
    }
    let _ = pair.run_until(Duration::from_millis(100), |_| false);
    let stats = pair.view().connection(victim).expect("open").stats();
    println!(
        "{victim:?} victim: memory {} -> {} bytes after {INTEGRITY_LIMIT} forgeries",
        before.memory_bytes, stats.memory_bytes
    );
    assert_eq!(
        stats.authentication_failures - before.authentication_failures,
        INTEGRITY_LIMIT
    );
    assert!(
        stats.memory_bytes <= before.memory_bytes && stats.memory_bytes < MEMORY_BOUND,
        "memory {} -> {}",
        before.memory_bytes,
        stats.memory_bytes
    );
    assert!(still_works(&mut pair), "the limit is not crossed yet");

    // One more crosses it: the victim closes with AEAD_LIMIT_REACHED, and
    // its peer learns why.
    let packet = forged(&mut rng, pair.view().connection(victim).expect("open"));
    pair.sim.inject(from, to, None, packet);
    let _ = pair.run_until(Duration::from_millis(100), |_| false);
    let view = pair.view();
    let closed = view.connection(victim).expect("closing").close_reason();
    assert!(
        matches!(
            closed,
            Some(ConnectionError::Transport { error, closed_by: Closer::Local })
                if error.code == TransportErrorCode::AEAD_LIMIT_REACHED
        ),
        "{closed:?}"
    );
    let peer = if victim.is_client() {
        Side::Server
    } else {
        Side::Client
    };
    let told = view.connection(peer).expect("draining").close_reason();
    assert!(
        matches!(
            told,
            Some(ConnectionError::Transport { error, closed_by: Closer::Peer })
                if error.code == TransportErrorCode::AEAD_LIMIT_REACHED
        ),
        "{told:?}"
    );
}

// RFC 9001 §6.6 (test): a server closes with AEAD_LIMIT_REACHED once more
// packets than the integrity limit failed to open.
#[test]
fn forged_packets_past_the_integrity_limit_close_a_server() {
    forgeries_close_the_connection_past_the_integrity_limit(60, Side::Server);
}

// RFC 9001 §6.6 (test): and a client.
#[test]
fn forged_packets_past_the_integrity_limit_close_a_client() {
    forgeries_close_the_connection_past_the_integrity_limit(61, Side::Client);
}
