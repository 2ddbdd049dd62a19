//! # tern-sim: a deterministic network for testing tern-proto
//!
//! This crate will connect `tern-proto` endpoints over a virtual network
//! with delay, jitter, loss, reordering, duplication, corruption and
//! bandwidth limits, on a virtual clock that jumps to the next deadline, all
//! driven by one seed so that a failing run replays exactly. It is filled by
//! the issue "Handshake: packet protection, the connection state machine,
//! and a deterministic simulator".
//!
//! ```
//! // The protocol layer it will drive:
//! let cid = tern_proto::ConnectionId::new(&[1, 2, 3]).unwrap();
//! assert_eq!(cid.len(), 3);
//! ```
#![forbid(unsafe_code)]

pub use tern_proto;
