//! Just enough of the QUIC invariants and long headers to tell what a
//! datagram holds: the proxy classifies, it never decrypts.
//!
//! The input is whatever came off the wire, possibly corrupted by the proxy
//! itself, so every read is bounds-checked and a parse error ends the walk.

/// QUIC version 1.
pub(crate) const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2.
pub(crate) const VERSION_2: u32 = 0x6b33_43cf;

/// The long-header packet types, independent of the version's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LongType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// One long-header packet found in a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LongPacket {
    pub(crate) version: u32,
    /// `None` for a version this walker does not know.
    pub(crate) ty: Option<LongType>,
    pub(crate) dcid: Vec<u8>,
    pub(crate) scid: Vec<u8>,
    /// The token, which travels in the clear: an Initial's Token field
    /// (RFC 9000 §17.2.2), empty when the client sent none, or a Retry's
    /// Retry Token (RFC 9000 §17.2.5: what lies between the Source
    /// Connection ID and the 16-byte integrity tag). Empty for the other
    /// types, and when the field does not parse.
    pub(crate) token: Vec<u8>,
}

/// What one datagram holds, as far as the walk got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Datagram {
    pub(crate) packets: Vec<LongPacket>,
    pub(crate) version_negotiation: bool,
}

impl Datagram {
    /// Walks the coalesced packets of `data`; never panics.
    pub(crate) fn parse(data: &[u8]) -> Self {
        let mut out = Self::default();
        let mut rest = data;
        while let Some((&first, _)) = rest.split_first() {
            if first & 0x80 == 0 {
                break; // a short header runs to the end of the datagram
            }
            match parse_long(rest) {
                Some(Parsed::VersionNegotiation) => {
                    out.version_negotiation = true;
                    break;
                }
                Some(Parsed::Packet(packet, next)) => {
                    out.packets.push(packet);
                    rest = next;
                }
                Some(Parsed::Last(packet)) => {
                    out.packets.push(packet);
                    break;
                }
                None => break,
            }
        }
        out
    }

    /// Whether any packet is of type `ty`.
    pub(crate) fn holds(&self, ty: LongType) -> bool {
        self.packets.iter().any(|p| p.ty == Some(ty))
    }
}

enum Parsed<'a> {
    VersionNegotiation,
    /// A packet and what follows it in the datagram.
    Packet(LongPacket, &'a [u8]),
    /// A packet whose extent is unknown (Retry, unknown version, bad length).
    Last(LongPacket),
}

/// A cursor over untrusted bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).and_then(|b| b.first().copied())
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_be_bytes(b.try_into().ok()?))
    }

    // RFC 9000 §16: the two high bits of the first byte give the length.
    fn varint(&mut self) -> Option<u64> {
        let first = self.u8()?;
        let len = 1usize << (first >> 6);
        let mut value = u64::from(first & 0x3f);
        for &b in self.bytes(len - 1)? {
            value = (value << 8) | u64::from(b);
        }
        Some(value)
    }

    fn cid(&mut self) -> Option<Vec<u8>> {
        let len = self.u8()?;
        Some(self.bytes(usize::from(len))?.to_vec())
    }
}

fn long_type(version: u32, first: u8) -> Option<LongType> {
    let bits = (first >> 4) & 0b11;
    // RFC 9000 §17.2, RFC 9369 §3.2: the type bits differ between versions.
    match (version, bits) {
        (VERSION_1, 0b00) | (VERSION_2, 0b01) => Some(LongType::Initial),
        (VERSION_1, 0b01) | (VERSION_2, 0b10) => Some(LongType::ZeroRtt),
        (VERSION_1, 0b10) | (VERSION_2, 0b11) => Some(LongType::Handshake),
        (VERSION_1, 0b11) | (VERSION_2, 0b00) => Some(LongType::Retry),
        _ => None,
    }
}

fn parse_long(data: &[u8]) -> Option<Parsed<'_>> {
    let mut r = Reader(data);
    let first = r.u8()?;
    let version = r.u32()?;
    if version == 0 {
        return Some(Parsed::VersionNegotiation);
    }
    let dcid = r.cid()?;
    let scid = r.cid()?;
    let ty = long_type(version, first);
    let mut packet = LongPacket {
        version,
        ty,
        dcid,
        scid,
        token: Vec::new(),
    };
    // The header parsed, so the packet counts even if its length is bad;
    // only the walk to the next coalesced packet depends on the length.
    let next = match ty {
        None => None,
        Some(LongType::Retry) => {
            // RFC 9000 §17.2.5: a Retry runs to the end of the datagram.
            let token_len = r.0.len().saturating_sub(RETRY_TAG_LEN);
            packet.token = r.0.get(..token_len).unwrap_or_default().to_vec();
            None
        }
        Some(LongType::Initial) => read_token(&mut r).and_then(|token| {
            packet.token = token.to_vec();
            skip_payload(&mut r)
        }),
        Some(LongType::ZeroRtt | LongType::Handshake) => skip_payload(&mut r),
    };
    Some(match next {
        Some(()) => Parsed::Packet(packet, r.0),
        None => Parsed::Last(packet),
    })
}

// RFC 9000 §17.2.2: a varint length, then the token.
fn read_token<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let len = usize::try_from(r.varint()?).ok()?;
    r.bytes(len)
}

fn skip_payload(r: &mut Reader<'_>) -> Option<()> {
    let len = usize::try_from(r.varint()?).ok()?;
    r.bytes(len).map(|_| ())
}

/// RFC 9001 §5.8: the Retry Integrity Tag closing every Retry packet.
const RETRY_TAG_LEN: usize = 16;

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
