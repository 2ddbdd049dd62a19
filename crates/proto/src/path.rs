//! Path-level state machines that decide, and leave the acting to the
//! connection.
//!
//! - [`ecn`]: ECN validation of a path (RFC 9000 §13.4) and the ECN counts
//!   our ACK frames report;
//! - [`mtud`]: datagram packetization-layer path MTU discovery (RFC 8899 as
//!   RFC 9000 §14.3 applies it).
//!
//! Neither builds packets nor reads the clock. The connection asks them what
//! to do (which codepoint to mark, which probe size to send, when to wake
//! up), does it, and reports back what the network did (packets sent, acked
//! and lost, ECN counts received).

pub mod ecn;
pub mod mtud;
