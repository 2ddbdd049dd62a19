//! The server endpoint's datagram input. Three modes, picked by the first
//! input byte:
//!
//! - even: the rest is a raw datagram from a stranger. It must create no
//!   connection, no incoming and no timer (it cannot carry a valid AEAD
//!   tag).
//! - 1 modulo 4: the rest is the frame payload of a client Initial, sealed
//!   with the real Initial keys: it becomes an incoming, which is
//!   accepted, so it reaches the connection's frame handling and TLS. The
//!   endpoint is then driven through its timers for a while. Nothing may
//!   panic or loop.
//! - 3 modulo 4: the next byte is a length, that many bytes are the token
//!   of a client Initial and the rest its frames, sealed with the real
//!   keys, to a server that sends Retry to every unvalidated client. A
//!   fuzzed token cannot validate (it would need the server's key), so
//!   the Initial must leave no incoming, no connection and no timer, and
//!   be answered at most once (a Retry or an INVALID_TOKEN close).
#![no_main]

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, OnceLock},
    time::Instant,
};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern_proto::{
    ConnectionId, PacketNumber, Side,
    config::{EndpointConfig, RetryPolicy, ServerConfig},
    crypto::Keys,
    endpoint::Endpoint,
    packet::{LongHeader, LongHeaderType, Version},
};

const CLIENT: SocketAddr = tern_sim::quic::CLIENT_ADDR;
/// The address the datagrams reach: the endpoint's socket is a wildcard.
const LOCAL_IP: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));

fn server_config() -> Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let (_, tls) = tern_sim::certs::test_configs(&[b"hq-interop"]);
            Arc::new(ServerConfig::new(tls).expect("the test tls config runs quic"))
        })
        .clone()
}

fn retry_always_config() -> Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut config = (*server_config()).clone();
            config.retry = RetryPolicy::Always;
            Arc::new(config)
        })
        .clone()
}

/// A client Initial whose frames are `payload` (PADDING fills the rest).
fn sealed_initial(dcid: &[u8; 8], payload: &[u8]) -> Option<Vec<u8>> {
    sealed_initial_with_token(dcid, &[], payload)
}

/// A client Initial carrying `token`, whose frames are `payload`.
fn sealed_initial_with_token(dcid: &[u8; 8], token: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
    let keys = Keys::initial(Version::V1, dcid, Side::Client);
    let header = LongHeader {
        ty: LongHeaderType::Initial { token },
        version: Version::V1,
        dcid: ConnectionId::new(dcid).ok()?,
        scid: ConnectionId::new(&[7; 8]).ok()?,
        pn: PacketNumber::new(0, None),
        grease_fixed_bit: false,
    };
    let mut packet = Vec::with_capacity(1200);
    let layout = header.encode(&mut packet);
    let room = 1200_usize.checked_sub(layout.header_len + 16)?;
    packet.extend_from_slice(&payload[..payload.len().min(room)]);
    packet.resize(1200, 0);
    layout.set_length(&mut packet).ok()?;
    keys.local.seal(0, &mut packet, layout.pn_offset).ok()?;
    Some(packet)
}

fuzz_target!(|data: &[u8]| {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let mut now = *EPOCH.get_or_init(Instant::now);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut endpoint = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(server_config()),
        None,
        1,
    );
    let mut buf = Vec::new();
    if mode % 2 == 0 {
        endpoint.handle(now, CLIENT, LOCAL_IP, None, BytesMut::from(rest));
        assert_eq!(
            endpoint.connection_count(),
            0,
            "a stranger's datagram created a connection"
        );
        assert!(
            endpoint.poll_incoming().is_none(),
            "a stranger's datagram created an incoming"
        );
        assert_eq!(
            endpoint.poll_timeout(),
            None,
            "a stranger's datagram armed a timer"
        );
        return;
    }
    if mode % 4 == 3 {
        let Some((&len, rest)) = rest.split_first() else {
            return;
        };
        let (token, frames) = rest.split_at(usize::from(len).min(rest.len()));
        let Some(datagram) = sealed_initial_with_token(&[mode; 8], token, frames) else {
            return;
        };
        let mut endpoint = Endpoint::new(
            Arc::new(EndpointConfig::default()),
            Some(retry_always_config()),
            None,
            1,
        );
        endpoint.handle(now, CLIENT, LOCAL_IP, None, BytesMut::from(&datagram[..]));
        assert!(endpoint.poll_incoming().is_none(), "a fuzzed token validated");
        assert_eq!(endpoint.connection_count(), 0);
        assert_eq!(endpoint.poll_timeout(), None, "a timer was armed");
        let mut answers = 0;
        while endpoint.poll_transmit(now, 1, &mut buf).is_some() {
            buf.clear();
            answers += 1;
        }
        assert!(answers <= 1, "{answers} answers to one Initial");
        return;
    }
    let Some(datagram) = sealed_initial(&[mode; 8], rest) else {
        return;
    };
    endpoint.handle(now, CLIENT, LOCAL_IP, None, BytesMut::from(&datagram[..]));
    let id = endpoint
        .poll_incoming()
        .expect("a sealed initial is an incoming");
    let accepted = endpoint.accept_incoming(now, id, None);
    assert!(
        accepted.is_ok(),
        "the incoming was not accepted: {accepted:?}"
    );
    for _ in 0..16 {
        let mut sent = 0;
        while endpoint.poll_transmit(now, 4, &mut buf).is_some() {
            buf.clear();
            sent += 1;
            assert!(sent < 64, "the endpoint keeps sending without input");
        }
        while endpoint.poll_event().is_some() {}
        while endpoint.poll_drained().is_some() {}
        match endpoint.poll_timeout() {
            Some(deadline) => {
                now = now.max(deadline);
                endpoint.handle_timeout(now);
            }
            None => break,
        }
    }
});
