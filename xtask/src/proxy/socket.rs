//! UDP sockets through quinn-udp, so that ECN codepoints are read on
//! receive and set again on send, and one receive thread per socket.

use std::{
    io::{self, IoSliceMut},
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use quinn_udp::{EcnCodepoint, RecvMeta, Transmit, UdpSocketState};

use super::now;

/// How often a blocked receive wakes to check whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(50);
/// Room for one receive: with GRO the kernel coalesces at most 64 KiB.
const RECV_BUF: usize = 65_536;
/// Socket buffers large enough for a burst at the link rates we simulate.
const SOCKET_BUFFER: usize = 4 << 20;

/// A bound UDP socket with quinn-udp's per-socket state.
#[derive(Debug)]
pub(crate) struct Endpoint {
    socket: UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
}

/// One datagram as received (a GRO batch already split).
#[derive(Debug)]
pub(crate) struct Received<'a> {
    pub(crate) at: Instant,
    pub(crate) from: SocketAddr,
    /// The destination address the datagram was sent to, if known.
    pub(crate) local_ip: Option<IpAddr>,
    /// The ECN codepoint: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE.
    pub(crate) ecn: u8,
    pub(crate) data: &'a [u8],
}

impl Endpoint {
    /// Binds `addr` as a blocking socket whose receives time out, so that
    /// the receive thread notices when it is told to stop.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<Arc<Self>> {
        let socket = UdpSocket::bind(addr)?;
        let state = UdpSocketState::new((&socket).into())?;
        // The proxy stands for the network, so it must read each datagram's
        // own ECN codepoint. quinn-udp turns UDP GRO on, and then Linux hands
        // a GSO batch sent over loopback to the socket as one aggregate and
        // reports no codepoint for it, although its IP headers carry the
        // mark: every batched datagram would be forwarded bleached. Best
        // effort: without GRO support there is nothing to turn off.
        #[cfg(target_os = "linux")]
        let _ =
            nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::UdpGroSegment, &false);
        // Best effort: a small buffer only means more loss under bursts.
        let _ = state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER);
        let _ = state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER);
        // quinn-udp made it non-blocking; block with a timeout instead.
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(STOP_POLL))?;
        let local = socket.local_addr()?;
        Ok(Arc::new(Self {
            socket,
            state,
            local,
        }))
    }

    /// The bound address.
    pub(crate) fn local(&self) -> SocketAddr {
        self.local
    }

    /// Sends one datagram with ECN codepoint `ecn` (as in [`Received::ecn`]).
    pub(crate) fn send(
        &self,
        to: SocketAddr,
        ecn: u8,
        src_ip: Option<IpAddr>,
        data: &[u8],
    ) -> io::Result<()> {
        let transmit = Transmit {
            destination: to,
            ecn: EcnCodepoint::from_bits(ecn),
            contents: data,
            segment_size: None,
            src_ip,
        };
        self.state.try_send((&self.socket).into(), &transmit)
    }

    /// Receives until `stop` is set or `handle` returns false, calling
    /// `handle` once per datagram; `on_error` hears of receive errors.
    pub(crate) fn recv_loop(
        &self,
        stop: &AtomicBool,
        mut handle: impl FnMut(Received<'_>) -> bool,
        mut on_error: impl FnMut(&io::Error),
    ) {
        let mut buf = vec![0u8; RECV_BUF];
        let mut meta = [RecvMeta::default()];
        while !stop.load(Ordering::Relaxed) {
            let mut bufs = [IoSliceMut::new(&mut buf)];
            let result = self.state.recv((&self.socket).into(), &mut bufs, &mut meta);
            let at = now();
            match result {
                Ok(0) => {}
                Ok(_) => {
                    let [m] = meta;
                    let len = m.len.min(buf.len());
                    let stride = if m.stride == 0 { len.max(1) } else { m.stride };
                    let ecn = m.ecn.map_or(0, |e| e as u8);
                    let Some(batch) = buf.get(..len) else {
                        continue;
                    };
                    // GRO: one receive may hold several datagrams of `stride` bytes.
                    let empty: &[u8] = &[];
                    let mut datagrams = batch.chunks(stride).peekable();
                    let only_empty = datagrams.peek().is_none().then_some(empty);
                    for data in datagrams.chain(only_empty) {
                        let received = Received {
                            at,
                            from: m.addr,
                            local_ip: m.dst_ip,
                            ecn,
                            data,
                        };
                        if !handle(received) {
                            return;
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    on_error(&e);
                    // A persistent error must not turn this thread into a spin.
                    thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}
