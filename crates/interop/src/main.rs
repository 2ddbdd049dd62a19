//! The quic-interop-runner endpoint for Tern.
//!
//! It will follow the runner's contract (`ROLE`, `TESTCASE`, `REQUESTS`,
//! `SSLKEYLOGFILE`, `QLOGDIR`) once the async API exists. Until then every
//! test case is unsupported, which the runner's contract spells exit code 127.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let case = std::env::var("TESTCASE").unwrap_or_default();
    eprintln!("tern-interop: test case `{case}` is not supported yet");
    ExitCode::from(127)
}
