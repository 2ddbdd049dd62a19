//! [`Runtime`] on smol: the global executor, `async_io::Timer`, and
//! `async_io::Async<UdpSocket>` driven through quinn-udp.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_io::{Async, Timer};
use quinn_udp::UdpSocketState;

use super::{AsyncTimer, AsyncUdpSocket, Runtime};
use crate::udp::{self, RecvMeta};

/// The smol runtime (feature `runtime-smol`).
///
/// Tasks go to smol's global executor, which starts its threads on first
/// use (`SMOL_THREADS` sets how many); timers and sockets run on
/// async-io's reactor thread. Nothing needs to be entered first: any
/// executor that polls the endpoint's futures will do, `smol::block_on`
/// included.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime {
    _private: (),
}

impl SmolRuntime {
    /// The smol runtime.
    #[must_use]
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl Runtime for SmolRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        smol::spawn(future).detach();
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        Box::pin(SmolTimer {
            timer: Timer::at(deadline),
            fired: false,
        })
    }

    fn wrap_udp_socket(&self, socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        // `UdpSocketState::new` makes the socket non-blocking; so does
        // `Async::new`.
        let state = UdpSocketState::new((&socket).into())?;
        let io = Async::new(socket)?;
        Ok(Arc::new(SmolUdpSocket { io, state }))
    }
}

/// An async-io timer that, like tokio's `Sleep`, stays ready once it has
/// fired until it is reset (an async-io `Timer::at` fires once, then
/// stays pending).
#[derive(Debug)]
struct SmolTimer {
    timer: Timer,
    fired: bool,
}

impl AsyncTimer for SmolTimer {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.timer.set_at(deadline);
        this.fired = false;
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.fired && Pin::new(&mut this.timer).poll(cx).is_ready() {
            this.fired = true;
        }
        if this.fired {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// An async-io UDP socket with quinn-udp's per-socket state (GSO and GRO
/// support, ECN fallbacks).
#[derive(Debug)]
struct SmolUdpSocket {
    io: Async<UdpSocket>,
    state: UdpSocketState,
}

impl AsyncUdpSocket for SmolUdpSocket {
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            // `Ready` means an event arrived since this task last saw
            // `Pending`; after a `WouldBlock` the next call registers anew.
            ready!(self.io.poll_readable(cx))?;
            match udp::recv(&self.state, self.io.get_ref().into(), bufs, meta) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn try_send(&self, transmit: &tern_proto::Transmit, contents: &[u8]) -> io::Result<()> {
        let transmit = udp::quinn_transmit(transmit, contents)?;
        self.state.try_send(self.io.get_ref().into(), &transmit)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_writable(cx)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }
}
