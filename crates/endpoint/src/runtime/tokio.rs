//! [`Runtime`] on tokio: `Handle::spawn`, `tokio::time::Sleep`, and
//! `tokio::net::UdpSocket` driven through quinn-udp.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use quinn_udp::UdpSocketState;
use tokio::io::Interest;
use tokio::runtime::Handle;
use tokio::time::Sleep;

use super::{AsyncTimer, AsyncUdpSocket, Runtime};
use crate::udp::{self, RecvMeta};

/// The tokio runtime (feature `runtime-tokio`, on by default).
///
/// Holds a [`Handle`], so its methods work from any thread, inside the
/// runtime or not. The runtime needs its I/O and time drivers
/// (`enable_all()` on a hand-built runtime; `#[tokio::main]` has them).
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// The runtime behind `handle`.
    #[must_use]
    pub const fn new(handle: Handle) -> Self {
        Self { handle }
    }

    /// The tokio runtime the calling thread runs in, if any.
    #[must_use]
    pub fn try_current() -> Option<Self> {
        Handle::try_current().ok().map(Self::new)
    }

    /// The handle of the runtime this spawns on.
    #[must_use]
    pub const fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Runtime for TokioRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        // Detached: the task runs to completion on its own.
        drop(self.handle.spawn(future));
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        let _context = self.handle.enter();
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        // `UdpSocketState::new` also makes the socket non-blocking, which
        // `from_std` requires.
        let state = UdpSocketState::new((&socket).into())?;
        let _context = self.handle.enter();
        let io = tokio::net::UdpSocket::from_std(socket)?;
        Ok(Arc::new(TokioUdpSocket { io, state }))
    }

    fn now(&self) -> Instant {
        // tokio's clock, which `Sleep` runs on: the system's monotonic
        // clock, or (called from inside the runtime) the paused clock of a
        // test built with tokio's `test-util`. Reading it here keeps
        // deadlines and timers on one clock.
        tokio::time::Instant::now().into_std()
    }
}

impl AsyncTimer for Sleep {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        Self::reset(self, deadline.into());
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Future::poll(self, cx)
    }
}

/// A tokio UDP socket with quinn-udp's per-socket state (GSO and GRO
/// support, ECN fallbacks).
#[derive(Debug)]
struct TokioUdpSocket {
    io: tokio::net::UdpSocket,
    state: UdpSocketState,
}

impl AsyncUdpSocket for TokioUdpSocket {
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.io.poll_recv_ready(cx))?;
            // `try_io` clears tokio's readiness on `WouldBlock`, so the next
            // `poll_recv_ready` waits for a new edge.
            let received = self.io.try_io(Interest::READABLE, || {
                udp::recv(&self.state, (&self.io).into(), bufs, meta)
            });
            match received {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn try_send(&self, transmit: &tern_proto::Transmit, contents: &[u8]) -> io::Result<()> {
        let transmit = udp::quinn_transmit(transmit, contents)?;
        self.io.try_io(Interest::WRITABLE, || {
            self.state.try_send((&self.io).into(), &transmit)
        })
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_send_ready(cx)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }
}
