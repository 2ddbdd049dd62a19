//! The final record of a connection that finished, kept after the
//! connection itself (its TLS session and buffers) is dropped.

use std::sync::Arc;

use super::{ConnectionHandle, Endpoint};
use crate::{
    HandshakeInfo,
    connection::{ConnectionError, ConnectionStats},
};

/// What remains of a connection once it drained: the values its owner may
/// want to keep (for logs or metrics) after the connection is gone. Taken
/// with [`Endpoint::poll_drained`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DrainedConnection {
    /// The connection's handle, no longer valid.
    pub handle: ConnectionHandle,
    /// Its counters at the end.
    pub stats: ConnectionStats,
    /// Its handshake information, if the handshake completed.
    pub handshake_info: Option<Arc<HandshakeInfo>>,
    /// Why it closed, as its `Closed` event said; `None` if it never
    /// reported one.
    pub error: Option<ConnectionError>,
    /// The peer's address on the path it used last: after a migration
    /// (RFC 9000 §9), not the one the handshake information recorded.
    pub remote_address: std::net::SocketAddr,
}

impl Endpoint {
    /// The final record of the next connection that finished: drained,
    /// and its events all taken by [`poll_event`](Self::poll_event) (call
    /// this once that returned `None`). The connection was dropped then,
    /// and its handle is no longer valid. Records wait until taken, one
    /// per finished connection.
    pub fn poll_drained(&mut self) -> Option<DrainedConnection> {
        self.drained.pop_front()
    }

    /// Drops a drained connection, keeping its final record: its routes
    /// and index entries go, O(log n) for its timer and O(1) amortized for
    /// the rest.
    pub(super) fn retire(&mut self, handle: ConnectionHandle) {
        let Some(conn) = self.connections.remove(handle) else {
            return;
        };
        self.undecryptable_bytes = self
            .undecryptable_bytes
            .saturating_sub(conn.undecryptable_bytes());
        self.drained.push_back(DrainedConnection {
            handle,
            stats: conn.stats(),
            handshake_info: conn.handshake_info().cloned(),
            error: conn.close_reason().cloned(),
            remote_address: conn.remote_address(),
        });
    }
}
