//! What the event loop and the handles share: the protocol endpoint, one
//! record per connection, and the endpoint's own lifecycle.
//!
//! Ownership: `tern_proto::Endpoint` owns every live connection, its
//! handshake snapshot and its close reason; when a connection has drained
//! it hands its final record (stats, snapshot, close reason) over, and the
//! connection's [`ConnRecord`] keeps it while handles remain. Client
//! Initials wait in the protocol endpoint as incomings until the
//! application decides. The state is behind one mutex: handles lock it
//! briefly, never across an `.await`, act, then wake the driver.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    task::Waker,
    time::Instant,
};

use futures::task::AtomicWaker;
use tern_proto::{
    VarInt,
    endpoint::{ConnectionHandle, DrainedConnection, Endpoint, HandleMap, IncomingId},
};

use crate::{
    AsyncUdpSocket, Runtime,
    conn::{ConnRecord, wakers::WakerSet},
};

/// The state handles and the driver share.
pub(crate) struct State {
    /// The protocol endpoint and its connections.
    pub(crate) endpoint: Endpoint,
    /// What the API keeps per connection: handle count, waiters,
    /// subscribers, and the final record once the connection drained.
    pub(crate) conns: HandleMap<ConnRecord>,
    /// Incomings not yet taken by `accept`.
    pub(crate) incoming: VecDeque<IncomingId>,
    /// Incomings handed to the application and not yet decided.
    pub(crate) incoming_out: usize,
    /// Tasks waiting in `accept` or for the endpoint to go idle.
    pub(crate) endpoint_wakers: WakerSet,
    /// `close` was called: no new connections or incomings.
    pub(crate) closing: bool,
    /// Application handles of the endpoint alive.
    pub(crate) endpoint_refs: usize,
    /// The driver ended, normally or not; the socket is closed.
    pub(crate) stopped: bool,
    /// The driver was dropped before it ended (its runtime shut down).
    pub(crate) lost: bool,
    /// The socket, until the driver ends.
    pub(crate) socket: Option<Arc<dyn AsyncUdpSocket>>,
    /// The socket's local address, as bound.
    pub(crate) local_addr: SocketAddr,
    /// Send-side buffers of the driver.
    pub(crate) io: crate::driver::IoBuffers,
}

impl State {
    /// Whether new connections are taken: the endpoint is neither closing
    /// nor dropped.
    pub(crate) fn accepting(&self) -> bool {
        !self.closing && self.endpoint_refs > 0 && !self.stopped
    }

    /// Whether the driver has nothing left to do and may end: nobody can
    /// start a connection, none is left, and no incoming is undecided.
    pub(crate) fn finished(&self) -> bool {
        !self.accepting()
            && self.endpoint.connection_count() == 0
            && self.incoming_out == 0
            && self.incoming.is_empty()
    }

    /// Refuses every incoming not handed out yet.
    pub(crate) fn refuse_queued(&mut self) {
        while let Some(id) = self.incoming.pop_front() {
            self.endpoint.refuse_incoming(id);
        }
    }

    /// Keeps the final record of a drained connection while handles hold
    /// it; forgets it otherwise.
    pub(crate) fn on_drained(&mut self, drained: DrainedConnection) {
        let handle = drained.handle;
        let Some(record) = self.conns.get_mut(&handle) else {
            return;
        };
        if record.handles == 0 {
            self.conns.remove(&handle);
        } else {
            record.drained(drained);
        }
    }

    /// Ends the endpoint: closes the socket, marks it stopped and wakes
    /// everyone so that no waiter hangs.
    pub(crate) fn stop(&mut self, lost: bool) {
        self.stopped = true;
        self.lost |= lost;
        self.socket = None;
        self.refuse_queued();
        for record in self.conns.values_mut() {
            record.on_stopped(lost);
        }
        self.endpoint_wakers.wake();
    }

    /// Moves the endpoint to `socket`, bound to `local`, and tells every
    /// connection (they migrate: RFC 9000 §9.2); returns the old socket,
    /// for the caller to drop once the lock is released.
    pub(crate) fn rebind(
        &mut self,
        now: Instant,
        socket: Arc<dyn AsyncUdpSocket>,
        local: SocketAddr,
    ) -> Option<Arc<dyn AsyncUdpSocket>> {
        // RFC 9000 §9.5: a batch the old socket could not take was built
        // with the connection ID used from the old address; sent from the
        // new one, it would link the two. It is lost with the old socket's
        // queue, and loss recovery sends its contents again.
        self.io.drop_pending();
        self.local_addr = local;
        // A wildcard address is no source to send from, as when the
        // endpoint was made: the kernel picks.
        let specific = (!local.ip().is_unspecified()).then_some(local);
        self.endpoint.rebind(now, specific);
        self.socket.replace(socket)
    }

    /// Closes the connections no handle holds (nobody would ever use them).
    pub(crate) fn close_unheld(&mut self, now: Instant) {
        let unheld: Vec<ConnectionHandle> = self
            .conns
            .iter()
            .filter(|(_, r)| r.handles == 0)
            .map(|(h, _)| *h)
            .collect();
        for handle in unheld {
            if let Some(conn) = self.endpoint.connection_mut(handle) {
                conn.close(now, VarInt::from_u32(0), bytes::Bytes::new());
            }
        }
    }
}

/// Shared between the driver task and every handle.
pub(crate) struct EndpointShared {
    runtime: Arc<dyn Runtime>,
    state: Mutex<State>,
    driver: AtomicWaker,
}

impl std::fmt::Debug for EndpointShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `try_lock`: a handle may be printed while the state is locked.
        let local_addr = self.state.try_lock().ok().map(|s| s.local_addr);
        f.debug_struct("EndpointShared")
            .field("local_addr", &local_addr)
            .finish_non_exhaustive()
    }
}

impl EndpointShared {
    pub(crate) fn new(
        runtime: Arc<dyn Runtime>,
        socket: Arc<dyn AsyncUdpSocket>,
        local_addr: SocketAddr,
        endpoint: Endpoint,
    ) -> Self {
        Self {
            runtime,
            state: Mutex::new(State {
                endpoint,
                conns: HandleMap::default(),
                incoming: VecDeque::new(),
                incoming_out: 0,
                endpoint_wakers: WakerSet::default(),
                closing: false,
                endpoint_refs: 0,
                stopped: false,
                lost: false,
                socket: Some(socket),
                local_addr,
                io: crate::driver::IoBuffers::default(),
            }),
            driver: AtomicWaker::new(),
        }
    }

    /// Locks the shared state. Hold the guard briefly and never across an
    /// `.await`.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the protocol state as it
        // was at the panic; carrying on is better than poisoning every handle.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes the driver after a handle queued something to send.
    pub(crate) fn wake(&self) {
        self.driver.wake();
    }

    /// Registers the driver's waker.
    pub(crate) fn register_driver(&self, waker: &Waker) {
        self.driver.register(waker);
    }

    /// The current time, from the runtime's clock.
    pub(crate) fn now(&self) -> Instant {
        self.runtime.now()
    }

    /// The runtime the endpoint runs on.
    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// The socket's local address, as bound: the one it moved to last.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.state().local_addr
    }
}
