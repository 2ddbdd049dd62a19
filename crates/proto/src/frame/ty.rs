//! Frame type numbers (RFC 9000 §19, RFC 9221 §4).

use std::fmt;

use crate::{EncryptionLevel, varint::VarInt};

/// A frame type as it appears on the wire, known or not.
#[derive(Copy, Clone, Eq, PartialEq, Hash, PartialOrd, Ord)]
pub struct FrameType(u64);

macro_rules! frame_types {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl FrameType {
            $(
                $(#[$doc])*
                pub const $name: Self = Self($value);
            )*

            /// The RFC name of a known type, such as `"MAX_STREAM_DATA"`.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    0x08..=0x0f => Some("STREAM"),
                    _ => None,
                }
            }
        }
    };
}

frame_types! {
    /// PADDING (§19.1).
    PADDING = 0x00;
    /// PING (§19.2).
    PING = 0x01;
    /// ACK without ECN counts (§19.3).
    ACK = 0x02;
    /// ACK with ECN counts (§19.3).
    ACK_ECN = 0x03;
    /// RESET_STREAM (§19.4).
    RESET_STREAM = 0x04;
    /// STOP_SENDING (§19.5).
    STOP_SENDING = 0x05;
    /// CRYPTO (§19.6).
    CRYPTO = 0x06;
    /// NEW_TOKEN (§19.7).
    NEW_TOKEN = 0x07;
    /// MAX_DATA (§19.9).
    MAX_DATA = 0x10;
    /// MAX_STREAM_DATA (§19.10).
    MAX_STREAM_DATA = 0x11;
    /// MAX_STREAMS for bidirectional streams (§19.11).
    MAX_STREAMS_BIDI = 0x12;
    /// MAX_STREAMS for unidirectional streams (§19.11).
    MAX_STREAMS_UNI = 0x13;
    /// DATA_BLOCKED (§19.12).
    DATA_BLOCKED = 0x14;
    /// STREAM_DATA_BLOCKED (§19.13).
    STREAM_DATA_BLOCKED = 0x15;
    /// STREAMS_BLOCKED for bidirectional streams (§19.14).
    STREAMS_BLOCKED_BIDI = 0x16;
    /// STREAMS_BLOCKED for unidirectional streams (§19.14).
    STREAMS_BLOCKED_UNI = 0x17;
    /// NEW_CONNECTION_ID (§19.15).
    NEW_CONNECTION_ID = 0x18;
    /// RETIRE_CONNECTION_ID (§19.16).
    RETIRE_CONNECTION_ID = 0x19;
    /// PATH_CHALLENGE (§19.17).
    PATH_CHALLENGE = 0x1a;
    /// PATH_RESPONSE (§19.18).
    PATH_RESPONSE = 0x1b;
    /// CONNECTION_CLOSE for transport errors (§19.19).
    CONNECTION_CLOSE = 0x1c;
    /// CONNECTION_CLOSE for application errors (§19.19).
    APPLICATION_CLOSE = 0x1d;
    /// HANDSHAKE_DONE (§19.20).
    HANDSHAKE_DONE = 0x1e;
    /// DATAGRAM without a Length field (RFC 9221 §4).
    DATAGRAM = 0x30;
    /// DATAGRAM with a Length field (RFC 9221 §4).
    DATAGRAM_WITH_LEN = 0x31;
}

impl FrameType {
    /// The base STREAM type, 0x08; the low three bits are OFF, LEN and FIN.
    pub const STREAM: Self = Self(0x08);

    /// Wraps a type read from the wire.
    #[must_use]
    pub const fn from_wire(value: VarInt) -> Self {
        Self(value.into_inner())
    }

    /// The numeric type.
    #[must_use]
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// Whether this is one of the eight STREAM types 0x08..=0x0f.
    #[must_use]
    pub const fn is_stream(self) -> bool {
        self.0 >= 0x08 && self.0 <= 0x0f
    }

    /// Whether this is a frame type this crate knows (RFC 9000 §19, RFC 9221 §4).
    #[must_use]
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// Whether a frame of this type may appear in a packet of `level`.
    /// Unknown types are allowed nowhere.
    #[must_use]
    pub const fn is_allowed_in(self, level: EncryptionLevel) -> bool {
        if !self.is_known() {
            return false;
        }
        match level {
            // RFC 9000 §12.4: Initial and Handshake packets carry only PADDING,
            // PING, ACK, CRYPTO and CONNECTION_CLOSE of type 0x1c.
            // RFC 9221 §4: DATAGRAM frames go in 0-RTT and 1-RTT packets only.
            EncryptionLevel::Initial | EncryptionLevel::Handshake => matches!(
                self,
                Self::PADDING
                    | Self::PING
                    | Self::ACK
                    | Self::ACK_ECN
                    | Self::CRYPTO
                    | Self::CONNECTION_CLOSE
            ),
            // RFC 9000 §12.4: 0-RTT packets never carry ACK, CRYPTO, NEW_TOKEN,
            // HANDSHAKE_DONE or PATH_RESPONSE.
            // RFC 9000 §17.2.3: a server may also reject RETIRE_CONNECTION_ID in
            // 0-RTT, which a client cannot send there; we do.
            EncryptionLevel::ZeroRtt => !matches!(
                self,
                Self::ACK
                    | Self::ACK_ECN
                    | Self::CRYPTO
                    | Self::NEW_TOKEN
                    | Self::HANDSHAKE_DONE
                    | Self::PATH_RESPONSE
                    | Self::RETIRE_CONNECTION_ID
            ),
            // RFC 9000 §12.4: 1-RTT packets may carry every frame type.
            EncryptionLevel::OneRtt => true,
        }
    }

    /// The type as a variable-length integer.
    #[must_use]
    pub const fn to_varint(self) -> VarInt {
        VarInt::from_u64_bounded(self.0)
    }
}

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "UNKNOWN({:#x})", self.0),
        }
    }
}
