//! CPU per QUIC TLS handshake, client and server apart, for each key
//! exchange group of the default provider: what the post-quantum hybrid
//! X25519MLKEM768 costs over X25519.
//!
//! ```sh
//! cargo run --release -p tern-proto --example handshake_cost -- 2000
//! ```
//!
//! Each handshake runs two `TlsSession`s in memory (no packets, no network),
//! with a fresh ECDSA P-256 certificate per run and session tickets off, so
//! every handshake is a full one. The time of each call into a side is
//! added to that side; one thread does all the work, so that time is CPU
//! time. The run alternates the groups in rounds so that a change in the
//! machine's load falls on both, and prints the median of the rounds.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rustls::{
    crypto::{CryptoProvider, SupportedKxGroup},
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};
use tern_proto::{
    SpaceId, TransportParameters, Version,
    crypto::{KeyChange, TlsSession, default_provider},
};

/// Rounds per group; each round runs `iterations / ROUNDS` handshakes.
const ROUNDS: usize = 10;

#[expect(
    clippy::disallowed_methods,
    reason = "a measurement of real CPU time, outside the protocol code"
)]
fn now() -> Instant {
    Instant::now()
}

struct Side {
    tls: TlsSession,
    space: SpaceId,
    busy: Duration,
}

impl Side {
    /// Runs `f` on this side's session and charges its time to the side.
    fn timed<T>(&mut self, f: impl FnOnce(&mut TlsSession) -> T) -> T {
        let start = now();
        let out = f(&mut self.tls);
        self.busy += start.elapsed();
        out
    }
}

/// Moves what `from` writes to `to`; whether anything moved.
fn pump(from: &mut Side, to: &mut Side) -> bool {
    let mut moved = false;
    loop {
        let mut buf = Vec::new();
        let change = from.timed(|tls| tls.write_handshake(&mut buf));
        if !buf.is_empty() {
            let space = from.space;
            to.timed(|tls| tls.read_handshake(space, &buf))
                .expect("the handshake succeeds");
            moved = true;
        }
        match change {
            Some(KeyChange::Handshake(_)) => from.space = SpaceId::Handshake,
            Some(KeyChange::OneRtt { .. }) => from.space = SpaceId::Data,
            None if buf.is_empty() => return moved,
            None => {}
        }
    }
}

struct Configs {
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
}

fn configs(group: &'static dyn SupportedKxGroup) -> Configs {
    let provider = Arc::new(CryptoProvider {
        kx_groups: vec![group],
        ..default_provider()
    });
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let der: CertificateDer<'static> = cert.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .expect("server config");
    server.alpn_protocols = vec![b"bench".to_vec()];
    server.send_tls13_tickets = 0;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).expect("root");
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"bench".to_vec()];
    client.resumption = rustls::client::Resumption::disabled();
    Configs {
        client: Arc::new(client),
        server: Arc::new(server),
    }
}

/// One full handshake; the CPU time of the client and of the server.
fn handshake(configs: &Configs) -> (Duration, Duration, &'static str) {
    let params = TransportParameters::default();
    let mut client = Side {
        space: SpaceId::Initial,
        busy: Duration::ZERO,
        tls: TlsSession::client(configs.client.clone(), Version::V1, "localhost", &params)
            .expect("client"),
    };
    let mut server = Side {
        space: SpaceId::Initial,
        busy: Duration::ZERO,
        tls: TlsSession::server(configs.server.clone(), Version::V1, &params).expect("server"),
    };
    while pump(&mut client, &mut server) | pump(&mut server, &mut client) {}
    assert!(!client.tls.is_handshaking() && !server.tls.is_handshaking());
    let group = client.tls.details().key_exchange_group.unwrap_or("?");
    (client.busy, server.busy, group)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(1000);
    let per_round = (iterations / ROUNDS).max(1);
    let groups = default_provider().kx_groups;
    let all: Vec<(Configs, &'static dyn SupportedKxGroup)> = groups
        .iter()
        .map(|group| (configs(*group), *group))
        .collect();
    // Warm up caches and lazy initialisation.
    for (configs, _) in &all {
        for _ in 0..20 {
            handshake(configs);
        }
    }
    let mut client_rounds = vec![Vec::new(); all.len()];
    let mut server_rounds = vec![Vec::new(); all.len()];
    let mut names = vec![""; all.len()];
    for _ in 0..ROUNDS {
        for (index, (configs, _)) in all.iter().enumerate() {
            let (mut client, mut server) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..per_round {
                let (c, s, name) = handshake(configs);
                client += c;
                server += s;
                names[index] = name;
            }
            let n = u32::try_from(per_round).expect("rounds fit u32");
            client_rounds[index].push(client / n);
            server_rounds[index].push(server / n);
        }
    }
    println!(
        "crypto backend {}, {} handshakes per group, median of {ROUNDS} rounds",
        tern_proto::crypto::provider::BACKEND,
        per_round * ROUNDS
    );
    println!("{:<16} {:>12} {:>12}", "group", "client µs", "server µs");
    for index in 0..all.len() {
        let client = median(client_rounds[index].clone());
        let server = median(server_rounds[index].clone());
        println!(
            "{:<16} {:>12.1} {:>12.1}",
            names[index],
            client.as_secs_f64() * 1e6,
            server.as_secs_f64() * 1e6
        );
    }
}
