//! Endpoints driven in memory: a client and a server over a path with a
//! fixed delay, with the endpoint's indexes checked against its
//! connections after every instant.

use std::{
    collections::VecDeque,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use rustls::{
    RootCertStore,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};

use super::*;
use crate::{Dir, StreamEvent, StreamId, connection::ConnectionError};

/// The fixed base instant every test measures from.
#[expect(clippy::disallowed_methods, reason = "tests need one base instant")]
pub(super) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(super) const CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 50_000);
pub(super) const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 4433);
/// An address nobody answers from: what is sent there is lost.
pub(super) const NOWHERE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4433);
/// One-way delay of the path.
const DELAY: Duration = Duration::from_millis(5);

/// A client configuration and a server configuration that it trusts, made
/// once (a certificate takes a while).
pub(super) fn configs() -> (ClientConfig, Arc<ServerConfig>) {
    static CONFIGS: OnceLock<(ClientConfig, Arc<ServerConfig>)> = OnceLock::new();
    CONFIGS
        .get_or_init(|| {
            let provider = Arc::new(crate::crypto::default_provider());
            let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
            let cert = certified.cert.der().clone();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                certified.signing_key.serialize_der(),
            ));
            let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.clone()], key)
                .unwrap();
            server.alpn_protocols = vec![b"test".to_vec()];
            server.max_early_data_size = 0;
            let mut roots = RootCertStore::empty();
            roots.add(cert).unwrap();
            let mut client = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            client.alpn_protocols = vec![b"test".to_vec()];
            (
                ClientConfig::new(Arc::new(client)).unwrap(),
                Arc::new(ServerConfig::new(Arc::new(server)).unwrap()),
            )
        })
        .clone()
}

/// A datagram on its way.
struct InFlight {
    at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

/// A client and a server endpoint on one path; the server accepts every
/// client, and every event is taken and kept.
pub(super) struct Net {
    pub(super) client: Endpoint,
    pub(super) server: Endpoint,
    pub(super) now: Instant,
    in_flight: VecDeque<InFlight>,
    pub(super) client_events: Vec<(ConnectionHandle, Event)>,
    pub(super) server_events: Vec<(ConnectionHandle, Event)>,
    /// Echo what arrives on streams the client opens, at the server.
    pub(super) echo: bool,
}

impl Net {
    pub(super) fn new(seed: u64) -> Self {
        let (_, server_config) = configs();
        let config = Arc::new(EndpointConfig::default());
        Self {
            client: Endpoint::new(config.clone(), None, Some(CLIENT), seed),
            server: Endpoint::new(config, Some(server_config), Some(SERVER), seed + 1),
            now: epoch(),
            in_flight: VecDeque::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            echo: false,
        }
    }

    /// Starts a client connection to `remote`.
    pub(super) fn connect(&mut self, remote: SocketAddr) -> ConnectionHandle {
        let (client_config, _) = configs();
        self.client
            .connect(self.now, &client_config, remote, "localhost")
            .unwrap()
    }

    /// Works at the current instant until nothing is left to do.
    pub(super) fn settle(&mut self) {
        loop {
            let mut busy = false;
            while let Some(datagram) = self.in_flight.front()
                && datagram.at <= self.now
            {
                let datagram = self.in_flight.pop_front().unwrap();
                let to = if datagram.to == SERVER {
                    &mut self.server
                } else {
                    &mut self.client
                };
                let local = Some(datagram.to.ip());
                let data = BytesMut::from(&datagram.data[..]);
                to.handle(self.now, datagram.from, local, None, data);
                busy = true;
            }
            while let Some(id) = self.server.poll_incoming() {
                self.server.accept_incoming(self.now, id, None).unwrap();
            }
            for endpoint in [&mut self.client, &mut self.server] {
                if endpoint.poll_timeout().is_some_and(|t| t <= self.now) {
                    endpoint.handle_timeout(self.now);
                    busy = true;
                }
            }
            busy |= self.take_events();
            busy |= self.flush();
            self.client.connections.assert_consistent();
            self.server.connections.assert_consistent();
            if !busy {
                return;
            }
        }
    }

    fn take_events(&mut self) -> bool {
        let mut any = false;
        while let Some((handle, event)) = self.client.poll_event() {
            self.client_events.push((handle, event));
            any = true;
        }
        while let Some((handle, event)) = self.server.poll_event() {
            if self.echo
                && let Event::Stream(StreamEvent::Readable { id }) = event
            {
                self.echo(handle, id);
            }
            self.server_events.push((handle, event));
            any = true;
        }
        any
    }

    /// Writes back what the server can read on `id`.
    fn echo(&mut self, handle: ConnectionHandle, id: StreamId) {
        let Some(conn) = self.server.connection_mut(handle) else {
            return;
        };
        loop {
            match conn.read_stream(id, usize::MAX, true) {
                Ok(Some(chunk)) => {
                    conn.write_stream(id, chunk.bytes).unwrap();
                }
                Ok(None) => {
                    conn.finish_stream(id).unwrap();
                    return;
                }
                Err(_) => return,
            }
        }
    }

    fn flush(&mut self) -> bool {
        let mut any = false;
        let mut buf = Vec::new();
        for (from, endpoint) in [(CLIENT, &mut self.client), (SERVER, &mut self.server)] {
            while let Some(transmit) = endpoint.poll_transmit(self.now, &mut buf) {
                assert_eq!(transmit.segment_size, None);
                any = true;
                if transmit.destination == NOWHERE {
                    continue;
                }
                self.in_flight.push_back(InFlight {
                    at: self.now + DELAY,
                    from,
                    to: transmit.destination,
                    data: buf[..transmit.size].to_vec(),
                });
            }
        }
        any
    }

    /// Settles, then moves the clock to the next arrival or deadline;
    /// whether there was one.
    pub(super) fn step(&mut self) -> bool {
        self.settle();
        let next = [
            self.in_flight.front().map(|d| d.at),
            self.client.poll_timeout(),
            self.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        self.settle();
        true
    }

    /// Steps until `done` holds; false if time ran past `limit` first.
    pub(super) fn run_until(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let end = self.now + limit;
        self.settle();
        while !done(self) {
            if !self.step() || self.now > end {
                return false;
            }
        }
        true
    }

    /// The client connection's `Closed` error, once it closed.
    pub(super) fn client_closed(&self, handle: ConnectionHandle) -> Option<&ConnectionError> {
        self.client_events
            .iter()
            .find_map(|(h, event)| match event {
                Event::Closed(error) if *h == handle => Some(error),
                _ => None,
            })
    }
}

/// Whether the client connection `handle` is connected.
fn connected(net: &Net, handle: ConnectionHandle) -> bool {
    net.client
        .connection(handle)
        .is_some_and(Connection::is_handshake_confirmed)
}

#[test]
fn the_indexes_follow_connections_through_their_lives() {
    let mut net = Net::new(1);
    net.echo = true;
    let first = net.connect(SERVER);
    let second = net.connect(SERVER);
    let lost = net.connect(NOWHERE);
    assert!(
        net.run_until(Duration::from_secs(5), |net| connected(net, first)
            && connected(net, second))
    );
    let id = {
        let conn = net.client.connection_mut(first).unwrap();
        let id = conn.open_stream(Dir::Bi).unwrap();
        conn.write_stream(id, Bytes::from(vec![7; 50_000])).unwrap();
        conn.finish_stream(id).unwrap();
        id
    };
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.client_events.iter().any(|(h, event)| {
            *h == first
                && matches!(event, Event::Stream(StreamEvent::Readable { id: r }) if *r == id)
        })
    }));
    net.client
        .connection_mut(second)
        .unwrap()
        .close(net.now, VarInt::from_u32(0), Bytes::new());
    // The lost one times out; the closed one drains; both are retired.
    assert!(net.run_until(Duration::from_secs(120), |net| {
        net.client.connection(lost).is_none() && net.client.connection(second).is_none()
    }));
    assert!(matches!(
        net.client_closed(lost),
        Some(ConnectionError::TimedOut(_))
    ));
    assert_eq!(net.client.connection_count(), 1);
    assert_eq!(net.server.connection_count(), 1);
    let retired: Vec<_> = std::iter::from_fn(|| net.client.poll_drained())
        .map(|record| record.handle)
        .collect();
    assert_eq!(retired.len(), 2);
    assert!(retired.contains(&lost) && retired.contains(&second));
}
