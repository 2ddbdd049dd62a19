//! The messages receive threads send the scheduler, and the upstream
//! sockets that carry one client's datagrams to the server.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::Instant,
};

use crate::proxy::socket::{Endpoint, Received};

/// One binding of the proxy, as a NAT keeps them: a client address and
/// which of the proxy's addresses it sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Flow {
    /// The client's address.
    pub(crate) client: SocketAddr,
    /// The proxy's address: 0 the first, 1 the [`crate::proxy::SecondRoute`].
    pub(crate) route: usize,
}

/// What the receive threads and the [`crate::proxy::Proxy`] handle tell the scheduler.
#[derive(Debug)]
pub(crate) enum Event {
    /// A datagram from a client, received on the listening socket of `route`.
    FromClient { route: usize, packet: Packet },
    /// A datagram on the upstream socket serving `flow`, bound to `upstream`.
    FromServer {
        flow: Flow,
        upstream: SocketAddr,
        packet: Packet,
    },
    /// A socket error on the client's (`to_server`) or server's side.
    SocketError { to_server: bool },
    /// Stop now.
    Stop,
}

/// One received datagram, owned.
#[derive(Debug)]
pub(crate) struct Packet {
    pub(super) at: Instant,
    pub(super) from: SocketAddr,
    pub(super) local_ip: Option<IpAddr>,
    pub(super) ecn: u8,
    pub(super) data: Vec<u8>,
}

impl From<Received<'_>> for Packet {
    fn from(r: Received<'_>) -> Self {
        Self {
            at: r.at,
            from: r.from,
            local_ip: r.local_ip,
            ecn: r.ecn,
            data: r.data.to_vec(),
        }
    }
}

/// An upstream socket and its receive thread.
#[derive(Debug)]
pub(super) struct Upstream {
    pub(super) endpoint: Arc<Endpoint>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    pub(super) fn open(
        bind: SocketAddr,
        flow: Flow,
        events: &mpsc::SyncSender<Event>,
    ) -> io::Result<Self> {
        let endpoint = Endpoint::bind(bind)?;
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = endpoint.local();
        let thread = {
            let (endpoint, stop, events) = (endpoint.clone(), stop.clone(), events.clone());
            let errors = events.clone();
            crate::proxy::spawn("proxy-upstream", move || {
                endpoint.recv_loop(
                    &stop,
                    |r| {
                        let packet = Packet::from(r);
                        let event = Event::FromServer {
                            flow,
                            upstream,
                            packet,
                        };
                        events.send(event).is_ok()
                    },
                    |_| {
                        let _ = errors.try_send(Event::SocketError { to_server: false });
                    },
                );
            })?
        };
        Ok(Self {
            endpoint,
            stop,
            thread: Some(thread),
        })
    }

    /// Tells the receive thread to stop; it notices within its poll interval.
    pub(super) fn signal(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub(super) fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub(super) fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}
