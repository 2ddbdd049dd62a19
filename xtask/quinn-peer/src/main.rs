//! quinn-peer: an interop endpoint built on quinn, used by `cargo xtask interop`
//! to cross-check Tern against a second, independent QUIC implementation.
//!
//! It follows the same endpoint contract as Tern's own interop endpoint and is
//! configured only through environment variables:
//!
//! - `ROLE`: `server` or `client`.
//! - `TESTCASE`: `handshake`, `transfer`, `multiconnect`, `chacha20`, `ecn`,
//!   `retry` (the server answers every first Initial with a Retry; quinn's
//!   client follows one by itself), `resumption` (the client fetches the
//!   first URL over a first connection and the others over a second one,
//!   which resumes the first's TLS session with a ticket), `zerortt` (as
//!   `resumption`, the second connection sending its requests in 0-RTT;
//!   the server accepts 0-RTT) or `connectionmigration` (the server
//!   offers `PREFERRED_ADDRESS` as its preferred address; a client runs a
//!   transfer, as quinn's client does not move to a preferred address) or
//!   `keyupdate` (the client updates the 1-RTT keys with quinn's
//!   `force_key_update` once the first response bytes arrive; the server
//!   follows by itself); anything else exits with code 127, `v2` among
//!   them: quinn 0.11 has no QUIC v2 (RFC 9369) and no version_information
//!   (RFC 9368).
//! - `SSLKEYLOGFILE`: if set, the TLS secrets are logged there (NSS key log format).
//! - `QLOGDIR`: if set, one qlog file per connection is written there.
//! - Server: `WWW` (directory served), `CERTS` (directory with `cert.pem` and
//!   `priv.key`), `PORT`; for `connectionmigration`, `PREFERRED_ADDRESS`, the
//!   address to offer (the harness's proxy listens there and forwards to
//!   `PORT`, so the server does not bind it; without it the case exits 127).
//! - Client: `REQUESTS` (space-separated `https://` URLs), `DOWNLOADS`
//!   (directory the bodies are written to).
//! - `RUST_LOG`: tracing filter for logs on stderr (e.g. `debug`); default `warn`.
//!
//! The application protocol is HTTP/0.9 over QUIC v1 with ALPN `hq-interop`.
#![forbid(unsafe_code)]

mod client;
mod server;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The ALPN token of HTTP/0.9 over QUIC used by the interop runner.
pub(crate) const ALPN: &[u8] = b"hq-interop";

/// How long a connection may stay silent before it is given up.
///
/// Long enough for the runner's long-RTT and lossy scenarios, short enough
/// that a dead peer cannot hang a test forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The server's limit on concurrently open bidirectional streams; the
/// runner's multiplexing check wants `initial_max_streams_bidi` ≤ 1000.
const MAX_CONCURRENT_BIDI: u32 = 100;

/// What the test case asks of the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TestCase {
    /// One connection, TLS handshake plus the requests.
    Handshake,
    /// One connection, all requests multiplexed.
    Transfer,
    /// One connection per request, one after the other.
    Multiconnect,
    /// Like `Transfer`, but only `TLS_CHACHA20_POLY1305_SHA256` is offered.
    ChaCha20,
    /// Like `Transfer`; quinn marks packets ECT(0) by default.
    Ecn,
    /// Like `Handshake`, but the server sends a Retry to every client that
    /// did not bring a Retry token.
    Retry,
    /// Like `Transfer`, but the server offers a preferred address.
    ConnectionMigration,
    /// The first request over one connection, the others over a second
    /// that resumes the first's TLS session.
    Resumption,
    /// Like `Resumption`, the second connection's requests sent in 0-RTT.
    ZeroRtt,
    /// Like `Transfer`, the client updating the keys early in the transfer.
    KeyUpdate,
}

impl TestCase {
    /// Parses a `TESTCASE` value; `None` for the cases this peer does not do.
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "handshake" => Self::Handshake,
            "transfer" => Self::Transfer,
            "multiconnect" => Self::Multiconnect,
            "chacha20" => Self::ChaCha20,
            "ecn" => Self::Ecn,
            "retry" => Self::Retry,
            "connectionmigration" => Self::ConnectionMigration,
            "resumption" => Self::Resumption,
            "zerortt" => Self::ZeroRtt,
            "keyupdate" => Self::KeyUpdate,
            _ => return None,
        })
    }
}

/// Reads a required environment variable, or says which one is missing.
pub(crate) fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

/// Reads an optional, non-empty environment variable.
pub(crate) fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Transport settings shared by both roles; `qlog` is this connection's
/// qlog stream, if any. `mtu_discovery` off keeps to quinn's initial MTU.
pub(crate) fn transport_config(
    qlog: Option<quinn::QlogStream>,
    mtu_discovery: bool,
) -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    if !mtu_discovery {
        transport.mtu_discovery_config(None);
    }
    transport
        .max_concurrent_bidi_streams(MAX_CONCURRENT_BIDI.into())
        .max_concurrent_uni_streams(0u32.into())
        .max_idle_timeout(Some(
            IDLE_TIMEOUT
                .try_into()
                .expect("30 s is a valid idle timeout"),
        ))
        .qlog_stream(qlog);
    Arc::new(transport)
}

/// Opens `QLOGDIR/<name>.sqlog` as a qlog stream if `QLOGDIR` is set.
///
/// The file is line-buffered: each qlog record is one line, so the file is
/// complete up to the last event even when the server is killed.
pub(crate) fn qlog_stream(name: &str, title: &str) -> Option<quinn::QlogStream> {
    let dir = PathBuf::from(env_opt("QLOGDIR")?);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("qlog: cannot create {}: {e}", dir.display());
        return None;
    }
    let path = dir.join(format!("{name}.sqlog"));
    let file = match std::fs::File::create(&path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("qlog: cannot create {}: {e}", path.display());
            return None;
        }
    };
    let mut config = quinn::QlogConfig::default();
    config
        .writer(Box::new(std::io::LineWriter::new(file)))
        .title(Some(title.to_owned()));
    config.into_stream()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    let name = env_opt("TESTCASE").unwrap_or_default();
    let Some(testcase) = TestCase::parse(&name) else {
        if name == "v2" {
            // quinn-proto 0.11 supports QUIC v1 and drafts 29 to 34 only,
            // and neither sends nor reads version_information (RFC 9368).
            eprintln!("quinn-peer: unsupported test case \"v2\": quinn has no QUIC v2");
            return ExitCode::from(127);
        }
        eprintln!("quinn-peer: unsupported test case {name:?}");
        return ExitCode::from(127);
    };
    let role = env_opt("ROLE").unwrap_or_default();
    if testcase == TestCase::ConnectionMigration
        && role == "server"
        && env_opt("PREFERRED_ADDRESS").is_none()
    {
        eprintln!("quinn-peer: connectionmigration needs PREFERRED_ADDRESS, the address to offer");
        return ExitCode::from(127);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("quinn-peer: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match role.as_str() {
            "server" => server::run(testcase).await,
            "client" => client::run(testcase).await,
            other => Err(format!("ROLE must be server or client, not {other:?}")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quinn-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
