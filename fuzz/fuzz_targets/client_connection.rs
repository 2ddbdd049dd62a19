//! A client connection fed fuzzed server flights. The first input byte
//! picks the stage; the rest is datagrams, each `[len, flags, bytes...]`:
//!
//! - 0: before any answer, server Initials sealed with the real Initial
//!   keys of the client's first Destination Connection ID, the bytes
//!   their frames;
//! - 1: after the server's real Initial (ServerHello), and as many of its
//!   other first-flight datagrams as `flags` says, Handshake packets sealed
//!   with the server's real Handshake keys (from the TLS secrets a
//!   `KeyLog` captured), the bytes their frames; `flags` bit 7 coalesces a
//!   fuzzed Initial in front;
//! - 2: before any answer, Version Negotiation packets listing the bytes
//!   as versions;
//! - 3: after a completed handshake, 1-RTT packets sealed with the
//!   server's real 1-RTT keys (`flags` bit 0), or datagrams shaped like a
//!   stateless reset: a short header, the bytes, and (`flags` bit 1) the
//!   server's real reset token at the end (RFC 9000 §10.3);
//! - 4: before any answer, Retry packets whose token is the bytes, from
//!   an SCID of `flags`, with a valid integrity tag (`flags` bit 0) or a
//!   forged one; the client follows at most one and keeps sending its
//!   Initials (RFC 9000 §17.2.5.2).
//!
//! What the client sends is dropped (the real server, if any, stays
//! silent), and time runs through its timers at the end. Nothing may
//! panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_fuzz::{Duo, configs, keys, seal_long, seal_short};
use tern_proto::{
    ConnectionId, Side,
    crypto::{Keys, retry_integrity_tag},
    packet::{LongHeaderType, RetryHeader, Version, VersionNegotiationPacket},
};

/// The datagrams of the input: `[len, flags, bytes...]` each.
fn datagrams(mut rest: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let [len, flags, tail @ ..] = rest else {
            return None;
        };
        let (bytes, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        Some((*flags, bytes))
    })
}

/// Drops what the client sends and runs its timers for a while.
fn finish(duo: &mut Duo, buf: &mut Vec<u8>) {
    for _ in 0..16 {
        if !Duo::alone(&mut duo.client, &mut duo.now, true, buf) {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&stage, rest)) = data.split_first() else {
        return;
    };
    let mut duo = Duo::new(2);
    let (client_cid, original_dcid) = {
        let conn = duo.client.connection(duo.client_conn).expect("the client's connection");
        (conn.local_cid(), conn.original_dcid())
    };
    let server_cid = ConnectionId::new(&[0x5e; 8]).expect("8 bytes");
    let initial = Keys::initial(Version::V1, &original_dcid, Side::Server);
    let mut buf = Vec::new();
    match stage % 5 {
        0 => {
            // The client's first Initial leaves; the answers are ours.
            Duo::transmits(&mut duo.client, duo.now, &mut buf);
            for (pn, (_, bytes)) in datagrams(rest).enumerate() {
                let ty = LongHeaderType::Initial { token: &[] };
                let packet =
                    seal_long(&initial.local, ty, client_cid, server_cid, pn as u64, bytes, 1200);
                duo.to_client(&packet);
                Duo::alone(&mut duo.client, &mut duo.now, false, &mut buf);
            }
            finish(&mut duo, &mut buf);
        }
        1 => {
            // The real server's first flight, held back.
            for datagram in Duo::transmits(&mut duo.client, duo.now, &mut buf) {
                duo.to_server(&datagram);
            }
            let flight = Duo::transmits(&mut duo.server, duo.now, &mut buf);
            let Some(server_conn) = duo.server_conn else {
                return;
            };
            let server_cid = duo.server.connection(server_conn).expect("accepted").local_cid();
            let (_, _, secrets) = configs();
            let Some(secret) = secrets.get("SERVER_HANDSHAKE_TRAFFIC_SECRET") else {
                return;
            };
            let handshake = keys(&secret);
            let mut delivered = 0;
            for (pn, (flags, bytes)) in datagrams(rest).enumerate() {
                // The ServerHello first, then as much of the flight as asked.
                while delivered < flight.len() && delivered <= usize::from(flags & 0x0f) {
                    duo.to_client(&flight[delivered]);
                    delivered += 1;
                }
                let pn = 100 + pn as u64;
                let mut datagram = Vec::new();
                if flags & 0x80 != 0 {
                    let ty = LongHeaderType::Initial { token: &[] };
                    datagram = seal_long(&initial.local, ty, client_cid, server_cid, pn, bytes, 0);
                }
                let ty = LongHeaderType::Handshake;
                datagram.extend(seal_long(&handshake, ty, client_cid, server_cid, pn, bytes, 0));
                duo.to_client(&datagram);
                Duo::alone(&mut duo.client, &mut duo.now, false, &mut buf);
            }
            finish(&mut duo, &mut buf);
        }
        2 => {
            Duo::transmits(&mut duo.client, duo.now, &mut buf);
            for (flags, bytes) in datagrams(rest) {
                let versions: Vec<u32> = bytes
                    .chunks(4)
                    .map(|c| c.iter().fold(0, |v, b| v << 8 | u32::from(*b)))
                    .collect();
                let Ok(vn) = VersionNegotiationPacket::new(
                    &client_cid,
                    &original_dcid,
                    &versions,
                    flags,
                ) else {
                    continue;
                };
                let mut packet = Vec::new();
                vn.encode(&mut packet);
                duo.to_client(&packet);
                Duo::alone(&mut duo.client, &mut duo.now, false, &mut buf);
            }
            finish(&mut duo, &mut buf);
        }
        4 => {
            Duo::transmits(&mut duo.client, duo.now, &mut buf);
            for (flags, bytes) in datagrams(rest) {
                let scid = ConnectionId::new(&[flags | 1; 8]).expect("8 bytes");
                let header = RetryHeader {
                    version: Version::V1,
                    dcid: client_cid,
                    scid,
                    token: bytes,
                    unused_bits: flags,
                    grease_fixed_bit: false,
                };
                let mut packet = Vec::new();
                header.encode(&mut packet);
                let tag = retry_integrity_tag(Version::V1, &original_dcid, &packet)
                    .expect("the fixed key seals");
                packet.extend_from_slice(&tag);
                if flags & 1 == 0 {
                    let last = packet.len() - 1;
                    packet[last] ^= 0x80;
                }
                duo.to_client(&packet);
                Duo::alone(&mut duo.client, &mut duo.now, false, &mut buf);
            }
            finish(&mut duo, &mut buf);
        }
        _ => {
            if !duo.connect() {
                return;
            }
            let (_, _, secrets) = configs();
            let Some(secret) = secrets.get("SERVER_TRAFFIC_SECRET_0") else {
                return;
            };
            let one_rtt = keys(&secret);
            let token = duo
                .client
                .connection(duo.client_conn)
                .and_then(|c| c.peer_params())
                .and_then(|p| p.stateless_reset_token)
                .unwrap_or_default();
            for (pn, (flags, bytes)) in datagrams(rest).enumerate() {
                let datagram = if flags & 1 == 1 {
                    let pn = 1_000 + pn as u64;
                    seal_short(&one_rtt, &one_rtt.packet, client_cid, pn, false, bytes)
                } else {
                    // RFC 9000 §10.3: a short header's first bits, then
                    // unpredictable bytes, then (perhaps) the token.
                    let mut datagram = vec![0x40 | (flags >> 2)];
                    datagram.extend_from_slice(bytes);
                    if flags & 2 != 0 {
                        datagram.extend_from_slice(&token);
                    }
                    datagram
                };
                duo.to_client(&datagram);
                Duo::alone(&mut duo.client, &mut duo.now, false, &mut buf);
            }
            finish(&mut duo, &mut buf);
        }
    }
});
