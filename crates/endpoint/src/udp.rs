//! What a receive reports, and the translation between tern-proto's
//! datagram types and quinn-udp's, shared by every runtime's socket.

#[cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};

#[cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]
use quinn_udp::{UdpSockRef, UdpSocketState};
use tern_proto::EcnCodepoint;
#[cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]
use tern_proto::Transmit;

/// The most datagram buffers one receive fills on this platform (recvmmsg
/// batch on Linux, 1 elsewhere).
///
/// A receive given more buffers fills at most this many; size the buffer
/// and metadata arrays of the event loop with it.
pub const BATCH_SIZE: usize = quinn_udp::BATCH_SIZE;

/// What the kernel reported about one filled receive buffer.
///
/// With GRO a buffer holds several datagrams from the same source: they
/// start every [`stride`](Self::stride) bytes, and the last may be shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// The address the datagram(s) came from.
    pub addr: SocketAddr,
    /// How many bytes of the buffer were filled.
    pub len: usize,
    /// The size of each datagram in the buffer (equal to `len` without GRO).
    pub stride: usize,
    /// The ECN codepoint of the IP header, where the platform reports it.
    pub ecn: Option<EcnCodepoint>,
    /// The local address the datagram(s) were sent to, where the platform
    /// reports it (the `src_ip` to answer from on a wildcard socket).
    pub dst_ip: Option<IpAddr>,
}

impl Default for RecvMeta {
    /// A placeholder for the metadata array a receive overwrites.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            len: 0,
            stride: 0,
            ecn: None,
            dst_ip: None,
        }
    }
}

// The translations below serve the runtimes' sockets only.
#[cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]
impl RecvMeta {
    fn from_quinn(meta: &quinn_udp::RecvMeta) -> Self {
        Self {
            addr: meta.addr,
            len: meta.len,
            stride: meta.stride,
            ecn: meta.ecn.map(ecn_from_quinn),
            dst_ip: meta.dst_ip,
        }
    }
}

#[cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]
fn ecn_from_quinn(ecn: quinn_udp::EcnCodepoint) -> EcnCodepoint {
    match ecn {
        quinn_udp::EcnCodepoint::Ect0 => EcnCodepoint::Ect0,
        quinn_udp::EcnCodepoint::Ect1 => EcnCodepoint::Ect1,
        quinn_udp::EcnCodepoint::Ce => EcnCodepoint::Ce,
    }
}

#[cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]
fn ecn_to_quinn(ecn: EcnCodepoint) -> quinn_udp::EcnCodepoint {
    match ecn {
        EcnCodepoint::Ect0 => quinn_udp::EcnCodepoint::Ect0,
        EcnCodepoint::Ect1 => quinn_udp::EcnCodepoint::Ect1,
        EcnCodepoint::Ce => quinn_udp::EcnCodepoint::Ce,
    }
}

/// One non-blocking receive: fills up to `min(bufs, meta, BATCH_SIZE)`
/// buffers, or fails with `WouldBlock`.
#[cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]
pub(crate) fn recv(
    state: &UdpSocketState,
    socket: UdpSockRef<'_>,
    bufs: &mut [IoSliceMut<'_>],
    meta: &mut [RecvMeta],
) -> io::Result<usize> {
    let count = bufs.len().min(meta.len()).min(BATCH_SIZE);
    if count == 0 {
        return Ok(0);
    }
    let mut raw = [quinn_udp::RecvMeta::default(); BATCH_SIZE];
    let (Some(bufs), Some(raw), Some(meta)) = (
        bufs.get_mut(..count),
        raw.get_mut(..count),
        meta.get_mut(..count),
    ) else {
        return Ok(0);
    };
    let filled = state.recv(socket, bufs, raw)?;
    for (out, raw) in meta.iter_mut().zip(raw.iter()).take(filled) {
        *out = RecvMeta::from_quinn(raw);
    }
    Ok(filled)
}

/// quinn-udp's view of `transmit`, sending `contents[..transmit.size]`.
#[cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]
pub(crate) fn quinn_transmit<'a>(
    transmit: &Transmit,
    contents: &'a [u8],
) -> io::Result<quinn_udp::Transmit<'a>> {
    let contents = contents.get(..transmit.size).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "transmit size exceeds the contents buffer",
        )
    })?;
    Ok(quinn_udp::Transmit {
        destination: transmit.destination,
        ecn: transmit.ecn.map(ecn_to_quinn),
        contents,
        segment_size: transmit.segment_size,
        src_ip: transmit.src_ip,
    })
}

#[cfg(all(test, any(feature = "runtime-tokio", feature = "runtime-smol")))]
mod tests;
