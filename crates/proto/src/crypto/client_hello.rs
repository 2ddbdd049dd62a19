//! A look into the client's first CRYPTO bytes for its ClientHello
//! (RFC 8446 §4.1.2), before any TLS session exists.
//!
//! In compatible version negotiation (RFC 9368 §2.2) a server chooses the
//! connection's version from the client's version_information transport
//! parameter, and rustls fixes the QUIC version when its server session is
//! made. So the server reads the quic_transport_parameters extension
//! (RFC 9001 §8.2) out of the ClientHello itself, then makes the session
//! with the chosen version and hands it the same bytes.

/// The longest ClientHello accepted, in bytes, handshake header included:
/// 16 KiB.
///
/// A server buffers the client's Initial CRYPTO data until the ClientHello
/// is complete, before any TLS state exists, so a peer must not be able to
/// make that buffer grow without bound. Real ClientHellos are one to two
/// kilobytes, about 1.8 KB with the post-quantum X25519MLKEM768 key share;
/// a few session tickets or a long list of certificate authorities add
/// some kilobytes more. rustls itself accepts handshake messages up to
/// 64 KiB - 1; 16 KiB is a quarter of that, eight times a large real
/// ClientHello, and still fits the 64 KiB default crypto buffer. Use
/// [`peek_client_hello_within`] for another bound.
pub const MAX_CLIENT_HELLO_LEN: usize = 16 * 1024;

/// RFC 8446 §4: the ClientHello's handshake message type.
const CLIENT_HELLO: u8 = 1;

/// RFC 9001 §8.2: the quic_transport_parameters extension type.
const QUIC_TRANSPORT_PARAMETERS: u16 = 0x39;

/// RFC 8446 §4: a handshake message's type and 24-bit length.
const HANDSHAKE_HEADER_LEN: usize = 4;

/// What the first CRYPTO bytes of a client's Initial packets hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientHelloPeek<'a> {
    /// Fewer bytes than the ClientHello's header says: wait for more.
    Incomplete,
    /// A whole ClientHello, which is the first `len` bytes.
    Complete {
        /// Bytes of the ClientHello, its 4-byte handshake header included.
        len: usize,
        /// The payload of its quic_transport_parameters extension
        /// (RFC 9001 §8.2), if it has one; decode it with
        /// [`TransportParameters::decode`](crate::TransportParameters::decode).
        transport_parameters: Option<&'a [u8]>,
    },
    /// Not a ClientHello, or one whose lengths do not fit together, or
    /// longer than the bound: the handshake cannot go on.
    Malformed,
}

/// Peeks at `data`, the client's in-order Initial CRYPTO bytes from offset
/// 0, for its ClientHello, refusing one longer than
/// [`MAX_CLIENT_HELLO_LEN`].
#[must_use]
pub fn peek_client_hello(data: &[u8]) -> ClientHelloPeek<'_> {
    peek_client_hello_within(data, MAX_CLIENT_HELLO_LEN)
}

/// [`peek_client_hello`] with the longest ClientHello accepted given as
/// `max_len` bytes, handshake header included.
#[must_use]
pub fn peek_client_hello_within(data: &[u8], max_len: usize) -> ClientHelloPeek<'_> {
    match data.first() {
        None => return ClientHelloPeek::Incomplete,
        Some(&CLIENT_HELLO) => {}
        Some(_) => return ClientHelloPeek::Malformed,
    }
    let Some(header) = data.get(..HANDSHAKE_HEADER_LEN) else {
        return ClientHelloPeek::Incomplete;
    };
    let body_len = header[1..]
        .iter()
        .fold(0usize, |len, &byte| len << 8 | usize::from(byte));
    let len = HANDSHAKE_HEADER_LEN + body_len;
    // Refused before it is all here, so nobody buffers it.
    if len > max_len {
        return ClientHelloPeek::Malformed;
    }
    let Some(body) = data.get(HANDSHAKE_HEADER_LEN..len) else {
        return ClientHelloPeek::Incomplete;
    };
    match transport_parameters(body) {
        Some(transport_parameters) => ClientHelloPeek::Complete {
            len,
            transport_parameters,
        },
        None => ClientHelloPeek::Malformed,
    }
}

/// RFC 8446 §4.1.2: walks a ClientHello body to its extensions and returns
/// the quic_transport_parameters payload, `Some(None)` without one, and
/// `None` when the lengths do not fit.
fn transport_parameters(body: &[u8]) -> Option<Option<&[u8]>> {
    let mut reader = Reader(body);
    // legacy_version and random.
    reader.take(2 + 32)?;
    // legacy_session_id<0..32>.
    let session_id = reader.vector_u8()?;
    if session_id.len() > 32 {
        return None;
    }
    // cipher_suites<2..2^16-2>: two bytes each.
    let suites = reader.vector_u16()?;
    if suites.len() < 2 || suites.len() % 2 != 0 {
        return None;
    }
    // legacy_compression_methods<1..2^8-1>.
    if reader.vector_u8()?.is_empty() {
        return None;
    }
    // extensions<8..2^16-1>, the last field.
    let extensions = reader.vector_u16()?;
    if extensions.len() < 8 || !reader.0.is_empty() {
        return None;
    }
    let mut extensions = Reader(extensions);
    let mut found = None;
    while !extensions.0.is_empty() {
        let ty = extensions.u16()?;
        let data = extensions.vector_u16()?;
        if ty == QUIC_TRANSPORT_PARAMETERS {
            // RFC 8446 §4.2: an extension type appears at most once.
            if found.is_some() {
                return None;
            }
            found = Some(data);
        }
    }
    Some(found)
}

/// Reads big-endian fields off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        let bytes = self.take(2)?;
        Some(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn vector_u8(&mut self) -> Option<&'a [u8]> {
        let len = self.take(1)?[0];
        self.take(usize::from(len))
    }

    fn vector_u16(&mut self) -> Option<&'a [u8]> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }
}

#[cfg(test)]
mod tests;
