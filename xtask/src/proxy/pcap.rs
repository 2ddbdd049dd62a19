//! Classic pcap files of raw IP packets (LINKTYPE_RAW), with IP and UDP
//! headers synthesized around the datagrams the proxy saw, so that tshark
//! can decode the QUIC inside.
//!
//! The UDP checksum is computed for both families, so the headers are valid
//! as written (over the bytes as delivered, after any corruption).

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    net::{IpAddr, SocketAddr},
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// LINKTYPE_RAW: each record starts with an IPv4 or IPv6 header.
const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 65_535;
const UDP: u8 = 17;

/// One pcap file being written.
pub(crate) struct PcapWriter {
    out: BufWriter<File>,
}

impl PcapWriter {
    /// Creates `path` and writes the file header.
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(&0xa1b2_c3d4_u32.to_le_bytes())?; // microsecond timestamps
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&SNAPLEN.to_le_bytes())?;
        out.write_all(&LINKTYPE_RAW.to_le_bytes())?;
        Ok(Self { out })
    }

    /// Writes one UDP datagram from `src` to `dst` with ECN bits `ecn`.
    pub(crate) fn write(
        &mut self,
        at: SystemTime,
        src: SocketAddr,
        dst: SocketAddr,
        ecn: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let packet = ip_packet(src, dst, ecn, payload)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "datagram too large"))?;
        let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let secs = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        let len = u32::try_from(packet.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet too large"))?;
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&since.subsec_micros().to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&packet)
    }

    /// Flushes buffered records to the file.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// An IP packet holding one UDP datagram; `None` if it cannot be encoded
/// (too large, or mixed families).
pub(crate) fn ip_packet(
    src: SocketAddr,
    dst: SocketAddr,
    ecn: u8,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(payload.len() + 8).ok()?;
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let ecn = ecn & 0b11;
    let mut pseudo = Vec::with_capacity(40);
    let mut packet = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(usize::from(udp_len) + 20).ok()?;
            let mut h = Vec::with_capacity(usize::from(total));
            h.extend_from_slice(&[0x45, ecn]);
            h.extend_from_slice(&total.to_be_bytes());
            h.extend_from_slice(&[0, 0, 0x40, 0, 64, UDP, 0, 0]); // id, DF, TTL, proto, checksum
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let sum = checksum(&[&h]);
            if let Some(c) = h.get_mut(10..12) {
                c.copy_from_slice(&sum.to_be_bytes());
            }
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, UDP]);
            pseudo.extend_from_slice(&udp_len.to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = Vec::with_capacity(40 + usize::from(udp_len));
            // Version 6, traffic class (DSCP 0 and the ECN bits), flow label 0.
            h.extend_from_slice(&[0x60 | (ecn >> 4), ecn << 4, 0, 0]);
            h.extend_from_slice(&udp_len.to_be_bytes());
            h.extend_from_slice(&[UDP, 64]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&u32::from(udp_len).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, UDP]);
            h
        }
        _ => return None,
    };
    let sum = match checksum(&[&pseudo, &udp]) {
        0 => 0xffff, // zero means "no checksum" on the wire
        sum => sum,
    };
    if let Some(c) = udp.get_mut(6..8) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    packet.extend_from_slice(&udp);
    Some(packet)
}

/// The Internet checksum (ones' complement of the ones' complement sum) of
/// the concatenation of `parts`, each of even length but the last.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for pair in &mut chunks {
            if let [a, b] = pair {
                sum += u32::from(u16::from_be_bytes([*a, *b]));
            }
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(u16::from_be_bytes([*last, 0]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    !u16::try_from(sum).unwrap_or(0xffff)
}
