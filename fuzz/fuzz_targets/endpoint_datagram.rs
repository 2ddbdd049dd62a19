//! The server endpoint's datagram input. Two modes, picked by the first
//! input byte:
//!
//! - even: the rest is a raw datagram from a stranger. It must create no
//!   connection, no incoming and no timer (it cannot carry a valid AEAD
//!   tag).
//! - odd: the rest is the frame payload of a client Initial, sealed with
//!   the real Initial keys: it becomes an incoming, which is accepted, so
//!   it reaches the connection's frame handling and TLS. The endpoint is
//!   then driven through its timers for a while. Nothing may panic or
//!   loop.
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
    config::{EndpointConfig, ServerConfig},
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

/// A client Initial whose frames are `payload` (PADDING fills the rest).
fn sealed_initial(dcid: &[u8; 8], payload: &[u8]) -> Option<Vec<u8>> {
    let keys = Keys::initial(Version::V1, dcid, Side::Client);
    let header = LongHeader {
        ty: LongHeaderType::Initial { token: &[] },
        version: Version::V1,
        dcid: ConnectionId::new(dcid).ok()?,
        scid: ConnectionId::new(&[7; 8]).ok()?,
        pn: PacketNumber::new(0, None),
        grease_fixed_bit: false,
    };
    let mut packet = Vec::with_capacity(1200);
    let layout = header.encode(&mut packet);
    packet.extend_from_slice(&payload[..payload.len().min(1200 - layout.header_len - 16)]);
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
