//! What the stateful fuzz targets share: a client and a server endpoint
//! driven in memory to a completed handshake, the TLS secrets of that
//! handshake captured through rustls's `KeyLog`, and packets sealed with
//! keys derived from those secrets, so that fuzzed frames reach the
//! connections past packet protection.
//!
//! Both sides are pinned to ChaCha20-Poly1305, whose packet and header
//! protection keys are 32 bytes (what rustls's public `AeadKey` holds).

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use bytes::BytesMut;
use rustls::crypto::{
    cipher::{AeadKey, Iv},
    tls13::{HkdfExpander, OkmBlock},
};
use tern_proto::{
    ConnectionId,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    crypto::{DirectionalKeys, PacketKey},
    endpoint::{ConnectionHandle, Endpoint},
    packet::{LongHeader, LongHeaderType, PacketNumber, ShortHeader, Version},
};

/// The client's address.
pub const CLIENT: SocketAddr = tern_sim::quic::CLIENT_ADDR;
/// The server's address.
pub const SERVER: SocketAddr = tern_sim::quic::SERVER_ADDR;

/// The TLS secrets rustls logged, by label, for the latest handshake.
#[derive(Debug, Default)]
pub struct Secrets(Mutex<HashMap<String, Vec<u8>>>);

impl rustls::KeyLog for Secrets {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(label.to_owned(), secret.to_vec());
        }
    }
}

impl Secrets {
    /// The secret logged under `label` (`CLIENT_TRAFFIC_SECRET_0`, ...).
    pub fn get(&self, label: &str) -> Option<Vec<u8>> {
        self.0.lock().ok()?.get(label).cloned()
    }

    /// Forgets every secret (before a new handshake).
    pub fn clear(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}

/// The configurations, made once: both sides on ChaCha20-Poly1305, both
/// logging their secrets to the returned [`Secrets`].
pub fn configs() -> (ClientConfig, Arc<ServerConfig>, Arc<Secrets>) {
    static CONFIGS: OnceLock<(ClientConfig, Arc<ServerConfig>, Arc<Secrets>)> = OnceLock::new();
    CONFIGS
        .get_or_init(|| {
            let secrets = Arc::new(Secrets::default());
            let (client, server) = tern_sim::certs::test_configs_with_suite(
                &[b"hq-interop"],
                tern_proto::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            );
            let client = ClientConfig::new(client)
                .expect("the test tls config runs quic")
                .key_log(secrets.clone());
            let server = ServerConfig::new(server)
                .expect("the test tls config runs quic")
                .key_log(secrets.clone());
            (client, Arc::new(server), secrets)
        })
        .clone()
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(expander: &dyn HkdfExpander, label: &str, out: &mut [u8]) {
    let len = u16::try_from(out.len()).unwrap_or(0).to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).unwrap_or(0)];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label.as_bytes(), &[0]];
    expander
        .expand_slice(&info, out)
        .expect("the output fits the hash");
}

fn suite() -> &'static rustls::Tls13CipherSuite {
    tern_proto::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256
        .tls13()
        .expect("a TLS 1.3 suite")
}

/// RFC 9001 §5.1: the packet and header protection keys of a secret.
pub fn keys(secret: &[u8]) -> DirectionalKeys {
    let suite = suite();
    let quic = suite.quic.expect("the suite runs quic");
    let expander = suite.hkdf_provider.expander_for_okm(&OkmBlock::new(secret));
    let (mut key, mut iv, mut hp) = ([0; 32], [0; 12], [0; 32]);
    expand_label(&*expander, "quic key", &mut key);
    expand_label(&*expander, "quic iv", &mut iv);
    expand_label(&*expander, "quic hp", &mut hp);
    DirectionalKeys {
        header: quic.header_protection_key(AeadKey::from(hp)).into(),
        packet: quic.packet_key(AeadKey::from(key), Iv::from(iv)).into(),
    }
}

/// RFC 9001 §6.1: the secret of the next key phase.
pub fn next_secret(secret: &[u8]) -> Vec<u8> {
    let expander = suite().hkdf_provider.expander_for_okm(&OkmBlock::new(secret));
    let mut next = vec![0; secret.len()];
    expand_label(&*expander, "quic ku", &mut next);
    next
}

/// The packet key of a secret alone (a key update keeps header protection).
pub fn packet_key(secret: &[u8]) -> PacketKey {
    keys(secret).packet
}

/// A 1-RTT packet to `dcid` with frames `payload`, sealed with `packet`
/// and `header` keys, padded so that header protection can sample it.
pub fn seal_short(
    header_key: &DirectionalKeys,
    packet_key: &PacketKey,
    dcid: ConnectionId,
    pn: u64,
    key_phase: bool,
    payload: &[u8],
) -> Vec<u8> {
    let header = ShortHeader {
        dcid,
        pn: PacketNumber::new(pn, Some(0)),
        spin: false,
        key_phase,
        grease_fixed_bit: false,
    };
    let mut packet = Vec::with_capacity(64 + payload.len());
    let pn_offset = header.encode(&mut packet);
    let header_len = packet.len();
    packet.extend_from_slice(payload);
    // RFC 9001 §5.4.2: room for the sample; PADDING frames are zeros.
    packet.resize(packet.len().max(header_len + 4), 0);
    packet.resize(packet.len() + packet_key.tag_len(), 0);
    if packet_key.encrypt(pn, &mut packet, header_len).is_err()
        || header_key.header.protect(&mut packet, pn_offset).is_err()
    {
        packet.clear();
    }
    packet
}

/// An Initial or Handshake packet with frames `payload`, sealed with
/// `keys`; an Initial is padded to `pad_to` bytes.
pub fn seal_long(
    keys: &DirectionalKeys,
    ty: LongHeaderType<'_>,
    dcid: ConnectionId,
    scid: ConnectionId,
    pn: u64,
    payload: &[u8],
    pad_to: usize,
) -> Vec<u8> {
    let header = LongHeader {
        ty,
        version: Version::V1,
        dcid,
        scid,
        pn: PacketNumber::new(pn, Some(0)),
        grease_fixed_bit: false,
    };
    let mut packet = Vec::with_capacity(pad_to.max(64 + payload.len()));
    let layout = header.encode(&mut packet);
    packet.extend_from_slice(payload);
    let tag = keys.packet.tag_len();
    packet.resize((packet.len() + tag).max(pad_to).max(layout.header_len + 4 + tag), 0);
    if layout.set_length(&mut packet).is_err()
        || keys.seal(pn, &mut packet, layout.pn_offset).is_err()
    {
        packet.clear();
    }
    packet
}

/// A client and a server endpoint, their connection, and a virtual clock.
pub struct Duo {
    /// The client endpoint.
    pub client: Endpoint,
    /// The server endpoint.
    pub server: Endpoint,
    /// The client's connection.
    pub client_conn: ConnectionHandle,
    /// The server's connection, once accepted.
    pub server_conn: Option<ConnectionHandle>,
    /// The virtual time.
    pub now: Instant,
    buf: Vec<u8>,
}

/// The base instant of every run.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Duo {
    /// Both endpoints, seeded, the client connecting.
    pub fn new(seed: u64) -> Self {
        let (client_config, server_config, secrets) = configs();
        secrets.clear();
        let endpoint = Arc::new(EndpointConfig::default());
        let mut client = Endpoint::new(endpoint.clone(), None, Some(CLIENT), seed);
        let server = Endpoint::new(endpoint, Some(server_config), Some(SERVER), seed + 1);
        let now = epoch();
        let client_conn = client
            .connect(now, &client_config, SERVER, "localhost")
            .expect("the test config runs quic");
        Self {
            client,
            server,
            client_conn,
            server_conn: None,
            now,
            buf: Vec::new(),
        }
    }

    /// The datagrams `from` wants to send now.
    pub fn transmits(endpoint: &mut Endpoint, now: Instant, buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut sent = 0;
        while let Some(transmit) = endpoint.poll_transmit(now, 8, buf) {
            let segment = transmit.segment_size.unwrap_or(transmit.size).max(1);
            out.extend(buf.chunks(segment).map(<[u8]>::to_vec));
            buf.clear();
            sent += 1;
            assert!(sent < 1000, "an endpoint keeps sending without input");
        }
        out
    }

    /// Hands `datagram` to the server, accepting a new client.
    pub fn to_server(&mut self, datagram: &[u8]) {
        self.to_server_from(CLIENT, datagram);
    }

    /// Hands `datagram` to the server as if sent from `from`: the client
    /// after a NAT rebinding or a move, or an attacker's copy.
    pub fn to_server_from(&mut self, from: SocketAddr, datagram: &[u8]) {
        self.server.handle(
            self.now,
            from,
            Some(SERVER.ip()),
            None,
            BytesMut::from(datagram),
        );
        while let Some(id) = self.server.poll_incoming() {
            if let Ok(handle) = self.server.accept_incoming(self.now, id, None) {
                self.server_conn = Some(handle);
            }
        }
    }

    /// Hands `datagram` to the client.
    pub fn to_client(&mut self, datagram: &[u8]) {
        let ip: Option<IpAddr> = Some(CLIENT.ip());
        self.client
            .handle(self.now, SERVER, ip, None, BytesMut::from(datagram));
    }

    /// One exchange: everything each side sends is delivered at once.
    /// Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let from_client = Self::transmits(&mut self.client, self.now, &mut self.buf);
        for datagram in &from_client {
            self.to_server(datagram);
        }
        let from_server = Self::transmits(&mut self.server, self.now, &mut self.buf);
        for datagram in &from_server {
            self.to_client(datagram);
        }
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
        while self.client.poll_drained().is_some() {}
        while self.server.poll_drained().is_some() {}
        !from_client.is_empty() || !from_server.is_empty()
    }

    /// Drives one endpoint alone, its peer gone silent: what it sends is
    /// dropped, its events taken, and, when `tick`, time runs to its next
    /// timer. Returns whether it has a timer left.
    pub fn alone(endpoint: &mut Endpoint, now: &mut Instant, tick: bool, buf: &mut Vec<u8>) -> bool {
        Self::transmits(endpoint, *now, buf);
        while endpoint.poll_event().is_some() {}
        while endpoint.poll_drained().is_some() {}
        let Some(next) = endpoint.poll_timeout() else {
            return false;
        };
        if tick {
            *now = (*now).max(next);
            endpoint.handle_timeout(*now);
            Self::transmits(endpoint, *now, buf);
            while endpoint.poll_event().is_some() {}
            while endpoint.poll_drained().is_some() {}
        }
        true
    }

    /// Runs the handshake until both sides have confirmed it.
    pub fn connect(&mut self) -> bool {
        for _ in 0..64 {
            self.step();
            let confirmed = |endpoint: &Endpoint, handle: Option<ConnectionHandle>| {
                handle
                    .and_then(|h| endpoint.connection(h))
                    .is_some_and(|c| c.is_handshake_confirmed())
            };
            if confirmed(&self.client, Some(self.client_conn))
                && confirmed(&self.server, self.server_conn)
            {
                return true;
            }
            self.now += Duration::from_millis(1);
        }
        false
    }
}
