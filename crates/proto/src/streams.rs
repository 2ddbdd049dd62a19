//! Streams (RFC 9000 §2, §3).
//!
//! Stream state machines, flow control and the stream manager arrive later.
//! For now this module holds the piece they share with the crypto stream:
//!
//! - [`assembler`]: bounded, zero-copy reassembly of out-of-order data
//!   (CRYPTO frames now, STREAM frames later).

pub mod assembler;
