//! The cost of building one full 1-RTT packet: one `Endpoint::poll_transmit`
//! of a client in a steady-state bulk upload.
//!
//! Two protocol endpoints exchange datagrams in memory, with no simulator
//! between them, as `crates/sim/tests/send_allocations.rs` does: every
//! datagram is delivered at once, and the virtual clock jumps to the next
//! deadline when neither side has anything to send. The client keeps one
//! unidirectional stream full and the server reads everything. Once the
//! transfer is past the handshake and slow start, only the client's
//! `poll_transmit` calls that return a packet of at least 1,200 bytes are
//! timed; the calls that return nothing, the server's work and the ACKs the
//! client handles run between them, untimed.
//!
//! Only the public API is used (a bench is a crate of its own), so the
//! figure includes `Endpoint`'s choice of connection and the copy-free
//! write into the caller's buffer, as a driver sees them.
#![expect(
    missing_docs,
    reason = "criterion_group! makes a public function without documentation"
)]

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use criterion::{
    Criterion, criterion_group, criterion_main,
    measurement::{Measurement, WallTime},
};
use rustls::{
    RootCertStore,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};
use tern_proto::{
    Dir, StreamId,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    crypto::default_provider,
    endpoint::{ConnectionHandle, Endpoint},
};

const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 4433);
const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 443);
/// A datagram at least this large is a full packet.
const FULL: usize = 1200;
/// Packets the client sends before timing starts: past the handshake, slow
/// start and the growth of the buffers.
const WARM_UP_PACKETS: u64 = 5_000;
/// Exchanges allowed to reach steady state before the bench gives up.
const MAX_WARM_UP_STEPS: u32 = 100_000;

#[expect(
    clippy::disallowed_methods,
    reason = "a base instant for the virtual clock of the two endpoints"
)]
fn epoch() -> Instant {
    Instant::now()
}

/// A client and a server TLS configuration for `localhost` on Tern's
/// default provider: a fresh self-signed certificate that the client trusts.
fn tls_configs() -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
    let provider = Arc::new(default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()])
        .expect("rcgen makes a self-signed certificate for localhost");
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the provider supports TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("rustls accepts the rcgen certificate and key");
    server.alpn_protocols = vec![b"bench".to_vec()];
    server.max_early_data_size = 0;
    let mut roots = RootCertStore::empty();
    roots
        .add(cert)
        .expect("the rcgen certificate parses as a trust anchor");
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the provider supports TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"bench".to_vec()];
    (Arc::new(client), Arc::new(server))
}

/// Two endpoints in one bulk transfer, client to server.
struct Transfer {
    client: Endpoint,
    server: Endpoint,
    now: Instant,
    buf: Vec<u8>,
    conn: ConnectionHandle,
    server_conn: Option<ConnectionHandle>,
    stream: Option<StreamId>,
    chunk: Bytes,
    /// Full packets still to be timed in this measurement.
    to_time: u64,
    /// Time spent in the timed calls.
    timed: Duration,
    /// Full packets timed, and their bytes, over the whole run.
    packets: u64,
    bytes: u64,
}

impl Transfer {
    fn new() -> Self {
        let (client_tls, server_tls) = tls_configs();
        let client_config = ClientConfig::new(client_tls).expect("client config");
        let server_config = Arc::new(ServerConfig::new(server_tls).expect("server config"));
        let config = Arc::new(EndpointConfig::default());
        let now = epoch();
        let mut client = Endpoint::new(Arc::clone(&config), None, Some(CLIENT), 1);
        let server = Endpoint::new(config, Some(server_config), Some(SERVER), 2);
        let conn = client
            .connect(now, &client_config, SERVER, "localhost")
            .expect("connect");
        Self {
            client,
            server,
            now,
            buf: Vec::with_capacity(2048),
            conn,
            server_conn: None,
            stream: None,
            chunk: Bytes::from_static(&[7; 64 * 1024]),
            to_time: 0,
            timed: Duration::ZERO,
            packets: 0,
            bytes: 0,
        }
    }

    /// Runs until the client has sent enough packets to be in steady state.
    fn warm_up(&mut self) {
        for _ in 0..MAX_WARM_UP_STEPS {
            self.step();
            let sent = self
                .client
                .connection(self.conn)
                .map_or(0, |conn| conn.stats().packets_sent);
            if self.stream.is_some() && sent > WARM_UP_PACKETS {
                return;
            }
        }
        panic!("the transfer did not reach {WARM_UP_PACKETS} packets");
    }

    /// The time `iters` full packets took to build.
    fn measure(&mut self, iters: u64) -> Duration {
        self.to_time = iters;
        self.timed = Duration::ZERO;
        while self.to_time > 0 {
            self.step();
        }
        self.timed
    }

    /// One exchange: the client's datagrams to the server, the server's
    /// answers back; with nothing sent, the clock moves to the next
    /// deadline. Then the client's stream is topped up and the server reads.
    fn step(&mut self) {
        let mut sent = false;
        while let Some(size) = self.client_transmit() {
            let data = BytesMut::from(&self.buf[..size]);
            self.server
                .handle(self.now, CLIENT, Some(SERVER.ip()), None, data);
            sent = true;
        }
        while let Some(id) = self.server.poll_incoming() {
            let handle = self
                .server
                .accept_incoming(self.now, id, None)
                .expect("the server accepts the client");
            self.server_conn = Some(handle);
        }
        self.buf.clear();
        while let Some(transmit) = self.server.poll_transmit(self.now, 1, &mut self.buf) {
            let data = BytesMut::from(&self.buf[..transmit.size]);
            self.buf.clear();
            self.client
                .handle(self.now, SERVER, Some(CLIENT.ip()), transmit.ecn, data);
            sent = true;
        }
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
        if !sent {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.now + Duration::from_millis(1));
            self.now = next.max(self.now + Duration::from_micros(100));
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        self.pump();
    }

    /// The client's next datagram, written into `buf`; its size. Timed
    /// when it is a full packet and packets are still to be timed.
    fn client_transmit(&mut self) -> Option<usize> {
        let start = WallTime.start();
        self.buf.clear();
        let transmit = self.client.poll_transmit(self.now, 1, &mut self.buf);
        let elapsed = WallTime.end(start);
        let size = transmit?.size;
        if self.to_time > 0 && size >= FULL {
            self.to_time -= 1;
            self.timed += elapsed;
            self.packets += 1;
            self.bytes += u64::try_from(size).expect("a datagram size fits in u64");
        }
        Some(size)
    }

    /// Opens the stream once the handshake is done, keeps it full, and has
    /// the server read everything that arrived.
    fn pump(&mut self) {
        if let Some(conn) = self.client.connection_mut(self.conn) {
            if self.stream.is_none() && !conn.is_handshaking() {
                self.stream = conn.open_stream(Dir::Uni);
            }
            if let Some(stream) = self.stream {
                while conn
                    .write_stream(stream, self.chunk.clone())
                    .is_ok_and(|n| n > 0)
                {}
            }
        }
        let (Some(handle), Some(stream)) = (self.server_conn, self.stream) else {
            return;
        };
        if let Some(conn) = self.server.connection_mut(handle) {
            while conn.accept_stream(Dir::Uni).is_some() {}
            while let Ok(Some(_)) = conn.read_stream(stream, usize::MAX, true) {}
        }
    }
}

fn poll_transmit(c: &mut Criterion) {
    let mut transfer = Transfer::new();
    transfer.warm_up();
    c.bench_function("poll_transmit/full_1rtt_packet", |b| {
        b.iter_custom(|iters| transfer.measure(iters));
    });
    if let Some(mean) = transfer.bytes.checked_div(transfer.packets) {
        eprintln!(
            "poll_transmit: {} full packets timed, {mean} bytes each on average",
            transfer.packets
        );
    }
}

criterion_group!(benches, poll_transmit);
criterion_main!(benches);
