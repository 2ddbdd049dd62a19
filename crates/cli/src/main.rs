//! The `tern` command.
//!
//! `tern demo`, `tern serve`, `tern get` and `tern bench` arrive with the
//! async API (issue "Async endpoint and API over real UDP"). Until then the
//! command says so and exits with status 2.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    eprintln!(
        "tern: `{command}` is not available yet: the demo, serve and get commands arrive with \
         the async API; today Tern is its wire format, tested by `cargo test --workspace`"
    );
    ExitCode::from(2)
}
