//! # tern-proto: the sans-IO QUIC transport
//!
//! This crate is the protocol layer of Tern. It holds no sockets, reads no
//! clock and spawns no threads: every input arrives as a function argument
//! (bytes and the current time), every output is pulled by the caller.
//! `tern-endpoint` drives it over real UDP; `tern-sim` drives it over a
//! simulated network.
//!
//! It holds QUIC version 1 from the wire format up:
//!
//! - [`varint`]: variable-length integers (RFC 9000 §16);
//! - [`cid`]: connection IDs and their generators (RFC 9000 §5.1);
//! - [`packet`]: packet headers, packet numbers and coalescing (RFC 9000 §17, §12.2);
//! - [`frame`]: every frame of RFC 9000 §19 and DATAGRAM (RFC 9221);
//! - [`crypto`]: packet protection, Initial keys, key updates and Retry
//!   integrity (RFC 9001 §5, §6; RFC 9369 §3.3);
//! - [`transport_params`]: transport parameters (RFC 9000 §18, RFC 9221,
//!   RFC 9287, RFC 9368);
//! - [`handshake_info`]: [`HandshakeInfo`], the snapshot of what a handshake
//!   negotiated, taken once when it completes;
//! - [`recovery`]: RTT estimation, loss detection and PTO (RFC 9002 §5, §6);
//! - [`streams`]: stream state, flow control and reassembly (RFC 9000 §2–§4);
//! - [`congestion`], [`pacing`]: CUBIC and NewReno (RFC 9438, RFC 9002 §7)
//!   and the pacer (RFC 9002 §7.7);
//! - [`path`]: ECN validation and path MTU discovery (RFC 9000 §13.4, §14);
//! - [`connection`], [`endpoint`]: the state machines that tie it together,
//!   driven with `handle`, `poll_transmit`, `poll_timeout`, `handle_timeout`
//!   and `poll`, with version negotiation between v1 and v2 (RFC 9368,
//!   RFC 9369 §4; see
//!   [`EndpointConfig::supported_versions`](config::EndpointConfig::supported_versions));
//! - [`error`]: transport error codes (RFC 9000 §20.1).
//!
//! ## Features
//!
//! - `serde`: `Serialize` for [`HandshakeInfo`], a flat JSON object.
//! - `qlog`: qlog traces of connections. `TransportConfig::qlog` takes a
//!   `qlog::QlogFactory` that hands each connection a writer; the
//!   connection writes its events there as JSON-SEQ (qlog 0.3), timed by
//!   the `now` it is given. Off, nothing of it is compiled in.
//!
//! Every decoder treats its input as hostile: malformed input is a typed
//! error carrying the RFC's transport error code, never a panic, and nothing
//! allocates more than the input justifies.
//!
//! ```
//! use bytes::Bytes;
//! use tern_proto::varint::VarInt;
//!
//! // RFC 9000 §A.1: 0x7bbd is the two-byte encoding of 15293.
//! let mut wire = Bytes::from_static(&[0x7b, 0xbd]);
//! let value = VarInt::decode(&mut wire).unwrap();
//! assert_eq!(value.into_inner(), 15293);
//! ```
#![forbid(unsafe_code)]

pub mod cid;
pub mod coding;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod handshake_info;
pub mod pacing;
pub mod packet;
pub mod path;
#[cfg(feature = "qlog")]
pub mod qlog;
pub mod range_set;
pub mod recovery;
pub mod streams;
pub mod transmit;
pub mod transport_params;
pub mod varint;

pub use cid::{
    ConnectionId, ConnectionIdGenerator, RandomConnectionIdGenerator,
    ShardedRandomConnectionIdGenerator,
};
pub use crypto::{CryptoError, TlsSession};
pub use error::{TransportError, TransportErrorCode};
pub use frame::{Dir, Frame, FrameDecodeError, FrameType, Frames, StreamId};
pub use handshake_info::{
    AddressValidation, CipherSuiteInfo, EarlyData, HandshakeInfo, TlsDetails, TlsVersion,
};
pub use packet::{
    CoalescedPackets, DecodeOptions, PacketDecodeError, PacketNumber, PacketType, PartialDecode,
    Version,
};
pub use streams::{
    Chunk, ReadError, RecvState, SendState, StreamEvent, Streams, StreamsConfig, WriteError,
};
pub use transmit::{EcnCodepoint, Transmit};
pub use transport_params::{
    PreferredAddress, ReservedParameter, TransportParameters, VersionInformation,
};
pub use varint::VarInt;

/// Which end of a connection an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The end that opened the connection.
    Client,
    /// The end that accepted it.
    Server,
}

impl Side {
    /// Whether this is the client.
    #[must_use]
    pub const fn is_client(self) -> bool {
        matches!(self, Self::Client)
    }

    /// Whether this is the server.
    #[must_use]
    pub const fn is_server(self) -> bool {
        matches!(self, Self::Server)
    }
}

/// QUIC version 1 (RFC 9000).
pub const QUIC_V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const QUIC_V2: u32 = 0x6b33_43cf;

/// A packet number space (RFC 9000 §12.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpaceId {
    /// Initial packets.
    Initial,
    /// Handshake packets.
    Handshake,
    /// 0-RTT and 1-RTT packets, which share one space.
    Data,
}

/// The protection level a packet's payload was sent at, which decides the
/// frames it may carry (RFC 9000 §12.4, Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionLevel {
    /// Initial packets (long header type Initial).
    Initial,
    /// 0-RTT packets (long header type 0-RTT).
    ZeroRtt,
    /// Handshake packets (long header type Handshake).
    Handshake,
    /// 1-RTT packets (short header).
    OneRtt,
}

impl EncryptionLevel {
    /// The packet number space packets of this level belong to.
    #[must_use]
    pub const fn space(self) -> SpaceId {
        match self {
            Self::Initial => SpaceId::Initial,
            Self::Handshake => SpaceId::Handshake,
            Self::ZeroRtt | Self::OneRtt => SpaceId::Data,
        }
    }
}
