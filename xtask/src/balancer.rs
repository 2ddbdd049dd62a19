//! A CID-routing UDP load balancer on loopback, for testing QUIC-LB.
#![allow(dead_code, reason = "work in progress")]

mod decode;
mod route;
mod relay;
