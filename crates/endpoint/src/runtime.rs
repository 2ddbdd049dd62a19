//! The async runtime seen through three small object-safe traits.
//!
//! The event loop never names tokio or smol: it holds an
//! `Arc<dyn Runtime>` and gets its task spawner, its timer and its UDP
//! sockets from it. Each implementation lives in its own module behind a
//! feature.

use std::fmt::Debug;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::udp::RecvMeta;

#[cfg(feature = "runtime-smol")]
mod smol;
#[cfg(feature = "runtime-tokio")]
mod tokio;

#[cfg(feature = "runtime-smol")]
pub use self::smol::SmolRuntime;
#[cfg(feature = "runtime-tokio")]
pub use self::tokio::TokioRuntime;

#[cfg(test)]
mod tests;

/// An async runtime: spawns tasks, makes timers and wraps UDP sockets.
///
/// Object safe; the endpoint holds it as `Arc<dyn Runtime>`.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// Spawns a task that runs to completion on the runtime.
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>);

    /// A timer that fires at `deadline` and can be reset.
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>>;

    /// Wraps a bound std UDP socket (non-blocking is set by this call) for
    /// this runtime.
    ///
    /// # Errors
    ///
    /// Fails if the socket cannot be made non-blocking, its local address
    /// cannot be read, or the runtime's reactor refuses to register it.
    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>>;

    /// The current time: the one place the endpoint reads the clock.
    ///
    /// The default reads the system's monotonic clock; a runtime whose
    /// timers run on a clock of their own (tokio's, which tests may pause)
    /// returns that clock instead, so that deadlines and timers agree.
    #[expect(
        clippy::disallowed_methods,
        reason = "the endpoint's clock: every other layer takes `now` from here"
    )]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A resettable timer of a [`Runtime`].
pub trait AsyncTimer: Send + Debug {
    /// Moves the deadline to `deadline`; a timer that has fired is armed
    /// again.
    fn reset(self: Pin<&mut Self>, deadline: Instant);

    /// `Ready` once the deadline has passed (and again on every poll until
    /// the timer is reset); otherwise registers `cx`'s waker.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// A UDP socket registered with a [`Runtime`]'s reactor, sending and
/// receiving through quinn-udp (GSO, GRO, ECN, destination address).
pub trait AsyncUdpSocket: Send + Sync + Debug {
    /// Receives a batch (GRO: one entry may hold several datagrams of
    /// `stride` bytes); returns how many metas were filled.
    ///
    /// At most `min(bufs.len(), meta.len(), BATCH_SIZE)` entries are
    /// filled; `meta[i]` describes `bufs[i]`.
    ///
    /// # Errors
    ///
    /// Any socket error other than `WouldBlock` (which becomes `Pending`).
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>>;

    /// Sends one transmit (GSO when `segment_size` is set) or fails with
    /// `WouldBlock`; pair it with [`poll_writable`](Self::poll_writable).
    ///
    /// Sends `contents[..transmit.size]`. A transmit with `segment_size` may
    /// carry at most [`max_gso_segments`](Self::max_gso_segments) segments.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the socket's send buffer is full: wait for
    /// `poll_writable`, then try again. `InvalidInput` when `transmit.size`
    /// exceeds `contents`. Otherwise the kernel's error for this datagram
    /// (unreachable destination, message too long for an MTU probe, ...),
    /// which concerns this transmit only.
    fn try_send(&self, transmit: &tern_proto::Transmit, contents: &[u8]) -> io::Result<()>;

    /// `Ready` when the socket may have room to send; otherwise registers
    /// `cx`'s waker.
    ///
    /// Readiness may be stale: a `try_send` after `Ready` can still fail
    /// with `WouldBlock`, in which case poll again.
    ///
    /// # Errors
    ///
    /// An error the reactor reports for the socket.
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// The address the socket is bound to.
    ///
    /// # Errors
    ///
    /// The kernel's error reading the socket's name.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// How many segments one send may carry (1 when GSO is unavailable).
    ///
    /// This can drop to 1 after a send fails because the network device
    /// refuses GSO; read it before filling each batch.
    fn max_gso_segments(&self) -> usize;

    /// How many datagrams one receive may coalesce (GRO).
    ///
    /// Receive buffers should hold this many full-sized datagrams.
    fn gro_segments(&self) -> usize;
}

/// The runtime to use when the caller names none.
///
/// The rule: a `TokioRuntime` on the current tokio runtime when called
/// from inside one (and the `runtime-tokio` feature is on); otherwise a
/// `SmolRuntime` when the `runtime-smol` feature is on (it needs no
/// context: smol's global executor and async-io's reactor start on first
/// use); otherwise `None`.
#[must_use]
pub fn default_runtime() -> Option<Arc<dyn Runtime>> {
    #[cfg(feature = "runtime-tokio")]
    if let Some(runtime) = TokioRuntime::try_current() {
        return Some(Arc::new(runtime));
    }
    #[cfg(feature = "runtime-smol")]
    return Some(Arc::new(SmolRuntime::new()));
    #[cfg(not(feature = "runtime-smol"))]
    None
}
