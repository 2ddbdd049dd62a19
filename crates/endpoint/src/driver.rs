//! The event loop: one task per endpoint owns the socket and the timer,
//! feeds received datagrams to the protocol endpoint, sends what it
//! produces, and hands its events to the handles that wait on them.
//!
//! Who wakes whom: a handle that queued work wakes the driver; the driver
//! wakes, per connection event, only the tasks that event concerns (see
//! `conn::wakers`) and every subscriber of the connection's events; a new
//! incoming or the last connection draining wakes the endpoint's waiters.
//! A rebinding wakes the driver, so that the connections' packets from
//! the new address leave at once and its next turn receives on the new
//! socket. When the driver is dropped before it ended (its runtime shut
//! down), it marks the endpoint stopped and wakes every waiter, which then
//! fails with `ConnectionError::EndpointStopped` instead of hanging.

use std::{
    future::Future,
    io::IoSliceMut,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::BytesMut;
use tern_proto::{Transmit, endpoint::ConnectionHandle};

use crate::{
    AsyncTimer, AsyncUdpSocket, RecvMeta,
    shard::{Handed, ShardLink},
    shared::{EndpointShared, State},
};

/// Datagrams received per batch.
const BATCH: usize = 32;
/// Bytes of one receive: a GRO batch of datagrams, or one datagram of up
/// to the largest UDP payload (larger ones are truncated by the kernel).
/// A single datagram larger than the endpoint's advertised
/// max_udp_payload_size is dropped before it is copied.
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
/// Accepted clients whose handshake work (TLS, the certificate signature)
/// a shard's loop does per round at most, its lock held.
const HANDSHAKES_PER_ROUND: usize = 2;
/// Datagrams other shards handed over, taken per round at most: as many
/// as one receive brings, so that neither starves the other.
const HANDED_PER_ROUND: usize = BATCH;

/// The driver's send buffer, reused from turn to turn.
#[derive(Debug)]
pub(crate) struct IoBuffers {
    /// A batch the socket could not take yet; its bytes are in `send_buf`.
    pending: Option<Transmit>,
    /// The buffer the protocol writes each batch into, in place: it goes
    /// to the socket as written, with no copy.
    send_buf: Vec<u8>,
}

impl IoBuffers {
    /// Drops the batch the socket could not take, if any: it is not sent.
    pub(crate) fn drop_pending(&mut self) {
        self.pending = None;
    }
}

impl Default for IoBuffers {
    fn default() -> Self {
        Self {
            pending: None,
            // 32 datagrams of up to 1500 bytes: a full GSO batch.
            send_buf: Vec::with_capacity(64 * 1024),
        }
    }
}

/// Starts the driver task of `shared`; `link` when it is one shard of
/// several on one port.
pub(crate) fn spawn(shared: &Arc<EndpointShared>, link: Option<ShardLink>) {
    let runtime = shared.runtime().clone();
    // The timer is made disarmed: the driver arms it with the endpoint's
    // first deadline, and polls it only while armed.
    let timer = runtime.new_timer(runtime.now());
    runtime.spawn(Box::pin(Driver {
        shared: shared.clone(),
        timer,
        armed: TimerSlot::default(),
        recv: vec![0; RECV_BUF * BATCH],
        ended: false,
        link,
    }));
}

/// The driver task.
struct Driver {
    shared: Arc<EndpointShared>,
    timer: Pin<Box<dyn AsyncTimer>>,
    /// The deadline `timer` is set to, when it is armed at all.
    armed: TimerSlot,
    recv: Vec<u8>,
    /// It returned `Ready`: dropping it then is normal.
    ended: bool,
    /// The other shards of the endpoint, when it has several.
    link: Option<ShardLink>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            link.gone();
        }
        if !self.ended {
            // The runtime dropped the task: nobody will drive these
            // connections again, so every waiter must learn it now.
            self.shared.state().stop(true);
        }
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.shared.register_driver(cx.waker());
        let shared = this.shared.clone();
        let mut state = shared.state();
        // The socket is taken anew each turn, and only for the turn (under
        // the lock): after `EndpointRef::rebind` the next turn receives on
        // the new one, which registers the task's waker with it, and the
        // old one is not polled again.
        let Some(socket) = state.socket.clone() else {
            this.ended = true;
            return Poll::Ready(());
        };
        // Whether every round found work: then more may be waiting (a
        // socket read that returned data re-arms no readiness), and the
        // driver must come back by itself after yielding.
        let mut busy_to_the_end = true;
        for _ in 0..ROUNDS_PER_POLL {
            let now = shared.now();
            let link = this.link.as_ref();
            let mut progress = receive(&*socket, &mut state, &mut this.recv, cx, now, link);
            if let Some(link) = link {
                progress |= take_handed(link, &mut state, now);
            }
            // The handshakes of clients accepted from other tasks (a
            // shard's accepts are deferred to its loop), a few a round.
            progress |= state.endpoint.handle_deferred(now, HANDSHAKES_PER_ROUND);
            if state.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                state.endpoint.handle_timeout(now);
                progress = true;
            }
            report_refusals(&mut state);
            dispatch(&mut state);
            progress |= transmit(&*socket, &mut state, cx, now);
            if !progress {
                busy_to_the_end = false;
                break;
            }
            if this.link.is_some() {
                // A shard's rounds can hold handshakes' signatures: the
                // tasks waiting for its lock (on other threads, each
                // serving connections of every shard) get it between
                // rounds rather than after all of them.
                drop(state);
                state = shared.state();
            }
        }
        drop(socket);
        if state.finished() {
            state.stop(false);
            this.ended = true;
            if let Some(link) = &this.link {
                link.gone();
            }
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

/// Receives one batch and feeds it to the protocol endpoint, or, for a
/// datagram whose connection ID names another live shard, hands it there.
fn receive(
    socket: &dyn AsyncUdpSocket,
    state: &mut State,
    buf: &mut [u8],
    cx: &mut Context<'_>,
    now: Instant,
    link: Option<&ShardLink>,
) -> bool {
    let mut metas = [RecvMeta::default(); BATCH];
    // On the stack: nothing is allocated per receive.
    let mut chunks = buf.chunks_mut(RECV_BUF);
    let mut iovs: [IoSliceMut<'_>; BATCH] =
        std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
    match socket.poll_recv(cx, &mut iovs, &mut metas) {
        Poll::Ready(Ok(count)) => {
            let max = state.endpoint.max_udp_payload_size();
            for (meta, iov) in metas.iter().zip(iovs.iter()).take(count) {
                // GRO: one receive may hold several datagrams of `stride` bytes.
                for datagram in split_gro(iov, meta.len, meta.stride) {
                    // RFC 9000 §18.2: larger than we advertised; dropped
                    // before it costs a copy.
                    if datagram.len() > max {
                        state.endpoint.drop_oversized();
                        continue;
                    }
                    if let Some(link) = link
                        && let Some(shard) = link.owner(datagram)
                    {
                        link.hand_over(
                            shard,
                            Handed {
                                remote: meta.addr,
                                local_ip: meta.dst_ip,
                                ecn: meta.ecn,
                                data: BytesMut::from(datagram),
                            },
                        );
                        continue;
                    }
                    state.endpoint.handle(
                        now,
                        meta.addr,
                        meta.dst_ip,
                        meta.ecn,
                        BytesMut::from(datagram),
                    );
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

/// Feeds the protocol endpoint the datagrams other shards handed over,
/// up to [`HANDED_PER_ROUND`]; whether there were any.
fn take_handed(link: &ShardLink, state: &mut State, now: Instant) -> bool {
    let mut any = false;
    for _ in 0..HANDED_PER_ROUND {
        let Some(handed) = link.next_handed() else {
            break;
        };
        state
            .endpoint
            .handle(now, handed.remote, handed.local_ip, handed.ecn, handed.data);
        any = true;
    }
    any
}

/// The datagrams of one receive: the first `len` bytes of `received` (no
/// more than it holds), cut every `stride` bytes. With GRO one receive may
/// hold several datagrams of `stride` bytes, the last one possibly shorter;
/// a `stride` of 0 means a single datagram. Nothing is empty: an empty
/// receive gives no datagram.
pub fn split_gro(received: &[u8], len: usize, stride: usize) -> std::slice::Chunks<'_, u8> {
    let data = &received[..len.min(received.len())];
    let stride = if stride == 0 {
        data.len().max(1)
    } else {
        stride
    };
    data.chunks(stride)
}

/// Logs the first client Initial refused for each of the server's own
/// reasons: a server that cannot take clients says so, once per kind (a
/// peer cannot make it log more). The endpoint's stats count them all.
fn report_refusals(state: &mut State) {
    while let Some(report) = state.endpoint.poll_refusal_report() {
        tracing::warn!(
            local = %state.local_addr,
            reason = ?report.reason,
            "refused a client's initial: {}",
            report.detail
        );
    }
}

/// Hands the protocol's news to the handles: incomings to `accept`,
/// connection events to the tasks they concern and to subscribers, final
/// records of drained connections to whoever still holds them.
fn dispatch(state: &mut State) {
    let mut endpoint_news = false;
    while let Some(id) = state.endpoint.poll_incoming() {
        if state.accepting() {
            state.incoming.push_back(id);
            endpoint_news = true;
        } else {
            state.endpoint.refuse_incoming(id);
        }
    }
    while let Some((handle, event)) = state.endpoint.poll_event() {
        if let Some(record) = state.conns.get_mut(&handle) {
            record.on_event(&event);
        }
    }
    while let Some(drained) = state.endpoint.poll_drained() {
        state.on_drained(drained);
        endpoint_news |= state.endpoint.connection_count() == 0;
    }
    if endpoint_news {
        state.endpoint_wakers.wake();
    }
}

/// Sends what the protocol has to send until the socket pushes back.
fn transmit(
    socket: &dyn AsyncUdpSocket,
    state: &mut State,
    cx: &mut Context<'_>,
    now: Instant,
) -> bool {
    let mut sent = false;
    loop {
        let transmit = match state.io.pending.take() {
            Some(pending) => pending,
            None => match next_batch(socket, state, now) {
                Some(batch) => batch,
                None => break,
            },
        };
        match socket.try_send(&transmit, &state.io.send_buf[..transmit.size]) {
            Ok(()) => sent = true,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                state.io.pending = Some(transmit);
                if socket.poll_writable(cx).is_ready() {
                    continue;
                }
                break;
            }
            Err(error) => {
                // A datagram the kernel refuses is dropped, as the network
                // would; loss recovery sends its contents again.
                tracing::debug!(%error, "udp send failed");
                sent = true;
            }
        }
    }
    sent
}

/// Sends what can go out at once, without waiting for the socket: the last
/// words of an endpoint whose socket is about to close.
pub(crate) fn flush(state: &mut State, now: Instant) {
    let Some(socket) = state.socket.clone() else {
        return;
    };
    if let Some(transmit) = state.io.pending.take() {
        let _ = socket.try_send(&transmit, &state.io.send_buf[..transmit.size]);
    }
    while let Some(transmit) = next_batch(&*socket, state, now) {
        if socket
            .try_send(&transmit, &state.io.send_buf[..transmit.size])
            .is_err()
        {
            break;
        }
    }
}

/// Sends connection `handle`'s datagrams from the calling task, at once,
/// until it has no more or the socket pushes back (what waits then is the
/// driver's to send).
///
/// An application call that makes a flight ready (accepting an incoming,
/// connecting) sends it here rather than waking the driver to do it: on a
/// runtime that runs woken tasks in turn, the driver would come after every
/// task queued before it, so a server accepting a burst of clients would
/// answer none until it had accepted all, and client and server would take
/// turns instead of working at once.
pub(crate) fn send_now(state: &mut State, handle: ConnectionHandle, now: Instant) {
    let Some(socket) = state.socket.clone() else {
        return;
    };
    if state.io.pending.is_some() {
        // The socket is full: the driver is waiting for it.
        return;
    }
    let max_segments = socket.max_gso_segments().clamp(1, MAX_GSO_SEGMENTS);
    loop {
        state.io.send_buf.clear();
        let Some(transmit) =
            state
                .endpoint
                .poll_transmit_of(handle, now, max_segments, &mut state.io.send_buf)
        else {
            return;
        };
        match socket.try_send(&transmit, &state.io.send_buf[..transmit.size]) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                state.io.pending = Some(transmit);
                return;
            }
            Err(error) => tracing::debug!(%error, "udp send failed"),
        }
    }
}

/// Has the protocol write the next send into the send buffer: as many
/// datagrams of one connection as GSO takes in one call, all of one size
/// but a shorter last one, built in place.
fn next_batch(socket: &dyn AsyncUdpSocket, state: &mut State, now: Instant) -> Option<Transmit> {
    let max_segments = socket.max_gso_segments().clamp(1, MAX_GSO_SEGMENTS);
    state.io.send_buf.clear();
    state
        .endpoint
        .poll_transmit(now, max_segments, &mut state.io.send_buf)
}

#[cfg(test)]
mod tests;
