//! The preferred_address parameter (RFC 9000 §18.2, §9.6).

use std::{
    fmt,
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6},
};

use bytes::BufMut;

use super::{RESET_TOKEN_LEN, Redacted, id::ParameterId};
use crate::{
    cid::ConnectionId,
    coding::{BufExt, UnexpectedEnd},
    error::TransportError,
};

/// An address the server would like the client to migrate to once the
/// handshake is confirmed (RFC 9000 §9.6), with the connection ID and
/// stateless reset token to use there.
///
/// RFC 9000 §18.2 lets a server offer only one address family by sending
/// the all-zero address and port (`0.0.0.0:0` or `[::]:0`) for the other:
/// that is `None` here. `Some` of an all-zero address is sent as `None`.
/// IPv6 flow information and scope id are not on the wire; they decode as 0.
///
/// `Debug` prints the reset token as `<redacted>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PreferredAddress {
    /// The IPv4 address and port, if offered.
    pub ipv4: Option<SocketAddrV4>,
    /// The IPv6 address and port, if offered.
    pub ipv6: Option<SocketAddrV6>,
    /// The connection ID for the new path, sequence number 1 (RFC 9000
    /// §5.1.1); never empty.
    pub connection_id: ConnectionId,
    /// The stateless reset token for `connection_id`.
    pub stateless_reset_token: [u8; RESET_TOKEN_LEN],
}

/// Fixed bytes of the value: IPv4 address and port, IPv6 address and port,
/// the connection ID length byte and the reset token.
const FIXED_LEN: usize = 4 + 2 + 16 + 2 + 1 + RESET_TOKEN_LEN;

impl PreferredAddress {
    /// Bytes of the encoded value.
    pub(super) fn encoded_len(&self) -> usize {
        FIXED_LEN + self.connection_id.len()
    }

    /// Writes the value, all-zero for an absent family.
    pub(super) fn encode<B: BufMut>(&self, buf: &mut B) {
        debug_assert!(
            !self.connection_id.is_empty(),
            "preferred_address needs a non-empty connection id"
        );
        let v4 = self
            .ipv4
            .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        let v6 = self
            .ipv6
            .unwrap_or(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0));
        buf.put_slice(&v4.ip().octets());
        buf.put_u16(v4.port());
        buf.put_slice(&v6.ip().octets());
        buf.put_u16(v6.port());
        self.connection_id.encode_with_len(buf);
        buf.put_slice(&self.stateless_reset_token);
    }
}

/// Parses a preferred_address value, which must fill `value` exactly.
pub(super) fn decode(value: &[u8]) -> Result<PreferredAddress, TransportError> {
    let malformed = |_: UnexpectedEnd| ParameterId::PreferredAddress.malformed();
    let mut buf = value;
    let ipv4 = SocketAddrV4::new(
        Ipv4Addr::from(buf.read_array::<4>().map_err(malformed)?),
        buf.read_u16().map_err(malformed)?,
    );
    let ipv6 = SocketAddrV6::new(
        Ipv6Addr::from(buf.read_array::<16>().map_err(malformed)?),
        buf.read_u16().map_err(malformed)?,
        0,
        0,
    );
    let cid_len = usize::from(buf.read_u8().map_err(malformed)?);
    // RFC 9000 §18.2: a zero-length connection ID in preferred_address is a
    // TRANSPORT_PARAMETER_ERROR.
    if cid_len == 0 {
        return Err(TransportError::transport_parameter_error(
            "preferred_address with an empty connection id",
        ));
    }
    // RFC 9000 §17.2: a QUIC v1 connection ID is at most 20 bytes.
    if cid_len > ConnectionId::MAX_LEN {
        return Err(ParameterId::PreferredAddress.malformed());
    }
    let connection_id = ConnectionId::decode(&mut buf, cid_len).map_err(malformed)?;
    let stateless_reset_token = buf.read_array::<RESET_TOKEN_LEN>().map_err(malformed)?;
    if !buf.is_empty() {
        return Err(ParameterId::PreferredAddress.malformed());
    }
    // RFC 9000 §18.2: an all-zero address and port means the family is not
    // offered.
    Ok(PreferredAddress {
        ipv4: Some(ipv4).filter(|a| !a.ip().is_unspecified() || a.port() != 0),
        ipv6: Some(ipv6).filter(|a| !a.ip().is_unspecified() || a.port() != 0),
        connection_id,
        stateless_reset_token,
    })
}

impl fmt::Debug for PreferredAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreferredAddress")
            .field("ipv4", &self.ipv4)
            .field("ipv6", &self.ipv6)
            .field("connection_id", &self.connection_id)
            .field("stateless_reset_token", &Redacted)
            .finish()
    }
}
