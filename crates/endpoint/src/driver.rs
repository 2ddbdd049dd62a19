//! The event loop: one task per endpoint owns the socket, the timer and the
//! `tern_proto::Endpoint`, and wakes the handles that wait on it.
//!
//! Handles (the `tern` crate) share [`EndpointShared`] through an `Arc`.
//! They lock [`EndpointShared::state`] briefly, never across an `.await`,
//! act on a connection, then [`wake`](EndpointShared::wake) the driver so
//! that what they queued goes out. The driver wakes every waiter of a
//! connection when that connection reports an event; waiters check their
//! own condition again, so no wake-up is lost.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    io::IoSliceMut,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
    time::Instant,
};

use bytes::BytesMut;
use futures::task::AtomicWaker;
use tern_proto::{
    HandshakeInfo, Transmit,
    connection::{ConnectionError, Event},
    endpoint::{ConnectionHandle, Endpoint},
};

use crate::{AsyncTimer, AsyncUdpSocket, RecvMeta, Runtime};

/// Datagrams received per batch.
const BATCH: usize = 32;
/// Largest UDP payload received; larger ones are truncated by the kernel.
const RECV_BUF: usize = 64 * 1024;
/// Rounds of receive/timers/send per wake-up before the driver yields, so
/// one busy endpoint cannot starve other tasks; a driver that used them all
/// wakes itself to carry on.
const ROUNDS_PER_POLL: usize = 16;
/// Where a disarmed timer's deadline is moved: far enough that the wake-up
/// the runtime holds for it never comes while the endpoint idles.
const PARKED: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Datagrams sent in one GSO call at most.
const MAX_GSO_SEGMENTS: usize = 32;
/// Events kept per connection for [`ConnState::events`] readers; the oldest
/// are dropped beyond this.
const MAX_QUEUED_EVENTS: usize = 64;

/// What the driver keeps for each connection, besides the protocol state.
#[derive(Debug, Default)]
pub struct ConnState {
    /// The handshake snapshot, once the Connected event came.
    pub info: Option<Arc<HandshakeInfo>>,
    /// Why the connection ended, once it did.
    pub error: Option<ConnectionError>,
    /// Tasks waiting on anything about this connection.
    pub wakers: Vec<Waker>,
    /// Events for readers of the connection's event stream, bounded.
    pub events: VecDeque<Event>,
    /// Events dropped because nobody read them in time.
    pub events_dropped: u64,
    /// Application handles (connection, streams, events) alive; at zero
    /// the connection is closed, and once it has drained this entry goes.
    pub handles: usize,
}

impl ConnState {
    /// Registers `waker` to be woken at the connection's next event.
    pub fn register(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    fn wake_all(&mut self) {
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}

/// The state handles and the driver share.
#[derive(Debug)]
pub struct EndpointState {
    /// The protocol endpoint and its connections.
    pub endpoint: Endpoint,
    /// Per-connection data the handles wait on.
    pub conns: HashMap<ConnectionHandle, ConnState>,
    /// Server connections not yet taken by `accept`.
    pub accepted: VecDeque<ConnectionHandle>,
    /// Tasks waiting in `accept` or for the endpoint to go idle.
    pub endpoint_wakers: Vec<Waker>,
    /// Set by `close`: no new connections, and the driver ends once every
    /// connection has drained.
    pub closing: bool,
    /// The socket failed; the message says how.
    pub socket_error: Option<String>,
    /// A datagram the socket could not take yet.
    pending: Option<(Transmit, Vec<u8>)>,
    /// The buffer datagrams are batched in, reused.
    send_buf: Vec<u8>,
    /// The buffer the protocol writes one datagram into.
    scratch: Vec<u8>,
    /// A datagram that could not join the last batch.
    held: Option<(Transmit, Vec<u8>)>,
}

impl EndpointState {
    /// Registers `waker` for endpoint-level changes (accepts, idleness).
    pub fn register_endpoint_waker(&mut self, waker: &Waker) {
        if !self.endpoint_wakers.iter().any(|w| w.will_wake(waker)) {
            self.endpoint_wakers.push(waker.clone());
        }
    }

    fn wake_endpoint(&mut self) {
        for waker in self.endpoint_wakers.drain(..) {
            waker.wake();
        }
    }
}

/// Shared between the driver task and every handle.
#[derive(Debug)]
pub struct EndpointShared {
    runtime: Arc<dyn Runtime>,
    socket: Arc<dyn AsyncUdpSocket>,
    state: Mutex<EndpointState>,
    driver: AtomicWaker,
}

impl EndpointShared {
    /// Starts the driver task for `endpoint` on `socket`.
    pub fn start(
        runtime: Arc<dyn Runtime>,
        socket: Arc<dyn AsyncUdpSocket>,
        endpoint: Endpoint,
    ) -> Arc<Self> {
        let shared = Arc::new(Self {
            runtime: runtime.clone(),
            socket,
            state: Mutex::new(EndpointState {
                endpoint,
                conns: HashMap::new(),
                accepted: VecDeque::new(),
                endpoint_wakers: Vec::new(),
                closing: false,
                socket_error: None,
                pending: None,
                send_buf: Vec::with_capacity(64 * 1024),
                scratch: Vec::with_capacity(2048),
                held: None,
            }),
            driver: AtomicWaker::new(),
        });
        // The timer is made disarmed: the driver arms it with the
        // endpoint's first deadline, and polls it only while armed.
        let timer = runtime.new_timer(runtime.now());
        runtime.spawn(Box::pin(Driver {
            shared: shared.clone(),
            timer,
            armed: TimerSlot::default(),
            recv: vec![0; RECV_BUF * BATCH],
        }));
        shared
    }

    /// Locks the shared state. Hold the guard briefly and never across an
    /// `.await`.
    pub fn state(&self) -> MutexGuard<'_, EndpointState> {
        // A panic while holding the lock leaves the protocol state as it
        // was at the panic; carrying on is better than poisoning every handle.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes the driver after a handle queued something to send.
    pub fn wake(&self) {
        self.driver.wake();
    }

    /// The current time, from the runtime's clock.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.runtime.now()
    }

    /// The runtime the endpoint runs on.
    #[must_use]
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// The socket's local address.
    ///
    /// # Errors
    /// When the operating system cannot tell.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.socket.local_addr()
    }
}

/// The driver task.
struct Driver {
    shared: Arc<EndpointShared>,
    timer: Pin<Box<dyn AsyncTimer>>,
    /// The deadline `timer` is set to, when it is armed at all.
    armed: TimerSlot,
    recv: Vec<u8>,
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.shared.driver.register(cx.waker());
        let shared = this.shared.clone();
        let mut state = shared.state();
        // Whether every round found work: then more may be waiting (a
        // socket read that returned data re-arms no readiness), and the
        // driver must come back by itself after yielding.
        let mut busy_to_the_end = true;
        for _ in 0..ROUNDS_PER_POLL {
            let now = shared.now();
            let mut progress = receive(&shared, &mut state, &mut this.recv, cx, now);
            if state.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                state.endpoint.handle_timeout(now);
                progress = true;
            }
            report_refusals(&shared, &mut state);
            dispatch_events(&mut state, now);
            progress |= transmit(&shared, &mut state, cx, now);
            if !progress {
                busy_to_the_end = false;
                break;
            }
        }
        if state.closing && state.endpoint.connection_count() == 0 {
            state.wake_endpoint();
            return Poll::Ready(());
        }
        // The timer holds the endpoint's earliest deadline, or nothing: a
        // deadline that is gone leaves no stale one behind to fire.
        match this.armed.update(state.endpoint.poll_timeout()) {
            TimerChange::Arm(deadline) => this.timer.as_mut().reset(deadline),
            // It is no longer polled; moving its deadline far away also
            // stops the wake-up the runtime still holds for the old one.
            TimerChange::Disarm => this.timer.as_mut().reset(shared.now() + PARKED),
            TimerChange::Keep => {}
        }
        drop(state);
        if busy_to_the_end {
            // Yield to other tasks, then carry on: nothing else would wake
            // us for the work left.
            cx.waker().wake_by_ref();
        } else if this.armed.is_armed() && this.timer.as_mut().poll(cx).is_ready() {
            // The deadline passed while we were busy: go round again.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// What the driver's timer must do after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerChange {
    /// Set it to this deadline (it was unset or set to another).
    Arm(Instant),
    /// Stop polling it: the endpoint has no deadline.
    Disarm,
    /// It already holds the right deadline, or is already disarmed.
    Keep,
}

/// The deadline the driver's timer is armed with, if any: the timer
/// discipline, kept apart from the I/O so that it can be tested alone. A
/// disarmed timer is not polled, so whatever deadline it still holds
/// cannot wake the driver.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TimerSlot(Option<Instant>);

impl TimerSlot {
    /// Follows the endpoint's earliest deadline `next`.
    fn update(&mut self, next: Option<Instant>) -> TimerChange {
        if self.0 == next {
            return TimerChange::Keep;
        }
        self.0 = next;
        match next {
            Some(deadline) => TimerChange::Arm(deadline),
            None => TimerChange::Disarm,
        }
    }

    fn is_armed(&self) -> bool {
        self.0.is_some()
    }
}

/// Receives one batch and feeds it to the protocol endpoint.
fn receive(
    shared: &EndpointShared,
    state: &mut EndpointState,
    buf: &mut [u8],
    cx: &mut Context<'_>,
    now: Instant,
) -> bool {
    let mut metas = [RecvMeta::default(); BATCH];
    // On the stack: nothing is allocated per receive.
    let mut chunks = buf.chunks_mut(RECV_BUF);
    let mut iovs: [IoSliceMut<'_>; BATCH] =
        std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
    match shared.socket.poll_recv(cx, &mut iovs, &mut metas) {
        Poll::Ready(Ok(count)) => {
            for (meta, iov) in metas.iter().zip(iovs.iter()).take(count) {
                let data = &iov[..meta.len.min(iov.len())];
                let stride = if meta.stride == 0 {
                    data.len().max(1)
                } else {
                    meta.stride
                };
                // GRO: one receive may hold several datagrams of `stride` bytes.
                for datagram in data.chunks(stride) {
                    state
                        .endpoint
                        .handle(now, meta.addr, meta.ecn, BytesMut::from(datagram));
                }
            }
            true
        }
        Poll::Ready(Err(error)) => {
            tracing::debug!(%error, "udp receive failed");
            // ICMP errors surface here on some platforms; the socket stays usable.
            false
        }
        Poll::Pending => false,
    }
}

/// Logs the first client Initial refused for each of the server's own
/// reasons: a server that cannot take clients says so, once per kind (a
/// peer cannot make it log more). The endpoint's stats count them all.
fn report_refusals(shared: &EndpointShared, state: &mut EndpointState) {
    while let Some(report) = state.endpoint.poll_refusal_report() {
        let local = shared
            .socket
            .local_addr()
            .map_or_else(|_| String::from("?"), |addr| addr.to_string());
        tracing::warn!(
            %local,
            reason = ?report.reason,
            "refused a client's initial: {}",
            report.detail
        );
    }
}

/// Hands protocol events to the connections' waiters.
fn dispatch_events(state: &mut EndpointState, now: Instant) {
    while let Some(handle) = state.endpoint.poll_accepted() {
        state.conns.entry(handle).or_default();
        if state.closing {
            if let Some(conn) = state.endpoint.connection_mut(handle) {
                let reason = bytes::Bytes::from_static(b"endpoint closing");
                conn.close(now, tern_proto::VarInt::from_u32(0), reason);
            }
        } else {
            state.accepted.push_back(handle);
        }
        state.wake_endpoint();
    }
    while let Some((handle, event)) = state.endpoint.poll_event() {
        let conn = state.conns.entry(handle).or_default();
        match &event {
            Event::Connected(info) => conn.info = Some(info.clone()),
            Event::Closed(error) => {
                conn.error.get_or_insert_with(|| error.clone());
            }
            _ => {}
        }
        if conn.events.len() >= MAX_QUEUED_EVENTS {
            conn.events.pop_front();
            conn.events_dropped += 1;
        }
        conn.events.push_back(event);
        conn.wake_all();
    }
    // Wake waiters of connections that finished and were forgotten; drop
    // the entries nobody holds a handle to any more. Only when some entry
    // has outlived its connection, so a busy endpoint does not scan every
    // connection on every turn.
    if state.conns.len() > state.endpoint.connection_count() {
        let gone: Vec<ConnectionHandle> = state
            .conns
            .keys()
            .copied()
            .filter(|h| state.endpoint.connection(*h).is_none())
            .collect();
        for handle in gone {
            let unheld = state.conns.get_mut(&handle).is_some_and(|conn| {
                conn.wake_all();
                conn.handles == 0
            });
            if unheld {
                state.conns.remove(&handle);
            }
        }
    }
    if state.endpoint.connection_count() == 0 {
        state.wake_endpoint();
    }
}

/// Sends what the protocol has to send until the socket pushes back.
fn transmit(
    shared: &EndpointShared,
    state: &mut EndpointState,
    cx: &mut Context<'_>,
    now: Instant,
) -> bool {
    let mut sent = false;
    loop {
        let (transmit, contents) = match state.pending.take() {
            Some(pending) => pending,
            None => match next_batch(shared, state, now) {
                Some(batch) => batch,
                None => break,
            },
        };
        match shared
            .socket
            .try_send(&transmit, &contents[..transmit.size])
        {
            Ok(()) => {
                sent = true;
                state.send_buf = contents;
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                state.pending = Some((transmit, contents));
                if shared.socket.poll_writable(cx).is_ready() {
                    continue;
                }
                break;
            }
            Err(error) => {
                // A datagram the kernel refuses is dropped, as the network
                // would; loss recovery sends its contents again.
                tracing::debug!(%error, "udp send failed");
                sent = true;
                state.send_buf = contents;
            }
        }
    }
    sent
}

/// Builds the next send: as many datagrams for one destination as GSO
/// takes in one call, all of one size but a shorter last one.
fn next_batch(
    shared: &EndpointShared,
    state: &mut EndpointState,
    now: Instant,
) -> Option<(Transmit, Vec<u8>)> {
    if let Some(held) = state.held.take() {
        return Some(held);
    }
    let max_segments = shared.socket.max_gso_segments().clamp(1, MAX_GSO_SEGMENTS);
    let mut batch = std::mem::take(&mut state.send_buf);
    batch.clear();
    let mut first: Option<Transmit> = None;
    let mut segments = 0;
    while let Some(transmit) = state.endpoint.poll_transmit(now, &mut state.scratch) {
        let datagram = &state.scratch[..transmit.size];
        match &mut first {
            None => {
                batch.extend_from_slice(datagram);
                first = Some(transmit);
                segments = 1;
            }
            Some(head) => {
                if transmit.destination != head.destination
                    || transmit.ecn != head.ecn
                    || transmit.size > head.size
                {
                    // It cannot join this batch: send it alone next time.
                    state.held = Some((transmit, datagram.to_vec()));
                    break;
                }
                batch.extend_from_slice(datagram);
                segments += 1;
                if transmit.size < head.size {
                    break;
                }
            }
        }
        if segments >= max_segments || max_segments == 1 {
            break;
        }
    }
    let Some(mut head) = first else {
        state.send_buf = batch;
        return None;
    };
    if segments > 1 {
        head.segment_size = Some(head.size);
    }
    head.size = batch.len();
    Some((head, batch))
}

#[cfg(test)]
mod tests;
