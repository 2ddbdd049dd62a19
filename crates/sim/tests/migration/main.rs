//! Migration (RFC 9000 §9) and path validation (§8.2) between real
//! endpoints on the simulated network: NAT rebindings during transfers,
//! what a move keeps and what it starts again, and off-path attackers
//! that copy a client's packets from another address.

mod nat;
mod preferred;
mod probe;
mod rebind;
mod spoofing;
