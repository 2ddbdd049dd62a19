//! The `tern` command.
//!
//! - `tern demo [--bytes N] [--json]`: a server and a client on loopback,
//!   a transfer, and both sides' handshake information — the server's read
//!   after it freed its TLS state.
#![forbid(unsafe_code)]

mod demo;

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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tern: {error}");
            ExitCode::FAILURE
        }
    }
}
