//! What the client's Initial packets in an interop capture show.
//!
//! The proxy writes `client.pcap`, the client's side of the link. Initial
//! packets are protected with keys that anyone on the path can derive from
//! the Destination Connection ID of the client's first Initial (RFC 9001
//! §5.2), so this module opens them with tern-proto's own packet
//! protection, reassembles their CRYPTO stream and reads the ClientHello.
//! The server's Initials are opened the same way, for its ServerHello.
//! That is enough for two of the runner's conditions: `chacha20` (the
//! ClientHello prefers TLS_CHACHA20_POLY1305_SHA256 and the ServerHello
//! selects it) and `longrtt` (the ClientHello went out at least twice).
//!
//! The capture is classic pcap (either byte order, microsecond or
//! nanosecond timestamps) of raw IPv4 or IPv6 packets carrying UDP.
//! Datagrams the client sent are addressed to the proxy's port; the
//! server's come from it. A record cut short at the end of the file (a
//! writer that was stopped mid-record) ends the capture; anything inside
//! a record that does not parse is skipped.

use std::{collections::HashMap, path::Path};

use bytes::{Bytes, BytesMut};
use tern_proto::{
    ConnectionId, EncryptionLevel, Frame, Frames, Side,
    crypto::{DirectionalKeys, Keys},
    packet::{
        CoalescedPackets, DecodeOptions, LongType, PacketDecodeError, PacketType, PartialDecode,
        Version,
    },
};

#[cfg(test)]
mod tests;

/// What the client's Initial packets show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientHelloView {
    /// Client Initial packets that decrypted.
    pub(crate) initial_packets: usize,
    /// Client Initial packets that did not: corrupted on the path, or
    /// protected with keys of a connection the capture does not show.
    pub(crate) undecryptable: usize,
    /// Decrypted client Initial packets with a CRYPTO frame at offset 0:
    /// the ClientHello's first sending and its retransmissions.
    pub(crate) client_hello_sends: usize,
    /// The cipher_suites list of the first ClientHello fully reassembled,
    /// in the client's order; empty when none was, or when it did not
    /// parse.
    pub(crate) cipher_suites: Vec<u16>,
    /// The cipher suite the first ServerHello fully reassembled selected;
    /// `None` when none was, or when it did not parse.
    pub(crate) server_hello_suite: Option<u16>,
    /// Distinct original Destination Connection IDs: connections the
    /// client started.
    pub(crate) connections: usize,
    /// Decrypted client Initials that carry a token (after a Retry, or
    /// from NEW_TOKEN).
    pub(crate) initials_with_token: usize,
    /// Of those, the ones whose packet number is not above every packet
    /// number the connection's Initials without a token used: the client
    /// started its packet numbers over (RFC 9000 §17.2.5.3 forbids it).
    pub(crate) packet_numbers_reset: usize,
}

/// Reads the capture at `pcap` and opens the Initial packets the client
/// sent to the proxy listening on `proxy_port`.
///
/// # Errors
/// A message when the file cannot be read, is not a classic pcap file, or
/// does not carry raw IP packets.
pub(crate) fn read_client_hellos(pcap: &Path, proxy_port: u16) -> Result<ClientHelloView, String> {
    let bytes =
        std::fs::read(pcap).map_err(|error| format!("cannot read {}: {error}", pcap.display()))?;
    let records = Records::new(&bytes).map_err(|error| format!("{}: {error}", pcap.display()))?;
    let mut reader = Reader::default();
    for record in records {
        let Some(udp) = Udp::parse(record) else {
            continue;
        };
        if udp.dst_port == proxy_port {
            reader.client_datagram(udp.payload);
        } else if udp.src_port == proxy_port {
            reader.server_datagram(udp.payload);
        }
    }
    Ok(reader.view)
}

/// The classic pcap magic number, as read in the writer's byte order, for
/// microsecond timestamps.
const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// The same for nanosecond timestamps.
const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// pcapng's Section Header Block type, to name it in the error.
const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;
/// Bytes of the pcap file header.
const PCAP_HEADER_LEN: usize = 24;
/// Bytes of a pcap record header.
const RECORD_HEADER_LEN: usize = 16;
/// Link types of raw IP packets: LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6.
const RAW_IP_LINKTYPES: [u32; 3] = [101, 228, 229];
/// IP protocol number of UDP.
const IPPROTO_UDP: u8 = 17;
/// Bytes of a UDP header.
const UDP_HEADER_LEN: usize = 8;
/// Bytes of an IPv6 header without extension headers.
const IPV6_HEADER_LEN: usize = 40;

/// The packet data of each record of a classic pcap file.
struct Records<'a> {
    rest: &'a [u8],
    big_endian: bool,
}

impl<'a> Records<'a> {
    /// Checks the file header and returns the records behind it.
    fn new(file: &'a [u8]) -> Result<Self, String> {
        let magic = le_u32(file, 0).ok_or("too short for a pcap header")?;
        let big_endian = match magic {
            PCAP_MAGIC_MICROS | PCAP_MAGIC_NANOS => false,
            _ if [PCAP_MAGIC_MICROS, PCAP_MAGIC_NANOS].contains(&magic.swap_bytes()) => true,
            PCAPNG_MAGIC => return Err("pcapng is not supported, only classic pcap".into()),
            _ => return Err(format!("not a pcap file (magic {magic:#010x})")),
        };
        let header = file
            .get(..PCAP_HEADER_LEN)
            .ok_or("too short for a pcap header")?;
        let linktype = u32_at(header, 20, big_endian).ok_or("too short for a pcap header")?;
        // The upper bits may carry FCS information; the link type is the low 16.
        let linktype = linktype & 0xffff;
        if !RAW_IP_LINKTYPES.contains(&linktype) {
            return Err(format!(
                "link type {linktype} is not raw IP (101, 228 or 229)"
            ));
        }
        Ok(Self {
            rest: file.get(PCAP_HEADER_LEN..).unwrap_or_default(),
            big_endian,
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let captured = u32_at(self.rest, 8, self.big_endian)?;
        let captured = usize::try_from(captured).ok()?;
        let end = RECORD_HEADER_LEN.checked_add(captured)?;
        // A record cut short ends the capture.
        let data = self.rest.get(RECORD_HEADER_LEN..end)?;
        self.rest = self.rest.get(end..).unwrap_or_default();
        Some(data)
    }
}

/// The ports and payload of a UDP datagram inside a raw IP packet.
struct Udp<'a> {
    src_port: u16,
    dst_port: u16,
    payload: &'a [u8],
}

impl<'a> Udp<'a> {
    /// Reads an IPv4 or IPv6 packet carrying UDP; `None` for anything else
    /// or anything cut short. IPv6 extension headers are not followed.
    fn parse(packet: &'a [u8]) -> Option<Self> {
        let first = *packet.first()?;
        let (protocol, header_len, total_len) = match first >> 4 {
            4 => {
                let header_len = usize::from(first & 0x0f) * 4;
                let total_len = usize::from(be_u16(packet, 2)?);
                (*packet.get(9)?, header_len, total_len)
            }
            6 => {
                let payload_len = usize::from(be_u16(packet, 4)?);
                (
                    *packet.get(6)?,
                    IPV6_HEADER_LEN,
                    IPV6_HEADER_LEN + payload_len,
                )
            }
            _ => return None,
        };
        if protocol != IPPROTO_UDP || header_len < 20 {
            return None;
        }
        // Trust the IP length only when it fits in what was captured.
        let packet = packet.get(..total_len).unwrap_or(packet);
        let udp = packet.get(header_len..)?;
        let udp_len = usize::from(be_u16(udp, 4)?);
        let udp = udp.get(..udp_len).unwrap_or(udp);
        Some(Self {
            src_port: be_u16(udp, 0)?,
            dst_port: be_u16(udp, 2)?,
            payload: udp.get(UDP_HEADER_LEN..)?,
        })
    }
}

/// Most CRYPTO bytes kept per connection and direction: a ClientHello is a
/// few kilobytes.
const MAX_CRYPTO_OFFSET: u64 = 64 * 1024;
/// Most CRYPTO frames kept per connection.
const MAX_CRYPTO_SEGMENTS: usize = 1024;
/// Most Initial key DCIDs per connection (the original, then Retries).
const MAX_KEY_DCIDS: usize = 8;
/// RFC 8446 §4: the handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// RFC 8446 §4: the handshake message type of a ServerHello (and of a
/// HelloRetryRequest).
const SERVER_HELLO: u8 = 2;

/// One connection the client started, named by its original DCID.
struct Connection {
    /// The client's Source Connection ID, which a Retry echoes as its DCID.
    client_scid: ConnectionId,
    /// The DCIDs whose Initial keys protect this connection's packets: the
    /// original, then the SCID of each Retry (RFC 9001 §5.2).
    key_dcids: Vec<ConnectionId>,
    /// The largest packet number opened, to expand the next one.
    largest_pn: Option<u64>,
    /// The largest packet number of an opened Initial without a token.
    largest_pn_without_token: Option<u64>,
    /// The Initial CRYPTO stream.
    crypto: CryptoStream,
    /// The same two for the server's Initials.
    server_largest_pn: Option<u64>,
    server_crypto: CryptoStream,
}

/// The state of one pass over the capture.
#[derive(Default)]
struct Reader {
    view: ClientHelloView,
    /// In the order the client started them.
    connections: Vec<Connection>,
    /// A DCID seen on a client Initial that opened, to the connection and
    /// the key DCID that opened it.
    routes: HashMap<ConnectionId, (usize, ConnectionId)>,
    /// Client Initial keys by key DCID and version, derived once each.
    keys: HashMap<(ConnectionId, Version), DirectionalKeys>,
    /// Server Initial keys, likewise.
    server_keys: HashMap<(ConnectionId, Version), DirectionalKeys>,
    /// Whether a complete ClientHello was read into the view.
    hello_read: bool,
    /// Whether a complete ServerHello was read into the view.
    server_hello_read: bool,
}

impl Reader {
    /// Opens the Initial packets of a datagram the client sent.
    fn client_datagram(&mut self, datagram: &[u8]) {
        let mut packets = CoalescedPackets::new(BytesMut::from(datagram), decode_options());
        while let Some(packet) = packets.next() {
            match packet {
                Ok(packet) if packet.packet_type() == PacketType::Initial => {
                    self.client_initial(&packet);
                }
                // The packets behind one for another connection still parse.
                Ok(_) | Err(PacketDecodeError::DestinationMismatch) => {}
                Err(_) => {
                    // A header that no longer parses but still reads as a
                    // v1 or v2 Initial was damaged on the path.
                    if looks_like_initial(packets.remainder()) {
                        self.view.undecryptable += 1;
                    }
                }
            }
        }
    }

    /// Learns the keys a Retry gives the client's next Initials (RFC 9001
    /// §5.2: they derive from the Retry's Source Connection ID), and reads
    /// the server's Initials for its ServerHello.
    fn server_datagram(&mut self, datagram: &[u8]) {
        let packets = CoalescedPackets::new(BytesMut::from(datagram), decode_options());
        for packet in packets.flatten() {
            match packet.packet_type() {
                PacketType::Retry => self.retry(&packet),
                PacketType::Initial => self.server_initial(&packet),
                _ => {}
            }
        }
    }

    fn retry(&mut self, packet: &PartialDecode) {
        let Some(scid) = packet.scid().copied() else {
            return;
        };
        let dcid = *packet.dcid();
        let found = self
            .connections
            .iter_mut()
            .enumerate()
            .rev()
            .find(|(_, conn)| conn.client_scid == dcid);
        if let Some((index, conn)) = found
            && conn.key_dcids.len() < MAX_KEY_DCIDS
            && !conn.key_dcids.contains(&scid)
        {
            conn.key_dcids.push(scid);
            self.routes.insert(scid, (index, scid));
        }
    }

    /// Opens a server Initial, addressed to the client's Source Connection
    /// ID, with the server's keys of the connection's latest key DCID, and
    /// reads the first ServerHello it completes.
    fn server_initial(&mut self, packet: &PartialDecode) {
        if self.server_hello_read {
            return;
        }
        let Some(version) = packet.version().and_then(Version::from_u32) else {
            return;
        };
        let dcid = *packet.dcid();
        let Some(conn) = self
            .connections
            .iter_mut()
            .rev()
            .find(|conn| conn.client_scid == dcid)
        else {
            return;
        };
        let Some(&key_dcid) = conn.key_dcids.last() else {
            return;
        };
        let keys = self
            .server_keys
            .entry((key_dcid, version))
            .or_insert_with(|| Keys::initial(version, &key_dcid, Side::Client).remote);
        let Some((pn, payload)) = open(keys, packet, conn.server_largest_pn) else {
            return;
        };
        conn.server_largest_pn = Some(conn.server_largest_pn.map_or(pn, |l| l.max(pn)));
        read_crypto(&mut conn.server_crypto, payload);
        if let Some((msg_type, body)) = conn.server_crypto.first_message() {
            self.view.server_hello_suite = (msg_type == SERVER_HELLO)
                .then(|| selected_suite(&body))
                .flatten();
            self.server_hello_read = true;
        }
    }

    /// Opens one client Initial: with the keys of the connection its DCID
    /// is known to belong to, else with those of every known connection
    /// (the client moves to the server's CID but keeps the original keys),
    /// else as the first Initial of a new connection.
    fn client_initial(&mut self, packet: &PartialDecode) {
        let Some(version) = packet.version().and_then(Version::from_u32) else {
            return;
        };
        let dcid = *packet.dcid();
        let candidates: Vec<(Option<usize>, ConnectionId)> = match self.routes.get(&dcid) {
            Some(&(index, key_dcid)) => vec![(Some(index), key_dcid)],
            None => {
                let known = self.connections.iter().enumerate().rev();
                let known = known.flat_map(|(index, conn)| {
                    conn.key_dcids
                        .iter()
                        .rev()
                        .map(move |key| (Some(index), *key))
                });
                known.chain([(None, dcid)]).collect()
            }
        };
        for (index, key_dcid) in candidates {
            let largest_pn = index
                .and_then(|index| self.connections.get(index))
                .and_then(|conn| conn.largest_pn);
            let keys = self
                .keys
                .entry((key_dcid, version))
                .or_insert_with(|| Keys::initial(version, &key_dcid, Side::Server).remote);
            let Some((pn, payload)) = open(keys, packet, largest_pn) else {
                continue;
            };
            let index = index.unwrap_or_else(|| self.start_connection(packet, dcid));
            self.routes.entry(dcid).or_insert((index, key_dcid));
            self.view.initial_packets += 1;
            let has_token = packet.token().is_some_and(|token| !token.is_empty());
            self.opened(index, pn, has_token, payload);
            return;
        }
        self.view.undecryptable += 1;
    }

    /// Records a connection whose first Initial just opened under keys
    /// from its own DCID; returns its index.
    fn start_connection(&mut self, packet: &PartialDecode, dcid: ConnectionId) -> usize {
        self.connections.push(Connection {
            client_scid: packet.scid().copied().unwrap_or(ConnectionId::EMPTY),
            key_dcids: vec![dcid],
            largest_pn: None,
            largest_pn_without_token: None,
            crypto: CryptoStream::default(),
            server_largest_pn: None,
            server_crypto: CryptoStream::default(),
        });
        self.view.connections = self.connections.len();
        self.connections.len() - 1
    }

    /// Reads the frames of an opened client Initial of connection `index`.
    fn opened(&mut self, index: usize, pn: u64, has_token: bool, payload: Bytes) {
        let Some(conn) = self.connections.get_mut(index) else {
            return;
        };
        conn.largest_pn = Some(conn.largest_pn.map_or(pn, |largest| largest.max(pn)));
        if has_token {
            self.view.initials_with_token += 1;
            // RFC 9000 §17.2.5.3: the Initials after a Retry continue the
            // packet number space; the runner fails a client whose token
            // Initial reuses a number its earlier Initials had.
            if conn
                .largest_pn_without_token
                .is_some_and(|before| pn <= before)
            {
                self.view.packet_numbers_reset += 1;
            }
        } else {
            conn.largest_pn_without_token =
                Some(conn.largest_pn_without_token.map_or(pn, |l| l.max(pn)));
        }
        if read_crypto(&mut conn.crypto, payload) {
            self.view.client_hello_sends += 1;
        }
        if !self.hello_read
            && let Some((msg_type, body)) = conn.crypto.first_message()
        {
            self.view.cipher_suites = if msg_type == CLIENT_HELLO {
                cipher_suites(&body).unwrap_or_default()
            } else {
                Vec::new()
            };
            self.hello_read = true;
        }
    }
}

/// Keeps the CRYPTO frames of an opened Initial's `payload` in `stream`;
/// returns whether one of them starts the stream (a first handshake
/// message sent or sent again).
fn read_crypto(stream: &mut CryptoStream, payload: Bytes) -> bool {
    let mut starts = false;
    // A frame that does not decode ends the packet, as for a receiver.
    for frame in Frames::new(payload, EncryptionLevel::Initial).map_while(Result::ok) {
        if let Frame::Crypto(crypto) = frame {
            let offset = crypto.offset.into_inner();
            starts |= offset == 0 && !crypto.data.is_empty();
            stream.insert(offset, crypto.data);
        }
    }
    starts
}

/// Client packets are read as any server reads them; a greased fixed bit
/// (RFC 9287) is tolerated, since the capture cannot tell what was agreed.
fn decode_options() -> DecodeOptions {
    DecodeOptions::default().allow_greased_fixed_bit(true)
}

/// Whether `bytes` start with a long header of QUIC v1 or v2 whose type
/// bits say Initial (RFC 9000 §17.2, RFC 9369 §3.2).
fn looks_like_initial(bytes: &[u8]) -> bool {
    let Some(&first) = bytes.first() else {
        return false;
    };
    let version = be_u32(bytes, 1).and_then(Version::from_u32);
    first & 0x80 != 0
        && version.is_some_and(|version| {
            LongType::from_bits(version, (first >> 4) & 0b11) == LongType::Initial
        })
}

/// Opens a copy of `packet` (a failed attempt spoils the bytes it worked
/// on) and returns its packet number and plaintext payload.
fn open(
    keys: &DirectionalKeys,
    packet: &PartialDecode,
    largest_pn: Option<u64>,
) -> Option<(u64, Bytes)> {
    let pn_offset = packet.pn_offset()?;
    let mut data = packet.data().to_vec();
    let opened = keys.open(&mut data, pn_offset, largest_pn).ok()?;
    let payload = data.get(opened.payload)?;
    Some((opened.pn, Bytes::copy_from_slice(payload)))
}

/// The CRYPTO frames of a connection's Initials in one direction, kept
/// until the first handshake message they carry (ClientHello or
/// ServerHello) is whole.
#[derive(Default)]
struct CryptoStream {
    segments: Vec<(u64, Bytes)>,
    /// Whether the first message was read; nothing more is kept then.
    done: bool,
}

impl CryptoStream {
    /// Keeps one frame's data, within bounds.
    fn insert(&mut self, offset: u64, data: Bytes) {
        if !self.done
            && !data.is_empty()
            && offset < MAX_CRYPTO_OFFSET
            && self.segments.len() < MAX_CRYPTO_SEGMENTS
        {
            self.segments.push((offset, data));
        }
    }

    /// The bytes received contiguously from offset 0.
    fn prefix(&self) -> Vec<u8> {
        let mut segments: Vec<&(u64, Bytes)> = self.segments.iter().collect();
        segments.sort_by_key(|(offset, _)| *offset);
        let mut prefix = Vec::new();
        for (offset, data) in segments {
            let Ok(start) = usize::try_from(*offset) else {
                break;
            };
            let Some(overlap) = prefix.len().checked_sub(start) else {
                break;
            };
            if let Some(new) = data.get(overlap..) {
                prefix.extend_from_slice(new);
            }
        }
        prefix
    }

    /// The type and body of the first handshake message, once it is whole;
    /// `None` while it is incomplete, and after it was taken.
    fn first_message(&mut self) -> Option<(u8, Vec<u8>)> {
        if self.done {
            return None;
        }
        let prefix = self.prefix();
        let (msg_type, body) = handshake_message(&prefix)?;
        let body = body.to_vec();
        self.done = true;
        self.segments = Vec::new();
        Some((msg_type, body))
    }
}

/// RFC 8446 §4: the type and body of the handshake message at the start
/// of `stream`; `None` while it is incomplete.
fn handshake_message(stream: &[u8]) -> Option<(u8, &[u8])> {
    let mut message = Cursor(stream);
    let msg_type = message.u8()?;
    let len = message.u24()?;
    Some((msg_type, message.take(len)?))
}

/// RFC 8446 §4.1.3: legacy_version, random, legacy_session_id_echo, then
/// the selected cipher_suite.
fn selected_suite(body: &[u8]) -> Option<u16> {
    let mut hello = Cursor(body);
    hello.take(2 + 32)?;
    let session_id_len = usize::from(hello.u8()?);
    hello.take(session_id_len)?;
    hello.u16()
}

/// RFC 8446 §4.1.2: legacy_version, random, legacy_session_id, then
/// cipher_suites, a 2-byte length and a list of 2-byte suites.
fn cipher_suites(body: &[u8]) -> Option<Vec<u16>> {
    let mut hello = Cursor(body);
    hello.take(2 + 32)?;
    let session_id_len = usize::from(hello.u8()?);
    hello.take(session_id_len)?;
    let suites_len = usize::from(hello.u16()?);
    let suites = hello.take(suites_len)?;
    let pairs = suites.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    Some(
        pairs
            .filter_map(|pair| pair.try_into().ok().map(u16::from_be_bytes))
            .collect(),
    )
}

/// Reads big-endian fields off the front of a slice; each read returns
/// `None` when the slice runs short.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u16(&mut self) -> Option<u16> {
        let bytes = self.take(2)?;
        Some(u16::from_be_bytes(bytes.try_into().ok()?))
    }

    fn u24(&mut self) -> Option<usize> {
        let bytes = self.take(3)?;
        let value = u32::from_be_bytes([0, *bytes.first()?, *bytes.get(1)?, *bytes.get(2)?]);
        usize::try_from(value).ok()
    }
}

/// `N` bytes of `bytes` at `at`, or `None` past its end.
fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    array_at(bytes, at).map(u16::from_be_bytes)
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    array_at(bytes, at).map(u32::from_be_bytes)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    array_at(bytes, at).map(u32::from_le_bytes)
}

/// A pcap field in the file's byte order.
fn u32_at(bytes: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    if big_endian {
        be_u32(bytes, at)
    } else {
        le_u32(bytes, at)
    }
}
