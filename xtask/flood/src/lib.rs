//! The handshake flood of `cargo xtask bench flood`: well-formed, valid
//! client Initials, each for a new connection, sent at a fixed rate from
//! many source addresses in 127.0.0.0/8, never answered.
//!
//! - [`ClientHello`] takes the first Initial of a real Tern client once,
//!   keeps its CRYPTO frames (the ClientHello), and seals them again under
//!   the Initial keys of a fresh Destination Connection ID for every
//!   datagram: the server sees a new client each time, and decrypting the
//!   packet is all it takes to believe it.
//! - [`Pacer`] spaces the datagrams at the rate asked for, within a fixed
//!   time and count.
//! - [`Flood`] binds one UDP socket per source address and sends; it never
//!   reads, and the sockets' tiny receive buffers make the kernel drop
//!   what the server sends back.
//!
//! It sends to loopback addresses only, at most
//! [`FloodConfig::MAX_RATE`] datagrams a second for at most
//! [`FloodConfig::MAX_DURATION`], and ends by itself.
#![forbid(unsafe_code)]

mod generator;
mod initial;
mod pacing;

pub use generator::{Flood, FloodConfig, FloodError, FloodReport, source_address};
pub use initial::{ClientHello, HelloError, INITIAL_DATAGRAM_SIZE};
pub use pacing::{Pacer, TICK};

/// The wall clock: the flood paces real datagrams on real time, so this
/// is the one place of the crate that reads it.
#[expect(
    clippy::disallowed_methods,
    reason = "a load generator paces real datagrams on real time"
)]
pub(crate) fn now() -> std::time::Instant {
    std::time::Instant::now()
}
