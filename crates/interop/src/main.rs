//! The quic-interop-runner endpoint for Tern.
//!
//! It follows the runner's contract: `ROLE` (`server` or `client`),
//! `TESTCASE`, `REQUESTS` (space-separated URLs, client), `SSLKEYLOGFILE`.
//! The server serves `/www` on port 443 with `/certs/cert.pem` and
//! `/certs/priv.key`; the client writes to `/downloads`. For local runs the
//! environment variables `WWW`, `CERTS`, `DOWNLOADS` and `PORT` override
//! those paths and the port. HTTP/0.9 over ALPN `hq-interop`. Exit 0 on
//! success, 1 on failure, 127 for a test case not supported yet.
#![forbid(unsafe_code)]

mod client;
mod server;

use std::{path::PathBuf, process::ExitCode};

/// The test cases this endpoint takes part in; the network cases only need
/// a working transfer from us.
const SUPPORTED: &[&str] = &[
    "handshake",
    "transfer",
    "multiplexing",
    "chacha20",
    "longrtt",
    "blackhole",
    "handshakeloss",
    "transferloss",
    "handshakecorruption",
    "transfercorruption",
    "ipv6",
    "amplificationlimit",
    "ecn",
    "goodput",
    "crosstraffic",
];

/// The ALPN of HTTP/0.9 over QUIC in the interop runner.
pub(crate) const ALPN: &[u8] = b"hq-interop";

fn env_path(name: &str, default: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap_or_else(|_| default.to_owned()))
}

fn main() -> ExitCode {
    let role = std::env::var("ROLE").unwrap_or_default();
    let case = std::env::var("TESTCASE").unwrap_or_default();
    if !SUPPORTED.contains(&case.as_str()) {
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
    let chacha = case == "chacha20";
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
                chacha,
            ))
        }
        "client" => {
            let requests = std::env::var("REQUESTS").unwrap_or_default();
            runtime.block_on(client::run(
                &requests,
                env_path("DOWNLOADS", "/downloads"),
                chacha,
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

/// The rustls provider: ring, restricted to ChaCha20-Poly1305 for the
/// `chacha20` case.
pub(crate) fn provider(chacha: bool) -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    if chacha {
        provider.cipher_suites =
            vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    }
    std::sync::Arc::new(provider)
}
