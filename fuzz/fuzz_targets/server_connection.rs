//! A server connection past its handshake: a client and a server complete
//! a real handshake in memory, then the input is a sequence of 1-RTT
//! packets from the client, each `[len, flags, payload...]`, sealed with
//! the client's real 1-RTT keys (derived from the TLS secrets a `KeyLog`
//! captured) and delivered to the server. The real client stays silent
//! from then on (its packet numbers would clash with ours), and what the
//! server sends is dropped. The payload is frames as the server decodes them:
//! STREAM, ACK (against packets really in flight), flow control, CID,
//! DATAGRAM, CONNECTION_CLOSE, and anything else.
//!
//! `flags`: bit 0 seals with the next key phase's keys and sets the key
//! phase bit (a key update, RFC 9001 §6); bit 1 lets time run to the
//! server's next timer afterwards; bits 2..3 pick the packet's DCID among
//! the connection IDs the server issued (the handshake's first; RFC 9000
//! §5.1), so that RETIRE_CONNECTION_ID can retire any of them; bits 4..6
//! skip packet numbers; bit 7 sends the packet from another address (a
//! new port, or a new IP, by the packet number's parity), so that the
//! server follows, validates, falls back and answers challenges on other
//! paths (RFC 9000 §8.2, §9).
//! Nothing may panic or loop, and the server's connection stays within a
//! memory bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tern_fuzz::{CLIENT, Duo, configs, keys, next_secret, packet_key, seal_short};

/// What the server's connection may hold, whatever the client sent: the
/// default windows allow 1 MiB of stream data, 1 MiB of queued datagrams,
/// and a TLS session.
const MEMORY_BOUND: u64 = 4 << 20;

/// The client's address after a move: its port changed, or its IP.
fn elsewhere(pn: u64) -> SocketAddr {
    if pn % 2 == 0 {
        SocketAddr::new(CLIENT.ip(), CLIENT.port().wrapping_add(1))
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 7, 7, 7)), CLIENT.port())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut duo = Duo::new(1);
    assert!(duo.connect(), "the handshake did not complete");
    let (_, _, secrets) = configs();
    let secret = secrets
        .get("CLIENT_TRAFFIC_SECRET_0")
        .expect("rustls logged the client's 1-RTT secret");
    let current = keys(&secret);
    let next = packet_key(&next_secret(&secret));
    let server_conn = duo.server_conn.expect("the server accepted the client");
    let handshake_dcid = duo
        .server
        .connection(server_conn)
        .expect("the server's connection")
        .local_cid();
    let mut pn = 1_000_u64;
    let mut rest = data;
    while let [len, flags, tail @ ..] = rest {
        let (payload, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        let phase = flags & 1 == 1;
        let key = if phase { &next } else { &current.packet };
        let dcid = duo
            .server
            .connection(server_conn)
            .and_then(|conn| conn.local_cids().nth(usize::from((flags >> 2) & 3)))
            .unwrap_or(handshake_dcid);
        let packet = seal_short(&current, key, dcid, pn, phase, payload);
        if flags & 0x80 == 0 {
            duo.to_server(&packet);
        } else {
            duo.to_server_from(elsewhere(pn), &packet);
        }
        let mut buf = Vec::new();
        Duo::alone(&mut duo.server, &mut duo.now, flags & 2 != 0, &mut buf);
        pn += 1 + u64::from((flags >> 4) & 7);
        if let Some(conn) = duo.server.connection(server_conn) {
            let memory = conn.stats().memory_bytes;
            assert!(memory <= MEMORY_BOUND, "the server's connection holds {memory} bytes");
        }
    }
    let mut buf = Vec::new();
    for _ in 0..16 {
        if !Duo::alone(&mut duo.server, &mut duo.now, true, &mut buf) {
            break;
        }
    }
});
