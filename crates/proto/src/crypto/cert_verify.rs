//! The signature scheme of the server's CertificateVerify, read from the
//! Handshake-level bytes that pass between rustls and the connection.
//!
//! rustls 0.23 does not say which scheme signed the handshake, but the
//! message is in the clear at this layer: TLS 1.3 handshake messages are a
//! 1-byte type and a 3-byte length before their body (RFC 8446 §4), and a
//! CertificateVerify body starts with the 2-byte scheme (RFC 8446 §4.4.3).
//! [`SchemeScan`] follows the message boundaries through bytes fed in any
//! pieces, holds no more than a message header, and stops at the first
//! CertificateVerify; it never fails, whatever it is fed.

/// RFC 8446 §4: the CertificateVerify handshake message type.
const CERTIFICATE_VERIFY: u8 = 15;

/// Where the scan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Collecting a message header: `have` of its 4 bytes so far.
    Header { buf: [u8; 4], have: usize },
    /// Skipping the body of a message that is not a CertificateVerify.
    Skip { remaining: u32 },
    /// Collecting the scheme at the start of a CertificateVerify body.
    Scheme { first: Option<u8>, remaining: u32 },
    /// Finished: the scheme was found, or a CertificateVerify was too short
    /// to hold one.
    Done(Option<u16>),
}

/// Finds the first CertificateVerify's signature scheme in a stream of TLS
/// handshake messages.
#[derive(Debug, Clone)]
pub(crate) struct SchemeScan {
    state: Scan,
}

impl Default for SchemeScan {
    fn default() -> Self {
        Self {
            state: Scan::Header {
                buf: [0; 4],
                have: 0,
            },
        }
    }
}

impl SchemeScan {
    /// Reads the next bytes of the stream.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while let Some((&byte, rest)) = data.split_first() {
            match &mut self.state {
                Scan::Done(_) => return,
                Scan::Header { buf, have } => {
                    buf[*have] = byte;
                    *have += 1;
                    data = rest;
                    if *have == buf.len() {
                        let remaining = u32::from_be_bytes([0, buf[1], buf[2], buf[3]]);
                        self.state = if buf[0] == CERTIFICATE_VERIFY {
                            Scan::Scheme {
                                first: None,
                                remaining,
                            }
                        } else {
                            Scan::Skip { remaining }
                        };
                        self.end_of_body();
                    }
                }
                Scan::Skip { remaining } => {
                    let take = data
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    // `take` is at most `remaining`, a u32.
                    *remaining -= u32::try_from(take).unwrap_or(*remaining);
                    data = &data[take..];
                    self.end_of_body();
                }
                Scan::Scheme { first, remaining } => {
                    data = rest;
                    *remaining -= 1;
                    match *first {
                        None => *first = Some(byte),
                        Some(high) => {
                            self.state = Scan::Done(Some(u16::from_be_bytes([high, byte])));
                            return;
                        }
                    }
                    self.end_of_body();
                }
            }
        }
    }

    /// Moves on to the next header when a body is exhausted; a
    /// CertificateVerify that ends before its scheme ends the scan.
    fn end_of_body(&mut self) {
        self.state = match self.state {
            Scan::Skip { remaining: 0 } => Scan::Header {
                buf: [0; 4],
                have: 0,
            },
            Scan::Scheme { remaining: 0, .. } => Scan::Done(None),
            state => state,
        };
    }

    /// The scheme's IANA code point, once a CertificateVerify carried one.
    pub(crate) const fn scheme(&self) -> Option<u16> {
        match self.state {
            Scan::Done(scheme) => scheme,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EncryptedExtensions (empty), a Certificate of 300 bytes, a
    /// CertificateVerify with ed25519 (0x0807) and a 64-byte signature,
    /// and a Finished.
    fn flight() -> Vec<u8> {
        let mut out = vec![8, 0, 0, 2, 0, 0];
        out.extend_from_slice(&[11, 0, 0x01, 0x2c]);
        out.extend(std::iter::repeat_n(0xaa, 300));
        out.extend_from_slice(&[15, 0, 0, 68, 0x08, 0x07, 0, 64]);
        out.extend(std::iter::repeat_n(0xbb, 64));
        out.extend_from_slice(&[20, 0, 0, 32]);
        out.extend(std::iter::repeat_n(0xcc, 32));
        out
    }

    #[test]
    fn the_scheme_is_found_whole_or_fed_a_byte_at_a_time() {
        let mut whole = SchemeScan::default();
        whole.feed(&flight());
        assert_eq!(whole.scheme(), Some(0x0807));
        for size in [1, 2, 3, 5, 7, 64] {
            let mut scan = SchemeScan::default();
            for piece in flight().chunks(size) {
                scan.feed(piece);
            }
            assert_eq!(scan.scheme(), Some(0x0807), "pieces of {size}");
        }
    }

    #[test]
    fn no_certificate_verify_means_no_scheme() {
        // A resumed handshake: EncryptedExtensions and Finished only.
        let mut scan = SchemeScan::default();
        scan.feed(&[8, 0, 0, 2, 0, 0, 20, 0, 0, 4, 1, 2, 3, 4]);
        assert_eq!(scan.scheme(), None);
        scan.feed(&[]);
        assert_eq!(scan.scheme(), None);
    }

    #[test]
    fn a_certificate_verify_too_short_for_a_scheme_ends_the_scan() {
        let mut scan = SchemeScan::default();
        scan.feed(&[15, 0, 0, 1, 0x08, 15, 0, 0, 2, 0x04, 0x03]);
        assert_eq!(scan.scheme(), None);
        assert_eq!(scan.state, Scan::Done(None));
    }

    #[test]
    fn hostile_input_never_panics() {
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..2000 {
            let mut scan = SchemeScan::default();
            let mut data = [0_u8; 64];
            for byte in &mut data {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *byte = seed.to_be_bytes()[0];
            }
            for piece in data.chunks(1 + usize::from(data[0] % 9)) {
                scan.feed(piece);
            }
            let _ = scan.scheme();
        }
        let mut huge = SchemeScan::default();
        huge.feed(&[11, 0xff, 0xff, 0xff]);
        huge.feed(&[0; 1000]);
        assert_eq!(huge.scheme(), None);
    }
}
