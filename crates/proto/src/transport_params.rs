//! Transport parameters (RFC 9000 §18, RFC 9221 §3, RFC 9287 §3, RFC 9368 §3).
//!
//! [`TransportParameters`] is the parsed form of the `quic_transport_parameters`
//! TLS extension: every field is typed, and a parameter the peer left out
//! holds its RFC default. [`TransportParameters::decode`] checks everything
//! that can be checked from the bytes alone (encoding, ranges, duplicates,
//! which side may send what), so a value that exists is a legal one.
//! Checks that need connection context live with the connection; the one
//! that is cheap to state here is
//! [`check_connection_ids`](TransportParameters::check_connection_ids)
//! (RFC 9000 §7.3).
//!
//! ```
//! use std::time::Duration;
//! use tern_proto::{Side, transport_params::TransportParameters, varint::VarInt};
//!
//! let ours = TransportParameters {
//!     max_idle_timeout: Duration::from_secs(30),
//!     initial_max_data: VarInt::from_u32(1 << 20),
//!     ..TransportParameters::default()
//! };
//! let mut wire = Vec::with_capacity(ours.encoded_len(Side::Client));
//! ours.encode(Side::Client, &mut wire);
//! let theirs = TransportParameters::decode(Side::Client, &wire).unwrap();
//! assert_eq!(theirs, ours);
//! ```

use std::{fmt, time::Duration};

use bytes::BufMut;

use crate::{Side, cid::ConnectionId, error::TransportError, varint::VarInt};

mod decode;
mod encode;
mod id;
mod preferred_address;
mod reserved;
#[cfg(test)]
mod tests;

pub use preferred_address::PreferredAddress;
pub use reserved::ReservedParameter;

/// RFC 9000 §18.2: the default max_udp_payload_size, the largest UDP payload.
const DEFAULT_MAX_UDP_PAYLOAD_SIZE: u32 = 65_527;
/// RFC 9000 §18.2: the default ack_delay_exponent.
const DEFAULT_ACK_DELAY_EXPONENT: u8 = 3;
/// RFC 9000 §18.2: the default max_ack_delay, in milliseconds.
const DEFAULT_MAX_ACK_DELAY_MS: u64 = 25;
/// RFC 9000 §18.2: the default active_connection_id_limit.
const DEFAULT_ACTIVE_CONNECTION_ID_LIMIT: u32 = 2;

/// RFC 9000 §18.2: max_udp_payload_size below this is invalid.
const MIN_MAX_UDP_PAYLOAD_SIZE: u64 = 1200;
/// RFC 9000 §4.6: a stream count above 2^60 is invalid.
const MAX_STREAMS: u64 = 1 << 60;
/// RFC 9000 §18.2: ack_delay_exponent above 20 is invalid.
const MAX_ACK_DELAY_EXPONENT: u8 = 20;
/// RFC 9000 §18.2: max_ack_delay of 2^14 ms or more is invalid.
const MAX_ACK_DELAY_LIMIT_MS: u64 = 1 << 14;
/// RFC 9000 §18.2: active_connection_id_limit below 2 is invalid.
const MIN_ACTIVE_CONNECTION_ID_LIMIT: u64 = 2;
/// RFC 9000 §10.3: a stateless reset token is 16 bytes.
const RESET_TOKEN_LEN: usize = 16;

/// The transport parameters one endpoint declares to the other.
///
/// Fields hold the RFC 9000 §18.2 default when the parameter is absent.
/// Values decoded from a peer are always within their legal range; values
/// set by hand must be too (see each field), and
/// [`encode`](Self::encode) documents what happens when they are not.
///
/// `Debug` prints stateless reset tokens as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportParameters {
    /// 0x00, server only: the Destination Connection ID of the client's
    /// first Initial packet (RFC 9000 §7.3).
    pub original_destination_connection_id: Option<ConnectionId>,
    /// 0x01: the idle timeout, sent in whole milliseconds;
    /// [`Duration::ZERO`] (the default) means no timeout from this side.
    pub max_idle_timeout: Duration,
    /// 0x02, server only: the stateless reset token for the connection ID
    /// the server chose during the handshake.
    pub stateless_reset_token: Option<[u8; 16]>,
    /// 0x03: the largest UDP payload this endpoint accepts; at least 1200,
    /// 65527 by default.
    pub max_udp_payload_size: VarInt,
    /// 0x04: the initial connection-wide flow control limit, in bytes.
    pub initial_max_data: VarInt,
    /// 0x05: the initial flow control limit for bidirectional streams this
    /// endpoint opens.
    pub initial_max_stream_data_bidi_local: VarInt,
    /// 0x06: the initial flow control limit for bidirectional streams the
    /// peer opens.
    pub initial_max_stream_data_bidi_remote: VarInt,
    /// 0x07: the initial flow control limit for unidirectional streams the
    /// peer opens.
    pub initial_max_stream_data_uni: VarInt,
    /// 0x08: how many bidirectional streams the peer may open; at most 2^60.
    pub initial_max_streams_bidi: VarInt,
    /// 0x09: how many unidirectional streams the peer may open; at most 2^60.
    pub initial_max_streams_uni: VarInt,
    /// 0x0a: the exponent that scales the ACK Delay field; at most 20,
    /// 3 by default.
    pub ack_delay_exponent: u8,
    /// 0x0b: the longest this endpoint delays an acknowledgment; below
    /// 2^14 ms, 25 ms by default. Sent in whole milliseconds.
    pub max_ack_delay: Duration,
    /// 0x0c: the peer must not migrate this connection to a new address
    /// (RFC 9000 §9).
    pub disable_active_migration: bool,
    /// 0x0d, server only: an address for the client to migrate to after the
    /// handshake (RFC 9000 §9.6).
    pub preferred_address: Option<PreferredAddress>,
    /// 0x0e: how many connection IDs from the peer this endpoint keeps;
    /// at least 2, 2 by default.
    pub active_connection_id_limit: VarInt,
    /// 0x0f: the Source Connection ID of the sender's first Initial packet
    /// (RFC 9000 §7.3). Every endpoint must send it.
    pub initial_source_connection_id: Option<ConnectionId>,
    /// 0x10, server only: the Source Connection ID of the server's Retry
    /// packet, present exactly when it sent one (RFC 9000 §7.3).
    pub retry_source_connection_id: Option<ConnectionId>,
    /// 0x20 (RFC 9221 §3): the largest DATAGRAM frame this endpoint accepts.
    /// `None` or `Some(0)` means it does not accept DATAGRAM frames.
    pub max_datagram_frame_size: Option<VarInt>,
    /// 0x2ab2 (RFC 9287 §3): the peer may send packets with the QUIC bit
    /// cleared.
    pub grease_quic_bit: bool,
    /// 0x11 (RFC 9368 §3): the version chosen for the connection and the
    /// versions the sender could have used.
    pub version_information: Option<VersionInformation>,
}

/// The version_information parameter (RFC 9368 §3).
///
/// A decoded value never holds version 0, and when the client sent it, its
/// available versions include the chosen one (RFC 9368 §4). The list is
/// allocated from the bytes actually received: 4 bytes of input per entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionInformation {
    /// The version the sender uses for this connection; never 0.
    pub chosen_version: u32,
    /// From a client, the compatible versions it supports, most preferred
    /// first, including the chosen one; from a server, the versions fully
    /// deployed across its deployment, in no particular order, possibly none.
    /// Never contains 0.
    pub available_versions: Vec<u32>,
}

impl Default for TransportParameters {
    fn default() -> Self {
        Self {
            original_destination_connection_id: None,
            max_idle_timeout: Duration::ZERO,
            stateless_reset_token: None,
            max_udp_payload_size: VarInt::from_u32(DEFAULT_MAX_UDP_PAYLOAD_SIZE),
            initial_max_data: VarInt::default(),
            initial_max_stream_data_bidi_local: VarInt::default(),
            initial_max_stream_data_bidi_remote: VarInt::default(),
            initial_max_stream_data_uni: VarInt::default(),
            initial_max_streams_bidi: VarInt::default(),
            initial_max_streams_uni: VarInt::default(),
            ack_delay_exponent: DEFAULT_ACK_DELAY_EXPONENT,
            max_ack_delay: Duration::from_millis(DEFAULT_MAX_ACK_DELAY_MS),
            disable_active_migration: false,
            preferred_address: None,
            active_connection_id_limit: VarInt::from_u32(DEFAULT_ACTIVE_CONNECTION_ID_LIMIT),
            initial_source_connection_id: None,
            retry_source_connection_id: None,
            max_datagram_frame_size: None,
            grease_quic_bit: false,
            version_information: None,
        }
    }
}

impl TransportParameters {
    /// Parses the transport parameters `sender` sent, from the value of
    /// their TLS extension.
    ///
    /// Unknown and reserved parameters are skipped. Nothing is allocated
    /// beyond the version_information list, which is sized by its bytes.
    ///
    /// # Errors
    /// A `TRANSPORT_PARAMETER_ERROR` whose reason names the parameter when
    /// the input is truncated, a known parameter appears twice, a value is
    /// malformed or out of range, or a client sent a server-only parameter.
    pub fn decode(sender: Side, bytes: &[u8]) -> Result<Self, TransportError> {
        decode::decode(sender, bytes)
    }

    /// Bytes [`encode`](Self::encode) writes for `side`.
    #[must_use]
    pub fn encoded_len(&self, side: Side) -> usize {
        encode::encoded_len(self, side)
    }

    /// Writes every parameter that differs from its default (or is present),
    /// in increasing id order, as the endpoint `side` sends them.
    ///
    /// A client never writes server-only parameters (RFC 9000 §18.2): when
    /// `side` is [`Side::Client`] they are left out even if set.
    /// Durations are sent in whole milliseconds, rounded down. A value
    /// outside its legal range is clamped to the nearest legal one.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of
    /// room (as `BufMut` does). In debug builds, when a field is outside its
    /// legal range or the preferred address has an empty connection ID.
    pub fn encode<B: BufMut>(&self, side: Side, buf: &mut B) {
        encode::encode(self, side, buf);
    }

    /// Like [`encode`](Self::encode), with `reserved` written first to
    /// exercise the peer's skipping of unknown parameters (RFC 9000 §18.1).
    /// It takes [`ReservedParameter::encoded_len`] more bytes.
    ///
    /// # Panics
    /// As [`encode`](Self::encode).
    pub fn encode_with_reserved<B: BufMut>(
        &self,
        side: Side,
        reserved: &ReservedParameter,
        buf: &mut B,
    ) {
        reserved.encode(buf);
        encode::encode(self, side, buf);
    }

    /// Checks the connection IDs in parameters `sender` sent against the
    /// ones seen in the handshake's packets (RFC 9000 §7.3).
    ///
    /// `peer_initial_scid` is the Source Connection ID of the peer's first
    /// Initial packet. When the server is the sender, `original_dcid` is the
    /// Destination Connection ID of the client's first Initial packet and
    /// `retry_scid` the Source Connection ID of the Retry packet the client
    /// accepted, if any; when the client is the sender, both are ignored and
    /// the server-only parameters must be absent.
    ///
    /// # Errors
    /// A `TRANSPORT_PARAMETER_ERROR` when a parameter is missing, present
    /// when it must not be, or does not match.
    pub fn check_connection_ids(
        &self,
        sender: Side,
        peer_initial_scid: &ConnectionId,
        original_dcid: &ConnectionId,
        retry_scid: Option<&ConnectionId>,
    ) -> Result<(), TransportError> {
        // RFC 9000 §7.3: initial_source_connection_id is required from both
        // sides; its absence is a TRANSPORT_PARAMETER_ERROR.
        let Some(iscid) = &self.initial_source_connection_id else {
            return Err(TransportError::transport_parameter_error(
                "missing initial_source_connection_id",
            ));
        };
        // RFC 9000 §7.3: a mismatch may be a TRANSPORT_PARAMETER_ERROR or a
        // PROTOCOL_VIOLATION; we use the former for every case here.
        if iscid != peer_initial_scid {
            return Err(TransportError::transport_parameter_error(
                "initial_source_connection_id mismatch",
            ));
        }
        // RFC 9000 §7.3: original_destination_connection_id is required from
        // a server; its absence is a TRANSPORT_PARAMETER_ERROR.
        match (sender, &self.original_destination_connection_id) {
            (Side::Server, None) => {
                return Err(TransportError::transport_parameter_error(
                    "missing original_destination_connection_id",
                ));
            }
            (Side::Server, Some(odcid)) if odcid != original_dcid => {
                return Err(TransportError::transport_parameter_error(
                    "original_destination_connection_id mismatch",
                ));
            }
            (Side::Client, Some(_)) => {
                return Err(TransportError::transport_parameter_error(
                    "unexpected original_destination_connection_id",
                ));
            }
            _ => {}
        }
        let expected_rscid = retry_scid.filter(|_| sender.is_server());
        // RFC 9000 §7.3: retry_source_connection_id is present exactly when a
        // Retry was accepted, and matches it.
        match (&self.retry_source_connection_id, expected_rscid) {
            (None, None) => Ok(()),
            (Some(got), Some(want)) if got == want => Ok(()),
            (Some(_), Some(_)) => Err(TransportError::transport_parameter_error(
                "retry_source_connection_id mismatch",
            )),
            (None, Some(_)) => Err(TransportError::transport_parameter_error(
                "missing retry_source_connection_id",
            )),
            (Some(_), None) => Err(TransportError::transport_parameter_error(
                "unexpected retry_source_connection_id",
            )),
        }
    }

    /// Whether the sender accepts DATAGRAM frames (RFC 9221 §3): it sent a
    /// non-zero max_datagram_frame_size.
    #[must_use]
    pub fn accepts_datagrams(&self) -> bool {
        self.max_datagram_frame_size
            .is_some_and(|size| size.into_inner() > 0)
    }
}

/// Stands in for a secret in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for TransportParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportParameters")
            .field(
                "original_destination_connection_id",
                &self.original_destination_connection_id,
            )
            .field("max_idle_timeout", &self.max_idle_timeout)
            .field(
                "stateless_reset_token",
                &self.stateless_reset_token.map(|_| Redacted),
            )
            .field("max_udp_payload_size", &self.max_udp_payload_size)
            .field("initial_max_data", &self.initial_max_data)
            .field(
                "initial_max_stream_data_bidi_local",
                &self.initial_max_stream_data_bidi_local,
            )
            .field(
                "initial_max_stream_data_bidi_remote",
                &self.initial_max_stream_data_bidi_remote,
            )
            .field(
                "initial_max_stream_data_uni",
                &self.initial_max_stream_data_uni,
            )
            .field("initial_max_streams_bidi", &self.initial_max_streams_bidi)
            .field("initial_max_streams_uni", &self.initial_max_streams_uni)
            .field("ack_delay_exponent", &self.ack_delay_exponent)
            .field("max_ack_delay", &self.max_ack_delay)
            .field("disable_active_migration", &self.disable_active_migration)
            .field("preferred_address", &self.preferred_address)
            .field(
                "active_connection_id_limit",
                &self.active_connection_id_limit,
            )
            .field(
                "initial_source_connection_id",
                &self.initial_source_connection_id,
            )
            .field(
                "retry_source_connection_id",
                &self.retry_source_connection_id,
            )
            .field("max_datagram_frame_size", &self.max_datagram_frame_size)
            .field("grease_quic_bit", &self.grease_quic_bit)
            .field("version_information", &self.version_information)
            .finish()
    }
}
