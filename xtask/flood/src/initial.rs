//! The flood's datagrams: the ClientHello of one real client, sealed again
//! for every datagram under the Initial keys of a fresh Destination
//! Connection ID.

#[cfg(test)]
pub(crate) mod tests;

use std::{net::SocketAddr, sync::Arc, time::Instant};

use bytes::{Bytes, BytesMut};
use tern_proto::{
    ConnectionId, DecodeOptions, EncryptionLevel, Frame, Frames, PacketType, PartialDecode, Side,
    config::{ClientConfig, EndpointConfig},
    crypto::Keys,
    endpoint::{ConnectError, Endpoint},
    packet::{LongHeader, LongHeaderType, PacketNumber, Version},
};

/// RFC 9000 §14.1: a client pads every datagram that carries an Initial to
/// at least 1200 bytes; the flood's are exactly this long.
pub const INITIAL_DATAGRAM_SIZE: usize = 1200;

/// The TLS handshake message type of a ClientHello (RFC 8446 §4).
const CLIENT_HELLO: u8 = 1;

/// Why a ClientHello could not be taken from a client's first Initial, or
/// sealed again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    /// The client configuration cannot start a connection; the message
    /// says what to change.
    #[error("the client cannot connect: {0}")]
    Connect(#[from] ConnectError),
    /// The client sent nothing when it connected.
    #[error("the client sent no datagram")]
    NoDatagram,
    /// The datagram does not start with a client Initial.
    #[error("the first datagram is not an Initial: {0}")]
    NotAnInitial(String),
    /// The Initial does not open under the keys of its own DCID.
    #[error("the Initial does not decrypt under the keys of its DCID")]
    Undecryptable,
    /// The Initial's frames do not parse, or carry no CRYPTO data from
    /// offset 0.
    #[error("the Initial's frames are not a ClientHello: {0}")]
    NotAClientHello(String),
    /// The ClientHello goes on past the first Initial. Offer a key exchange
    /// with a smaller key share (X25519 alone rather than X25519MLKEM768)
    /// so that it fits in one.
    #[error(
        "the ClientHello takes {needed} bytes and the first Initial carries {carried}: \
         offer a smaller key share (X25519) so that it fits one Initial"
    )]
    Incomplete {
        /// Bytes of the whole ClientHello message.
        needed: usize,
        /// Bytes of it in the first Initial.
        carried: usize,
    },
    /// A Destination Connection ID outside 8..=20 bytes (RFC 9000 §7.2
    /// asks at least 8 of a client, §17.2 allows at most 20).
    #[error("a client's first DCID is 8 to 20 bytes, not {0}")]
    DcidLength(usize),
    /// The frames, header and tag do not fit in
    /// [`INITIAL_DATAGRAM_SIZE`] bytes.
    #[error("the Initial would take {0} bytes, more than {INITIAL_DATAGRAM_SIZE}")]
    TooLarge(usize),
}

/// The CRYPTO frames of a client's first Initial, which carry its whole
/// ClientHello, ready to be sealed again for any number of new
/// connections.
#[derive(Clone, Debug)]
pub struct ClientHello {
    version: Version,
    /// The client's Source Connection ID, kept as it was: the ClientHello's
    /// initial_source_connection_id transport parameter names it, and a
    /// server that found them different would close at once (RFC 9000
    /// §7.3) instead of holding a handshake.
    scid: ConnectionId,
    frames: Vec<u8>,
}

impl ClientHello {
    /// Starts a connection to `server` on a sans-IO client endpoint with
    /// `config` and takes its first Initial (see
    /// [`from_datagram`](Self::from_datagram)). Nothing is sent.
    ///
    /// # Errors
    /// [`HelloError::Connect`] when `config` cannot start a connection;
    /// otherwise as [`from_datagram`](Self::from_datagram).
    pub fn capture(
        now: Instant,
        config: &ClientConfig,
        server: SocketAddr,
    ) -> Result<Self, HelloError> {
        let mut endpoint = Endpoint::new(Arc::new(EndpointConfig::default()), None, None, 1);
        endpoint.connect(now, config, server, "localhost")?;
        let mut buf = Vec::new();
        let transmit = endpoint
            .poll_transmit(now, 1, &mut buf)
            .ok_or(HelloError::NoDatagram)?;
        Self::from_datagram(&buf[..transmit.size])
    }

    /// Opens a client's first Initial datagram as a server would, with the
    /// Initial keys of its DCID (RFC 9001 §5.2), and keeps its CRYPTO
    /// frames; PADDING and anything else are left out.
    ///
    /// # Errors
    /// A [`HelloError`] when the datagram is not an Initial, does not
    /// decrypt, or does not carry a whole ClientHello.
    pub fn from_datagram(datagram: &[u8]) -> Result<Self, HelloError> {
        let options = DecodeOptions::new(0).map_err(|e| HelloError::NotAnInitial(e.to_string()))?;
        let (mut packet, _) = PartialDecode::new(BytesMut::from(datagram), options)
            .map_err(|e| HelloError::NotAnInitial(e.to_string()))?;
        if packet.packet_type() != PacketType::Initial {
            return Err(HelloError::NotAnInitial(format!(
                "a {:?} packet",
                packet.packet_type()
            )));
        }
        let version = packet
            .version()
            .and_then(Version::from_u32)
            .ok_or_else(|| HelloError::NotAnInitial("an unknown version".into()))?;
        let scid = *packet
            .scid()
            .ok_or_else(|| HelloError::NotAnInitial("no SCID".into()))?;
        let keys = Keys::initial(version, packet.dcid(), Side::Server);
        let opened = keys
            .remote
            .open_decoded(&mut packet, None)
            .map_err(|_| HelloError::Undecryptable)?;
        let payload = Bytes::copy_from_slice(&packet.data()[opened.payload]);
        let frames = crypto_frames(payload)?;
        Ok(Self {
            version,
            scid,
            frames,
        })
    }

    /// The CRYPTO frames, encoded, that every sealed Initial carries.
    #[must_use]
    pub fn frames(&self) -> &[u8] {
        &self.frames
    }

    /// Writes into `out` (cleared first) a datagram of exactly
    /// [`INITIAL_DATAGRAM_SIZE`] bytes: one Initial to `dcid`, packet
    /// number 0, no token, carrying the ClientHello and PADDING, sealed
    /// under the Initial keys that `dcid` gives (RFC 9001 §5.2).
    ///
    /// # Errors
    /// [`HelloError::DcidLength`] for a DCID outside 8..=20 bytes;
    /// [`HelloError::TooLarge`] when the ClientHello leaves no room.
    pub fn seal(&self, dcid: &[u8], out: &mut Vec<u8>) -> Result<(), HelloError> {
        // RFC 9000 §7.2: a client's first DCID is unpredictable and at
        // least 8 bytes long.
        if !(8..=ConnectionId::MAX_LEN).contains(&dcid.len()) {
            return Err(HelloError::DcidLength(dcid.len()));
        }
        let dcid_id = ConnectionId::new(dcid).map_err(|_| HelloError::DcidLength(dcid.len()))?;
        let keys = Keys::initial(self.version, dcid, Side::Client);
        let header = LongHeader {
            ty: LongHeaderType::Initial { token: &[] },
            version: self.version,
            dcid: dcid_id,
            scid: self.scid,
            pn: PacketNumber::new(0, None),
            grease_fixed_bit: false,
        };
        out.clear();
        let layout = header.encode(out);
        let needed = layout.header_len + self.frames.len() + keys.local.packet.tag_len();
        if needed > INITIAL_DATAGRAM_SIZE {
            return Err(HelloError::TooLarge(needed));
        }
        out.extend_from_slice(&self.frames);
        // PADDING frames (type 0x00) fill the packet up to the datagram
        // size; the AEAD tag takes the last bytes.
        out.resize(INITIAL_DATAGRAM_SIZE, 0);
        layout
            .set_length(out)
            .map_err(|_| HelloError::TooLarge(needed))?;
        keys.local
            .seal(0, out, layout.pn_offset)
            .map_err(|_| HelloError::TooLarge(needed))
    }
}

/// The CRYPTO frames of an Initial's payload, encoded again, after checking
/// that they hold one whole ClientHello from offset 0.
fn crypto_frames(payload: Bytes) -> Result<Vec<u8>, HelloError> {
    let mut frames = Vec::new();
    let mut data: Vec<(u64, Bytes)> = Vec::new();
    for frame in Frames::new(payload, EncryptionLevel::Initial) {
        match frame.map_err(|e| HelloError::NotAClientHello(e.to_string()))? {
            Frame::Crypto(crypto) => {
                crypto.encode(&mut frames);
                data.push((crypto.offset.into_inner(), crypto.data));
            }
            Frame::Padding(_) | Frame::Ping => {}
            other => {
                return Err(HelloError::NotAClientHello(format!(
                    "a {:?} frame",
                    other.ty()
                )));
            }
        }
    }
    data.sort_by_key(|(offset, _)| *offset);
    let mut hello = Vec::new();
    for (offset, bytes) in data {
        if offset != hello.len() as u64 {
            return Err(HelloError::NotAClientHello(
                "the CRYPTO data has a gap".into(),
            ));
        }
        hello.extend_from_slice(&bytes);
    }
    match hello.as_slice() {
        [CLIENT_HELLO, a, b, c, ..] => {
            let needed = 4 + (usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c));
            if hello.len() < needed {
                return Err(HelloError::Incomplete {
                    needed,
                    carried: hello.len(),
                });
            }
            Ok(frames)
        }
        _ => Err(HelloError::NotAClientHello(
            "the CRYPTO data does not start with a ClientHello".into(),
        )),
    }
}
