//! What the protocol layer asks the I/O layer to send.

use std::net::{IpAddr, SocketAddr};

/// An ECN codepoint (RFC 3168 §5), as set on or read from an IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcnCodepoint {
    /// ECT(0).
    Ect0,
    /// ECT(1).
    Ect1,
    /// Congestion experienced.
    Ce,
}

impl EcnCodepoint {
    /// The codepoint from the two ECN bits of an IP header; `None` for Not-ECT.
    #[must_use]
    pub const fn from_bits(bits: u8) -> Option<Self> {
        match bits & 0b11 {
            0b10 => Some(Self::Ect0),
            0b01 => Some(Self::Ect1),
            0b11 => Some(Self::Ce),
            _ => None,
        }
    }

    /// The two ECN bits of this codepoint.
    #[must_use]
    pub const fn bits(self) -> u8 {
        match self {
            Self::Ect0 => 0b10,
            Self::Ect1 => 0b01,
            Self::Ce => 0b11,
        }
    }
}

/// One datagram (or a GSO batch of equal-sized datagrams) written into the
/// caller's buffer by `poll_transmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The ECN codepoint to mark it with.
    pub ecn: Option<EcnCodepoint>,
    /// Bytes written into the buffer.
    pub size: usize,
    /// With several datagrams in the buffer, the size of each but the last
    /// (which may be shorter); `None` for a single datagram.
    pub segment_size: Option<usize>,
    /// The local address to send from, when the endpoint has several.
    pub src_ip: Option<IpAddr>,
}
