//! The quic-interop-runner endpoint for Tern.
//!
//! It follows the runner's contract: `ROLE` (`server` or `client`),
//! `TESTCASE`, `REQUESTS` (space-separated URLs, client), `SSLKEYLOGFILE`
//! (TLS secrets in the NSS key log format, when set), `QLOGDIR` (a qlog
//! trace per connection, JSON-SEQ, when set). The server serves
//! `/www` on port 443 with `/certs/cert.pem` and `/certs/priv.key`; the
//! client writes to `/downloads`. For local runs the environment variables
//! `WWW`, `CERTS`, `DOWNLOADS` and `PORT` override those paths and the
//! port. HTTP/0.9 over ALPN `hq-interop`. Under `multiconnect` the client
//! opens one connection per request, one after the other; under
//! `resumption` it fetches the first URL over a first connection and the
//! others over a second one that resumes the first's TLS session; under
//! `zerortt` that second connection sends its requests in 0-RTT packets;
//! otherwise every request shares one connection. Under `keyupdate` the
//! client starts a 1-RTT key update as soon as the handshake is confirmed,
//! early in the transfer, and fails if none started; the server needs
//! nothing special, as Tern follows a peer's key update. Under `v2` both
//! endpoints support QUIC v2 and v1, v2 preferred: the client starts on v1
//! and offers v2 in its version_information (RFC 9368 §3), a server moves
//! the connection to v2 by compatible version negotiation (RFC 9368 §2.2),
//! and the client fails unless the connection ended on v2. The server issues
//! session tickets and accepts 0-RTT in every case, as Tern's ready-made
//! server configuration does. Under `retry` the server sends a Retry to
//! every client that did not bring a Retry token (`RetryPolicy::Always`);
//! the client follows a Retry in every case. The runner tells both
//! endpoints `transfer` for `rebind-port` and `rebind-addr`, whose network
//! rebinds the client; those names are accepted too, as a transfer. For
//! `connectionmigration` the runner tells the server `connectionmigration`
//! (it must offer a preferred address) and the client `transfer`: the
//! server offers the address `PREFERRED_ADDRESS` names (which `cargo xtask
//! interop` sets, leading to the server's port) and answers 127 without
//! it, as it listens on one socket and cannot choose one of its own; a
//! client told `connectionmigration` runs a transfer, as a Tern client
//! follows a preferred address by default. Exit 0 on success, 1 on failure,
//! 127 for a test case not supported yet. `RUST_LOG` turns on logging to
//! stderr.
//!
//! `crates/interop/Dockerfile` and `run_endpoint.sh` package it for the
//! runner; `cargo xtask interop` runs the same cases on loopback.
#![forbid(unsafe_code)]

mod client;
mod server;

use std::{path::PathBuf, process::ExitCode};

use tern::proto::packet::Version;

/// The test cases this endpoint takes part in, by the name the runner gives
/// the endpoint (`multiconnect` for handshakeloss and handshakecorruption,
/// `transfer` for most network cases). The runner's own case names are
/// accepted too, for runs by hand.
const SUPPORTED: &[&str] = &[
    "handshake",
    "transfer",
    "multiconnect",
    "multiplexing",
    "chacha20",
    "ecn",
    "longrtt",
    "blackhole",
    "handshakeloss",
    "transferloss",
    "handshakecorruption",
    "transfercorruption",
    "ipv6",
    "amplificationlimit",
    "goodput",
    "crosstraffic",
    "retry",
    "rebind-port",
    "rebind-addr",
    "resumption",
    "zerortt",
    "keyupdate",
    "v2",
];

/// Whether this endpoint does `case` in `role`: a `connectionmigration`
/// server needs `PREFERRED_ADDRESS` to offer, as it cannot choose one of
/// its own (it listens on one socket).
fn supported(case: &str, role: &str) -> bool {
    SUPPORTED.contains(&case)
        || (case == "connectionmigration"
            && (role == "client" || std::env::var_os("PREFERRED_ADDRESS").is_some()))
}

/// Cases whose client opens one connection per request.
const ONE_CONNECTION_PER_REQUEST: &[&str] =
    &["multiconnect", "handshakeloss", "handshakecorruption"];

/// How the client spreads its requests over connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Connections {
    /// Every request over one connection (most cases).
    One,
    /// One connection per request, one after the other (`multiconnect`).
    PerRequest,
    /// The first request over a first connection, which is closed; the
    /// others over a second connection that resumes the first's TLS
    /// session with a ticket it received (`resumption`).
    Resumed,
    /// As [`Resumed`](Self::Resumed), the second connection sending its
    /// requests in 0-RTT packets, before its handshake completes
    /// (`zerortt`).
    ZeroRtt,
}

impl Connections {
    fn for_case(case: &str) -> Self {
        if ONE_CONNECTION_PER_REQUEST.contains(&case) {
            Self::PerRequest
        } else if case == "resumption" {
            Self::Resumed
        } else if case == "zerortt" {
            Self::ZeroRtt
        } else {
            Self::One
        }
    }
}

/// The ALPN of HTTP/0.9 over QUIC in the interop runner.
pub(crate) const ALPN: &[u8] = b"hq-interop";

/// The cases whose network stretches handshakes far beyond what a healthy
/// path needs, by the runner's names and by the name it gives the
/// endpoints for them (`multiconnect`).
const IMPAIRED_HANDSHAKES: [&str; 3] = ["multiconnect", "handshakeloss", "handshakecorruption"];

/// What the test case and the environment ask of either role.
pub(crate) struct Options {
    /// Offer and accept only ChaCha20-Poly1305 (`chacha20`).
    pub(crate) chacha: bool,
    /// How the client's requests use connections.
    pub(crate) connections: Connections,
    /// The server makes every new client prove its address with a Retry
    /// (`retry`).
    pub(crate) retry: bool,
    /// The client starts a 1-RTT key update early in the transfer
    /// (`keyupdate`).
    pub(crate) key_update: bool,
    /// Both endpoints support QUIC v2 and v1, v2 preferred; the client
    /// starts on v1 and must end on v2 (`v2`).
    pub(crate) quic_v2: bool,
    /// Write TLS secrets to `SSLKEYLOGFILE` when it is set.
    pub(crate) key_log: bool,
    /// The server's preferred address (RFC 9000 §9.6) for
    /// `connectionmigration`, from `PREFERRED_ADDRESS`.
    pub(crate) preferred_address: Option<std::net::SocketAddr>,
    /// The transport settings, with a qlog trace per connection in
    /// `QLOGDIR` when it is set.
    pub(crate) transport: std::sync::Arc<tern::TransportConfig>,
}

impl Options {
    fn from_env(case: &str) -> Result<Self, String> {
        let mut transport = tern::TransportConfig::default();
        if IMPAIRED_HANDSHAKES.contains(&case) {
            // At 30% loss each way (handshakeloss), or with corrupted
            // packets, about one handshake in 300 needs more than the 10 s
            // the default allows, through PTO backoff; such a network is
            // one where an operator raises the limit, as here. The idle
            // timeout still ends a handshake that makes no progress.
            transport.handshake_timeout = Some(std::time::Duration::from_secs(60));
        }
        if case == "zerortt" {
            // The runner bounds the client's 1-RTT payload in zerortt (half
            // of what the request names add up to: 5,000 bytes) and counts
            // the padding of path MTU probes in it: a 1,452-byte probe on
            // each of the two connections is more than half of that. The
            // case is about 0-RTT, not the path MTU.
            transport.mtu_discovery = false;
        }
        if let Some(dir) = tern::qlog::QlogDir::from_env("QLOGDIR")
            .map_err(|e| format!("cannot use QLOGDIR: {e}"))?
        {
            transport.qlog = Some(std::sync::Arc::new(dir));
        }
        Ok(Self {
            chacha: case == "chacha20",
            connections: Connections::for_case(case),
            retry: case == "retry",
            key_update: case == "keyupdate",
            quic_v2: case == "v2",
            key_log: std::env::var_os("SSLKEYLOGFILE").is_some(),
            preferred_address: preferred_address(case)?,
            transport: std::sync::Arc::new(transport),
        })
    }

    /// The endpoint settings of either role: under `v2`, QUIC v2 and v1 in
    /// that order of preference (RFC 9368 §5: a client offers them in its
    /// version_information, a server moves a v1 connection to the first of
    /// them its client offered); otherwise Tern's default, v1 only.
    pub(crate) fn endpoint_config(&self) -> tern::EndpointConfig {
        if self.quic_v2 {
            tern::EndpointConfig {
                supported_versions: vec![Version::V2, Version::V1],
                ..tern::EndpointConfig::default()
            }
        } else {
            tern::EndpointConfig::default()
        }
    }

    fn key_log_file() -> std::sync::Arc<dyn rustls::KeyLog> {
        std::sync::Arc::new(rustls::KeyLogFile::new())
    }

    /// The rustls provider: Tern's default, or for the `chacha20` case one
    /// that lists ChaCha20-Poly1305 first and AES-128-GCM after it (rustls
    /// requires AES-128-GCM for Initial packets, RFC 9001 §5.2).
    pub(crate) fn provider(&self) -> std::sync::Arc<rustls::crypto::CryptoProvider> {
        let provider = tern::tls::default_provider();
        std::sync::Arc::new(if self.chacha {
            tern::tls::with_cipher_suites(provider, &[CHACHA20])
        } else {
            provider
        })
    }

    /// The client configuration with the key log (when asked for), the
    /// transport settings, and for `chacha20` a handshake held to
    /// ChaCha20-Poly1305: a server that picks AES-128-GCM is refused.
    pub(crate) fn client_config(
        &self,
        config: tern::ClientConfig,
    ) -> Result<tern::ClientConfig, String> {
        let mut config = if self.key_log {
            config.key_log(Self::key_log_file())
        } else {
            config
        };
        if self.chacha {
            config = config
                .handshake_cipher_suites(&[CHACHA20.suite()])
                .map_err(|e| e.to_string())?;
        }
        if self.quic_v2 {
            // RFC 9368 §2: the runner's v2 client starts on v1 and leaves
            // the move to v2 to the server.
            config.version = Version::V1;
        }
        config.transport = self.transport.clone();
        Ok(config)
    }

    /// The server configuration with the key log (when asked for), the
    /// transport settings, for `chacha20` a handshake held to
    /// ChaCha20-Poly1305, and for `retry` a Retry for every new client.
    pub(crate) fn server_config(
        &self,
        config: tern::ServerConfig,
    ) -> Result<tern::ServerConfig, String> {
        let mut config = if self.key_log {
            config.key_log(Self::key_log_file())
        } else {
            config
        };
        if self.chacha {
            config = config
                .handshake_cipher_suites(&[CHACHA20.suite()])
                .map_err(|e| e.to_string())?;
        }
        if self.retry {
            // RFC 9000 §8.1.2: the runner's retry case wants a Retry before
            // every handshake; clients that come back with its token are
            // not sent another.
            config = config.retry_policy(tern::RetryPolicy::Always);
        }
        if let Some(addr) = self.preferred_address {
            // RFC 9000 §9.6: offered, not bound: it leads to our socket.
            let addresses = match addr {
                std::net::SocketAddr::V4(v4) => tern::PreferredAddresses {
                    ipv4: Some(v4),
                    ipv6: None,
                },
                std::net::SocketAddr::V6(v6) => tern::PreferredAddresses {
                    ipv4: None,
                    ipv6: Some(v6),
                },
            };
            config = config.preferred_addresses(addresses);
        }
        config.transport = self.transport.clone();
        Ok(config)
    }
}

/// `PREFERRED_ADDRESS`, which `cargo xtask interop` sets for
/// `connectionmigration`: an address that leads to the server's port,
/// offered as its preferred address.
fn preferred_address(case: &str) -> Result<Option<std::net::SocketAddr>, String> {
    if case != "connectionmigration" {
        return Ok(None);
    }
    std::env::var("PREFERRED_ADDRESS")
        .ok()
        .map(|addr| {
            addr.parse()
                .map_err(|e| format!("PREFERRED_ADDRESS `{addr}`: {e}"))
        })
        .transpose()
}

/// The one suite of the `chacha20` case.
const CHACHA20: rustls::SupportedCipherSuite =
    tern::tls::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256;

fn env_path(name: &str, default: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap_or_else(|_| default.to_owned()))
}

fn main() -> ExitCode {
    // RUST_LOG=tern_proto=trace (say) shows the protocol's decisions on
    // stderr, which the interop harness keeps in the run's log.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let role = std::env::var("ROLE").unwrap_or_default();
    let case = std::env::var("TESTCASE").unwrap_or_default();
    if !supported(&case, &role) {
        eprintln!("tern-interop: test case `{case}` is not supported yet");
        return ExitCode::from(127);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tern-interop: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = match Options::from_env(&case) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("tern-interop: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match role.as_str() {
        "server" => {
            let port = std::env::var("PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(443);
            runtime.block_on(server::run(
                env_path("WWW", "/www"),
                env_path("CERTS", "/certs"),
                port,
                &options,
            ))
        }
        "client" => {
            let requests = std::env::var("REQUESTS").unwrap_or_default();
            runtime.block_on(client::run(
                &requests,
                env_path("DOWNLOADS", "/downloads"),
                &options,
            ))
        }
        other => Err(format!("ROLE must be server or client, not `{other}`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tern-interop: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner counts path MTU probes in the zerortt client's 1-RTT
    /// payload, which it bounds: no probes there, and only there.
    #[test]
    fn only_zerortt_turns_path_mtu_discovery_off() {
        let mtu_discovery = |case: &str| {
            Options::from_env(case)
                .map(|options| options.transport.mtu_discovery)
                .unwrap_or_default()
        };
        assert!(!mtu_discovery("zerortt"));
        for case in ["transfer", "resumption", "handshake"] {
            assert!(mtu_discovery(case), "{case}");
        }
    }

    /// Under `v2` both roles prefer QUIC v2 and accept v1, and the client
    /// still starts on v1 (its `ClientConfig::version`); every other case
    /// keeps Tern's default, v1 only.
    #[test]
    fn only_v2_supports_quic_v2_and_prefers_it() {
        let versions = |case: &str| {
            Options::from_env(case)
                .map(|options| options.endpoint_config().supported_versions)
                .unwrap_or_default()
        };
        assert_eq!(versions("v2"), [Version::V2, Version::V1]);
        for case in ["transfer", "handshake", "keyupdate"] {
            assert_eq!(versions(case), [Version::V1], "{case}");
        }
        assert!(supported("v2", "client") && supported("v2", "server"));
    }

    #[test]
    fn the_resumption_cases_spread_requests_over_two_connections() {
        assert_eq!(Connections::for_case("resumption"), Connections::Resumed);
        assert_eq!(Connections::for_case("zerortt"), Connections::ZeroRtt);
        assert_eq!(
            Connections::for_case("handshakeloss"),
            Connections::PerRequest
        );
        assert_eq!(Connections::for_case("transfer"), Connections::One);
    }
}
