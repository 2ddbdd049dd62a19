//! Connection IDs and path challenges from a scripted client (RFC 9000
//! §5.1, §8.2, §19.15 to §19.18).
//!
//! The client completes a real handshake on the simulated network with
//! its TLS secrets logged. From then on the test speaks for it: it seals
//! 1-RTT packets with the client's real keys, derived from the logged
//! secret, hands them straight to the server's endpoint, and opens what
//! the server sends back with the server's keys.

use std::{
    collections::{BTreeSet, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use rustls::{
    SupportedCipherSuite,
    crypto::{
        cipher::{AeadKey, Iv},
        tls13::OkmBlock,
    },
};
use tern_proto::{
    ConnectionId, EncryptionLevel, Frame, Frames, TransportErrorCode, VarInt,
    config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig},
    connection::{Closer, Connection, ConnectionError},
    crypto::{DirectionalKeys, cipher_suite},
    frame::{Ack, NewConnectionId},
    packet::{DecodeOptions, PacketNumber, PartialDecode, ShortHeader},
};
use tern_sim::{
    LinkConfig, certs,
    pair::{Pair, SERVER},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

/// The suite both sides use: its 32-byte keys can be built from a logged
/// secret with rustls's public API.
const SUITE: SupportedCipherSuite = cipher_suite::TLS13_CHACHA20_POLY1305_SHA256;

/// Keeps every secret the client's TLS session logs, by label.
#[derive(Debug, Default)]
struct SecretLog(Mutex<HashMap<String, Vec<u8>>>);

impl rustls::KeyLog for SecretLog {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        self.0
            .lock()
            .expect("not poisoned")
            .insert(label.to_owned(), secret.to_vec());
    }
}

/// RFC 9001 §5.1: the packet protection keys of a 1-RTT traffic secret,
/// with HKDF-Expand-Label (RFC 8446 §7.1) and an empty context.
fn keys(secret: &[u8]) -> DirectionalKeys {
    let suite = SUITE.tls13().expect("a TLS 1.3 suite");
    let quic = suite.quic.expect("the suite runs QUIC");
    let expander = suite.hkdf_provider.expander_for_okm(&OkmBlock::new(secret));
    let expand = |label: &[u8], out: &mut [u8]| {
        let len = u16::try_from(out.len()).expect("short").to_be_bytes();
        let label_len = [u8::try_from(6 + label.len()).expect("short")];
        expander
            .expand_slice(&[&len, &label_len, b"tls13 ", label, &[0]], out)
            .expect("the lengths fit the hash");
    };
    let (mut key, mut iv, mut hp) = ([0; 32], [0; 12], [0; 32]);
    expand(b"quic key", &mut key);
    expand(b"quic iv", &mut iv);
    expand(b"quic hp", &mut hp);
    DirectionalKeys {
        header: quic.header_protection_key(AeadKey::from(hp)).into(),
        packet: quic.packet_key(AeadKey::from(key), Iv::from(iv)).into(),
    }
}

/// One 1-RTT packet the server sent, opened.
#[derive(Debug)]
struct Received {
    pn: u64,
    destination: SocketAddr,
    /// The size of the datagram it came in.
    datagram_len: usize,
    dcid: ConnectionId,
    frames: Vec<Frame>,
}

/// The client after its handshake, scripted by the test.
struct ScriptedClient {
    pair: Pair,
    now: Instant,
    seal: DirectionalKeys,
    open: DirectionalKeys,
    server_cid: ConnectionId,
    next_pn: u64,
    /// The server's packet numbers we acknowledge.
    received: BTreeSet<u64>,
    /// Server packets we pretend never arrived.
    withheld: BTreeSet<u64>,
}

impl ScriptedClient {
    /// Connects over a 10 ms path with `transport` on both sides.
    fn connect(seed: u64, transport: TransportConfig) -> Self {
        let (client_tls, server_tls) = certs::test_configs_with_suite(&[b"hq-interop"], SUITE);
        let log = Arc::new(SecretLog::default());
        let transport = Arc::new(transport);
        let mut client = ClientConfig::new(client_tls)
            .expect("the test tls config runs quic")
            .key_log(log.clone());
        client.transport = transport.clone();
        let mut server = ServerConfig::new(server_tls).expect("the test tls config runs quic");
        server.transport = transport;
        let link = LinkConfig::default().delay(Duration::from_millis(10));
        let mut pair = Pair::with_configs(seed, link, client, server, EndpointConfig::default());
        assert!(
            pair.connect(Duration::from_secs(10)),
            "the handshake completes"
        );
        let secrets = log.0.lock().expect("not poisoned").clone();
        let server_cid = pair.view().server().expect("accepted").local_cid();
        let now = pair.sim.now();
        Self {
            pair,
            now,
            seal: keys(&secrets["CLIENT_TRAFFIC_SECRET_0"]),
            open: keys(&secrets["SERVER_TRAFFIC_SECRET_0"]),
            server_cid,
            // Well above what the real client sent: the server takes our
            // packets as the client's next ones.
            next_pn: 1000,
            received: BTreeSet::new(),
            withheld: BTreeSet::new(),
        }
    }

    fn server(&self) -> &Connection {
        let handle = self.pair.state.server_conn.expect("accepted");
        self.pair
            .sim
            .node(SERVER)
            .connection(handle)
            .expect("the server connection exists")
    }

    /// Sends one 1-RTT packet of `frames`, after an ACK of every server
    /// packet received and not withheld.
    fn send(&mut self, frames: &[Frame]) {
        let mut buf = Vec::new();
        let pn = self.next_pn;
        self.next_pn += 1;
        let header = ShortHeader {
            dcid: self.server_cid,
            pn: PacketNumber::new(pn, None),
            spin: false,
            key_phase: false,
            grease_fixed_bit: false,
        };
        let pn_offset = header.encode(&mut buf);
        let acked: Vec<u64> = self.received.difference(&self.withheld).copied().collect();
        if !acked.is_empty() {
            let ranges = acked.iter().rev().map(|&pn| pn..=pn);
            Ack::write_ranges(ranges, VarInt::from_u32(0), None, &mut buf, 1400)
                .expect("valid ranges");
        }
        for frame in frames {
            frame.encode(&mut buf);
        }
        // RFC 9001 §5.4.2: room for the header protection sample.
        buf.resize(buf.len().max(pn_offset + 4), 0);
        buf.resize(buf.len() + 16, 0);
        self.seal.seal(pn, &mut buf, pn_offset).expect("sealed");
        self.deliver(&buf);
    }

    /// Hands a datagram from the client's address to the server.
    fn deliver(&mut self, datagram: &[u8]) {
        let now = self.now;
        self.pair.sim.node_mut(SERVER).handle(
            now,
            CLIENT_ADDR,
            Some(SERVER_ADDR.ip()),
            None,
            BytesMut::from(datagram),
        );
    }

    /// Runs the server for `duration`, its timers included, and opens
    /// every packet it sends.
    fn run(&mut self, duration: Duration) -> Vec<Received> {
        let end = self.now + duration;
        let mut out = self.take_sent();
        for _ in 0..100_000 {
            let Some(deadline) = self.pair.sim.node_mut(SERVER).poll_timeout() else {
                break;
            };
            if deadline > end {
                break;
            }
            self.now = self.now.max(deadline);
            let now = self.now;
            self.pair.sim.node_mut(SERVER).handle_timeout(now);
            out.extend(self.take_sent());
        }
        self.now = end;
        out.extend(self.take_sent());
        out
    }

    fn take_sent(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let now = self.now;
        while let Some(transmit) = self
            .pair
            .sim
            .node_mut(SERVER)
            .poll_transmit(now, 1, &mut buf)
        {
            let datagram_len = transmit.size;
            let options = DecodeOptions::new(self.server_cid.len()).expect("a valid length");
            let mut data = BytesMut::from(&buf[..]);
            buf.clear();
            while !data.is_empty() {
                let Ok(mut packet) = PartialDecode::split_from(&mut data, options) else {
                    break;
                };
                let largest = self.received.last().copied();
                let Ok(opened) = self.open.open_decoded(&mut packet, largest) else {
                    continue;
                };
                self.received.insert(opened.pn);
                let dcid = *packet.dcid();
                let payload = Bytes::copy_from_slice(&packet.data()[opened.payload]);
                let frames = Frames::new(payload, EncryptionLevel::OneRtt)
                    .collect::<Result<_, _>>()
                    .expect("the server's frames decode");
                out.push(Received {
                    pn: opened.pn,
                    destination: transmit.destination,
                    datagram_len,
                    dcid,
                    frames,
                });
            }
        }
        out
    }
}

fn new_cid(sequence: u64, retire_prior_to: u64) -> Frame {
    Frame::NewConnectionId(NewConnectionId {
        sequence: VarInt::from_u64(sequence).expect("small"),
        retire_prior_to: VarInt::from_u64(retire_prior_to).expect("small"),
        id: cid(sequence),
        reset_token: token(sequence),
    })
}

fn cid(sequence: u64) -> ConnectionId {
    let mut bytes = [0xc1; 8];
    bytes[..4].copy_from_slice(&u32::try_from(sequence).expect("small").to_be_bytes());
    ConnectionId::new(&bytes).expect("8 bytes")
}

fn token(sequence: u64) -> [u8; 16] {
    let mut token = [0x70; 16];
    token[..8].copy_from_slice(&sequence.to_be_bytes());
    token
}

fn retirements(packets: &[Received]) -> Vec<u64> {
    packets
        .iter()
        .flat_map(|p| &p.frames)
        .filter_map(|f| match f {
            Frame::RetireConnectionId(seq) => Some(seq.into_inner()),
            _ => None,
        })
        .collect()
}

fn path_responses(packets: &[Received]) -> Vec<[u8; 8]> {
    packets
        .iter()
        .flat_map(|p| &p.frames)
        .filter_map(|f| match f {
            Frame::PathResponse(data) => Some(*data),
            _ => None,
        })
        .collect()
}

fn closed_locally_with(conn: &Connection, code: TransportErrorCode) {
    match conn.close_reason() {
        Some(ConnectionError::Transport { error, closed_by }) => {
            assert_eq!(error.code, code, "{error:?}");
            assert_eq!(*closed_by, Closer::Local);
        }
        other => panic!("expected a local close with {code:?}, got {other:?}"),
    }
}

/// Memory the server connection may gain from a peer's connection IDs and
/// path challenges: the table of 4 IDs, 8 retirements and 4 responses is
/// well under this.
const CID_MEMORY_BOUND: u64 = 1024;

// RFC 9000 §5.1.1 (test): a peer that gives us more active connection IDs
// than our limit fails with CONNECTION_ID_LIMIT_ERROR, and the IDs it
// floods cost no more than the table's bound.
#[test]
fn a_new_connection_id_flood_is_connection_id_limit_error() {
    let mut peer = ScriptedClient::connect(1, TransportConfig::default());
    let before = peer.server().stats().memory_bytes;
    for packet in 0..50 {
        let frames: Vec<Frame> = (0..40).map(|i| new_cid(1 + packet * 40 + i, 0)).collect();
        peer.send(&frames);
        if peer.server().is_closed() {
            break;
        }
    }
    let after = peer.server().stats().memory_bytes;
    closed_locally_with(peer.server(), TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
    let sent = peer.run(Duration::from_millis(1));
    assert!(
        sent.iter().flat_map(|p| &p.frames).any(|f| matches!(
            f,
            Frame::ConnectionClose(close)
                if close.error_code == TransportErrorCode::CONNECTION_ID_LIMIT_ERROR
        )),
        "the peer is told: {sent:?}"
    );
    println!("memory: {before} bytes before the flood, {after} after");
    assert!(after <= before + CID_MEMORY_BOUND, "{before} -> {after}");
}

// RFC 9000 §5.1.2 (test): Retire Prior To retires the lower IDs, the one in
// use included; the server switches to an unretired ID, sends
// RETIRE_CONNECTION_ID for each until acknowledged, and files the new
// ID's reset token with the endpoint in place of the old.
#[test]
fn retire_prior_to_switches_the_id_in_use_and_retirements_are_resent_until_acknowledged() {
    let mut peer = ScriptedClient::connect(2, TransportConfig::default());
    let handshake_cid = peer.server().remote_cid();
    peer.send(&[new_cid(1, 0), new_cid(2, 0)]);
    assert_eq!(peer.server().remote_cid(), handshake_cid, "no switch yet");
    peer.send(&[new_cid(3, 2)]);
    assert_eq!(
        peer.server().remote_cid(),
        cid(2),
        "the lowest unretired id"
    );

    let first = peer.run(Duration::from_millis(1));
    assert_eq!(retirements(&first), [0, 1]);
    assert!(first.iter().all(|p| p.dcid == cid(2)), "{first:?}");
    // The packet with the retirements is lost: it is withheld while the
    // server's probes after its PTO are acknowledged, which declares it
    // lost (RFC 9002 §6.1.2).
    peer.withheld.extend(first.iter().map(|p| p.pn));
    let probes = peer.run(Duration::from_secs(1));
    assert!(retirements(&probes).is_empty(), "not resent before a loss");
    peer.send(&[Frame::Ping]);
    let resent = peer.run(Duration::from_millis(50));
    assert_eq!(retirements(&resent), [0, 1], "sent again once lost");

    // Acknowledged now: never sent again, and the connection goes on.
    peer.withheld.clear();
    peer.send(&[Frame::Ping]);
    let mut later = peer.run(Duration::from_secs(1));
    peer.send(&[Frame::Ping]);
    later.extend(peer.run(Duration::from_secs(1)));
    assert!(retirements(&later).is_empty(), "{later:?}");
    assert!(!peer.server().is_closed());
    assert!(later.iter().all(|p| p.dcid == cid(2)));

    // RFC 9000 §10.3.1 (test): the token of an ID never used (1) is not
    // checked; the one of the ID in use (2) is.
    for (sequence, reset) in [(1, false), (2, true)] {
        let mut datagram = vec![0x40; 40];
        datagram[40 - 16..].copy_from_slice(&token(sequence));
        peer.deliver(&datagram);
        assert_eq!(
            matches!(peer.server().close_reason(), Some(ConnectionError::Reset)),
            reset,
            "token of sequence {sequence}"
        );
    }
}

// RFC 9000 §5.1.2 (test): a peer that keeps rotating its IDs is followed,
// with memory flat, as long as it acknowledges the retirements; one that
// does not is stopped at twice our limit of unacknowledged retirements
// with CONNECTION_ID_LIMIT_ERROR.
#[test]
fn rotating_ids_cost_bounded_memory_and_unacknowledged_retirements_are_capped() {
    let mut peer = ScriptedClient::connect(3, TransportConfig::default());
    let before = peer.server().stats().memory_bytes;
    let mut peak = before;
    for sequence in 1..=200 {
        peer.send(&[new_cid(sequence, sequence)]);
        let sent = peer.run(Duration::from_millis(5));
        assert_eq!(retirements(&sent), [sequence - 1], "at {sequence}");
        assert_eq!(peer.server().remote_cid(), cid(sequence));
        peak = peak.max(peer.server().stats().memory_bytes);
    }
    assert!(!peer.server().is_closed());
    println!("memory: {before} bytes before 200 rotations, at most {peak} during");
    assert!(peak <= before + CID_MEMORY_BOUND, "{before} -> {peak}");

    // Now the peer stops acknowledging: twice our limit (2 * 4) of
    // retirements may wait, 200 (sent last, not acknowledged) to 207;
    // retiring 208 is one too many.
    let mut closed_at = None;
    for sequence in 201..=220 {
        let withheld: Vec<u64> = peer.received.iter().copied().collect();
        peer.withheld.extend(withheld);
        peer.send(&[new_cid(sequence, sequence)]);
        peer.run(Duration::from_millis(1));
        if peer.server().is_closed() {
            closed_at = Some(sequence);
            break;
        }
    }
    assert_eq!(closed_at, Some(208));
    closed_locally_with(peer.server(), TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
}

// RFC 9000 §8.2.2 (test): every PATH_CHALLENGE is echoed in a PATH_RESPONSE
// on the path it came on, in a datagram of at least 1200 bytes; a packet
// of many challenges has the latest few answered, with memory flat.
#[test]
fn a_path_challenge_flood_is_answered_within_a_fixed_memory() {
    let mut peer = ScriptedClient::connect(4, TransportConfig::default());
    let before = peer.server().stats().memory_bytes;
    for i in 0..50u8 {
        peer.send(&[Frame::PathChallenge([i; 8])]);
        let sent = peer.run(Duration::from_millis(2));
        assert_eq!(path_responses(&sent), [[i; 8]], "challenge {i}");
        let answer = sent
            .iter()
            .find(|p| p.frames.contains(&Frame::PathResponse([i; 8])))
            .expect("answered");
        assert_eq!(answer.destination, CLIENT_ADDR, "on the path it came on");
        assert!(
            answer.datagram_len >= 1200,
            "expanded: {}",
            answer.datagram_len
        );
    }
    let challenges: Vec<Frame> = (0..100u8).map(|i| Frame::PathChallenge([i; 8])).collect();
    peer.send(&challenges);
    let after = peer.server().stats().memory_bytes;
    let sent = peer.run(Duration::from_millis(2));
    assert_eq!(
        path_responses(&sent),
        [[96; 8], [97; 8], [98; 8], [99; 8]],
        "the latest max_path_responses (4) are answered"
    );
    assert!(!peer.server().is_closed());
    println!("memory: {before} bytes before the flood, {after} with 100 challenges queued");
    assert!(after <= before + CID_MEMORY_BOUND, "{before} -> {after}");
}

// RFC 9000 §19.16 (test): retiring a sequence number never issued, or the
// ID the packet was sent to, is PROTOCOL_VIOLATION.
#[test]
fn retire_connection_id_of_an_unknown_or_the_current_id_is_protocol_violation() {
    for sequence in [0, 5] {
        let mut peer = ScriptedClient::connect(5, TransportConfig::default());
        peer.send(&[Frame::RetireConnectionId(VarInt::from_u32(sequence))]);
        closed_locally_with(peer.server(), TransportErrorCode::PROTOCOL_VIOLATION);
    }
}
