//! # tern: async QUIC for Rust services
//!
//! This is the crate applications add. It will expose `Endpoint`,
//! `Connection`, `SendStream` and `RecvStream` as async handles over
//! `tern-endpoint`'s event loop, with `Connection::handshake_info().await`
//! answering on both client and server for the whole life of a connection.
//!
//! It is empty until the issue "Async endpoint and API over real UDP"
//! lands; the protocol layer is re-exported so that its types are reachable:
//!
//! ```
//! use tern::proto::Side;
//! assert!(Side::Server.is_server());
//! ```
#![forbid(unsafe_code)]

pub use tern_proto as proto;
