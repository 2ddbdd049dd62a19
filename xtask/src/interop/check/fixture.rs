//! The addresses the decoded checks' unit tests put their datagrams
//! between, and who sent a datagram.

use std::net::SocketAddr;

use crate::interop::tshark::Datagram;

pub(super) const SERVER: &str = "127.0.0.1:4433";
pub(super) const CLIENT: &str = "127.0.0.1:50000";

pub(super) fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

pub(super) fn from_server(d: &Datagram) -> bool {
    d.src == addr(SERVER)
}

pub(super) fn from_client(d: &Datagram) -> bool {
    d.src == addr(CLIENT)
}
