//! The `tern` command.
//!
//! - `tern demo [--bytes N] [--json] [--quic-version v1|v2]`: a server and a client on loopback,
//!   a transfer, and both sides' handshake information — the server's read
//!   after it freed its TLS state.
//! - `tern serve --root DIR [--listen ADDR] [--cert PEM --key PEM]
//!   [--retry always|under-load|never]`: files over HTTP/0.9 on QUIC (ALPN
//!   `hq-interop`), with new clients sent a Retry to prove their address
//!   first as `--retry` says; GETs that come in 0-RTT are answered, other
//!   requests in 0-RTT refused.
//! - `tern get URL... --output DIR [--insecure | --ca PEM] [--0rtt]
//!   [--quic-version v1|v2]`: fetch
//!   them, following a server's Retry; with `--0rtt` the later requests to
//!   a server go in 0-RTT on a second connection that resumes the first.
//!
//! See `docs/cli.md`.
#![forbid(unsafe_code)]

mod certs;
mod demo;
mod get;
mod serve;
mod version;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tern, an async QUIC stack.
#[derive(Parser)]
#[command(name = "tern", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server and a client on loopback, move data, show both sides'
    /// handshake information.
    Demo(demo::Args),
    /// Serve the files under a directory over HTTP/0.9 on QUIC (ALPN
    /// hq-interop), until Ctrl-C or --max-connections.
    Serve(serve::Args),
    /// Fetch files from HTTP/0.9-over-QUIC servers (ALPN hq-interop); exits
    /// 1 if any download fails.
    Get(get::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tern: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Demo(args) => runtime.block_on(demo::run(args)),
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Get(args) => runtime.block_on(get::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tern: {error}");
            ExitCode::FAILURE
        }
    }
}
