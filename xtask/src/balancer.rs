//! `cargo xtask balancer`: a CID-routing UDP load balancer on loopback,
//! for testing a fleet of Tern servers that issue QUIC-LB connection IDs
//! (draft-ietf-quic-load-balancers).
//!
//! - [`decode`]: the load balancer's side of QUIC-LB, from a connection ID
//!   to a server ID and a backend, written apart from the servers'
//!   generator so that the two check each other.
//! - [`route`]: the routing decision of one datagram, by CID with the
//!   draft's fallback for unroutable ones, or by the client's address.
//! - [`relay`]: the sockets: one front socket, one upstream socket per
//!   client address, replies relayed back.
//! - [`run`](mod@run) and [`client`]: the experiment. Several `tern serve`
//!   processes with QUIC-LB configurations behind the balancer, and an
//!   in-process client whose connections download files while its
//!   endpoint moves to a fresh port, as after a NAT rebinding.

mod client;
mod decode;
mod relay;
mod route;
mod run;

pub(crate) use run::{Args, run};
