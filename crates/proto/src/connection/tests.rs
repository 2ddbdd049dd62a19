//! A client and a server `Connection` driven by hand, with no endpoint
//! between them: the tests build packets the endpoint would never let
//! through (a Retry of their own, a tampered one), set up what the endpoint
//! would have decided (the server's Retry parameters, its tokens), and drop
//! chosen datagrams.

mod amplification;
mod migration;
mod new_token;
mod retry;

use std::{
    collections::VecDeque,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use rustls::{
    RootCertStore,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};

use super::{Connection, ConnectionInit};
use crate::{
    AddressValidation, ConnectionId, Side,
    config::{TokenStore, TransportConfig},
    crypto::TlsSession,
    packet::Version,
    transport_params::TransportParameters,
};

pub(super) const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50_000);
pub(super) const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4433);
/// One-way delay between the two.
const DELAY: Duration = Duration::from_millis(10);
/// The server name the client dials.
pub(super) const SERVER_NAME: &str = "localhost";

/// The fixed base instant every test measures from.
#[expect(clippy::disallowed_methods, reason = "tests need one base instant")]
pub(super) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A client TLS configuration and a server one it trusts, made once.
fn tls_configs() -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
    static CONFIGS: OnceLock<(Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>)> =
        OnceLock::new();
    CONFIGS
        .get_or_init(|| {
            let provider = Arc::new(crate::crypto::default_provider());
            let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.into()]).unwrap();
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
            (Arc::new(client), Arc::new(server))
        })
        .clone()
}

/// A connection ID of `len` bytes of `byte`.
pub(super) fn cid(byte: u8, len: usize) -> ConnectionId {
    ConnectionId::new(&vec![byte; len]).unwrap()
}

/// The client's own connection ID.
pub(super) fn client_cid() -> ConnectionId {
    cid(0xc1, 8)
}

/// The Destination Connection ID of the client's first Initial.
pub(super) fn first_dcid() -> ConnectionId {
    cid(0xd0, 16)
}

/// The server's own connection ID.
pub(super) fn server_cid() -> ConnectionId {
    cid(0x5e, 8)
}

/// Transport parameters as an endpoint fills them, naming `local_cid`.
fn params(local_cid: ConnectionId) -> TransportParameters {
    let mut params = TransportParameters {
        initial_source_connection_id: Some(local_cid),
        ..TransportParameters::default()
    };
    crate::streams::StreamsConfig::default().apply_to(&mut params);
    params
}

/// What the client starts with besides its defaults.
#[derive(Default)]
pub(super) struct ClientSetup {
    /// The token its Initials carry (from an earlier NEW_TOKEN frame).
    pub(super) token: Bytes,
    /// Where NEW_TOKEN tokens go.
    pub(super) token_store: Option<Arc<dyn TokenStore>>,
    /// Transport settings other than the defaults.
    pub(super) transport: Option<TransportConfig>,
}

/// A client connection to `SERVER`, its first Initial not yet polled.
pub(super) fn client(now: Instant, setup: ClientSetup) -> Connection {
    let (tls, _) = tls_configs();
    let params = params(client_cid());
    let session = TlsSession::client(tls, Version::V1, SERVER_NAME, &params).unwrap();
    let validation = if setup.token.is_empty() {
        AddressValidation::None
    } else {
        AddressValidation::Token
    };
    Connection::new(
        now,
        ConnectionInit {
            side: Side::Client,
            version: Version::V1,
            config: Arc::new(setup.transport.unwrap_or_default()),
            tls: session,
            retain_tls_state: true,
            local_cid: client_cid(),
            remote_cid: first_dcid(),
            original_dcid: first_dcid(),
            remote: SERVER,
            local: Some(CLIENT),
            local_ip: None,
            local_params: params,
            validation,
            new_tokens: Vec::new(),
            token: setup.token,
            token_store: setup
                .token_store
                .map(|store| (store, Arc::<str>::from(SERVER_NAME))),
            challenge_key: [1; 16],
            negotiation: None,
        },
    )
}

/// What the server's endpoint decided before the connection existed.
pub(super) struct ServerSetup {
    /// The Destination Connection ID of the client's Initials that the
    /// server answers, from which its Initial keys derive: the Retry's
    /// Source Connection ID after a Retry.
    pub(super) initial_dcid: ConnectionId,
    /// original_destination_connection_id, which the client checks.
    pub(super) original_dcid: ConnectionId,
    /// retry_source_connection_id, which the client checks.
    pub(super) retry_scid: Option<ConnectionId>,
    /// How the client's address was validated.
    pub(super) validation: AddressValidation,
    /// Tokens to send in NEW_TOKEN frames.
    pub(super) new_tokens: Vec<Bytes>,
}

impl Default for ServerSetup {
    fn default() -> Self {
        Self {
            initial_dcid: first_dcid(),
            original_dcid: first_dcid(),
            retry_scid: None,
            validation: AddressValidation::None,
            new_tokens: Vec::new(),
        }
    }
}

/// A server connection for the client, as `accept_incoming` makes one.
pub(super) fn server(now: Instant, setup: ServerSetup) -> Connection {
    let (_, tls) = tls_configs();
    let mut params = params(server_cid());
    params.original_destination_connection_id = Some(setup.original_dcid);
    params.retry_source_connection_id = setup.retry_scid;
    let session = TlsSession::server(tls, Version::V1, &params).unwrap();
    Connection::new(
        now,
        ConnectionInit {
            side: Side::Server,
            version: Version::V1,
            config: Arc::new(TransportConfig::default()),
            tls: session,
            retain_tls_state: false,
            local_cid: server_cid(),
            remote_cid: client_cid(),
            original_dcid: setup.initial_dcid,
            remote: CLIENT,
            local: Some(SERVER),
            local_ip: None,
            local_params: params,
            validation: setup.validation,
            new_tokens: setup.new_tokens,
            token: Bytes::new(),
            token_store: None,
            challenge_key: [2; 16],
            negotiation: None,
        },
    )
}

/// The next datagram `conn` sends at `now`, if any.
pub(super) fn transmit(conn: &mut Connection, now: Instant) -> Option<BytesMut> {
    let mut buf = Vec::new();
    conn.poll_transmit(now, 1, &mut buf)?;
    Some(BytesMut::from(&buf[..]))
}

/// Hands `data` to `conn` as a datagram from its peer.
pub(super) fn deliver(conn: &mut Connection, now: Instant, data: BytesMut) {
    let from = if conn.side().is_client() {
        SERVER
    } else {
        CLIENT
    };
    conn.handle_datagram(now, from, None, data);
}

/// Says whether a datagram sent by the side named at the instant given is
/// lost.
pub(super) type LossFilter = Box<dyn FnMut(Side, Instant, &[u8]) -> bool>;

/// A datagram on its way, to the side named.
struct InFlight {
    at: Instant,
    to: Side,
    data: BytesMut,
}

/// The two connections on a path with a fixed delay, on a virtual clock
/// that jumps to the next arrival or deadline.
pub(super) struct Pair {
    pub(super) client: Connection,
    pub(super) server: Connection,
    pub(super) now: Instant,
    in_flight: VecDeque<InFlight>,
    /// Which datagrams are lost.
    pub(super) lose: LossFilter,
}

impl Pair {
    pub(super) fn new(now: Instant, client: Connection, server: Connection) -> Self {
        Self {
            client,
            server,
            now,
            in_flight: VecDeque::new(),
            lose: Box::new(|_, _, _| false),
        }
    }

    /// Runs until `done` holds or `limit` of virtual time has passed;
    /// says whether `done` held.
    pub(super) fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> bool {
        let end = self.now + limit;
        // A bound on the steps, should a timer stay due after it fired.
        for _ in 0..100_000 {
            self.send_all();
            if done(self) {
                return true;
            }
            let next = [
                self.in_flight.front().map(|d| d.at),
                self.client.poll_timeout(),
                self.server.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|&next| next <= end) else {
                return false;
            };
            self.now = self.now.max(next);
            while self.in_flight.front().is_some_and(|d| d.at <= self.now) {
                let InFlight { to, data, .. } = self.in_flight.pop_front().unwrap();
                let conn = if to.is_client() {
                    &mut self.client
                } else {
                    &mut self.server
                };
                deliver(conn, self.now, data);
            }
            for conn in [&mut self.client, &mut self.server] {
                if conn.poll_timeout().is_some_and(|at| at <= self.now) {
                    conn.handle_timeout(self.now);
                }
            }
        }
        false
    }

    /// Both handshakes confirmed, within a few seconds.
    pub(super) fn confirm(&mut self) -> bool {
        self.run_until(Duration::from_secs(5), |pair| {
            pair.client.is_handshake_confirmed() && pair.server.is_handshake_confirmed()
        })
    }

    /// Sends what both sides have to send now.
    fn send_all(&mut self) {
        loop {
            let mut sent = false;
            for side in [Side::Client, Side::Server] {
                let conn = if side.is_client() {
                    &mut self.client
                } else {
                    &mut self.server
                };
                while let Some(data) = transmit(conn, self.now) {
                    sent = true;
                    if (self.lose)(side, self.now, &data) {
                        continue;
                    }
                    let to = if side.is_client() {
                        Side::Server
                    } else {
                        Side::Client
                    };
                    self.in_flight.push_back(InFlight {
                        at: self.now + DELAY,
                        to,
                        data,
                    });
                }
            }
            if !sent {
                break;
            }
        }
    }
}
