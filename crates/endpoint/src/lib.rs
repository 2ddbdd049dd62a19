//! # tern-endpoint: the event loop
//!
//! This crate will put [`tern_proto`]'s sans-IO state machines on the
//! network: a small `Runtime` trait (spawn, timer, UDP socket) with a tokio
//! implementation by default and an async-io one behind a feature, UDP
//! through quinn-udp (GSO, GRO, ECN, packet info) on sockets sized with
//! socket2, and one event loop task per endpoint that feeds received
//! datagrams to `tern_proto`, drains its transmits and keeps one timer for
//! its earliest deadline.
//!
//! It is empty until the issue "Async endpoint and API over real UDP" lands.
//! The layer it drives already exists:
//!
//! ```
//! let v1 = tern_proto::QUIC_V1;
//! assert_eq!(v1, 1);
//! ```
#![forbid(unsafe_code)]

pub use tern_proto;
