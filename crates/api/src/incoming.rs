//! [`Incoming`]: a client's connection attempt, before any TLS work, for
//! the application to accept, refuse or ignore.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use tern_endpoint::IncomingRef;
use tern_proto::{config::ServerConfig, endpoint::AcceptError};

use crate::{Connecting, Connection};

/// A client's first Initial, held by the endpoint until you decide. Only
/// the packet's protection was checked: no TLS work was done and no
/// connection state exists yet, so refusing costs almost nothing.
///
/// Dropping it without deciding refuses it. Retry (address validation
/// before accepting) is not implemented yet.
#[derive(Debug)]
pub struct Incoming {
    inner: IncomingRef,
}

impl Incoming {
    pub(crate) fn new(inner: IncomingRef) -> Self {
        Self { inner }
    }

    /// The client's address (as seen in the datagram's source).
    #[must_use]
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.inner.remote_address()
    }

    /// The local IP the client sent to; on a wildcard socket (`0.0.0.0`,
    /// `[::]`) this is the address replies go out from.
    #[must_use]
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.inner.local_ip()
    }

    /// Whether the client proved it owns its address. Without Retry it
    /// never has, so this is `false` today.
    #[must_use]
    pub fn remote_address_validated(&self) -> bool {
        self.inner.remote_address_validated()
    }

    /// Accepts the connection with the endpoint's server configuration: the
    /// handshake starts. Await the [`Connecting`] for the connection.
    ///
    /// # Errors
    /// [`AcceptError`] when the endpoint cannot take it (the connection
    /// limit, a TLS configuration that cannot start); the client is
    /// refused then.
    pub fn accept(self) -> Result<Connecting, AcceptError> {
        self.inner
            .accept(None)
            .map(|c| Connecting::new(Connection::from_ref(c)))
    }

    /// Accepts the connection with its own server configuration (another
    /// certificate, ALPN list, transport settings, or TLS session policy).
    ///
    /// # Errors
    /// As [`accept`](Self::accept).
    pub fn accept_with(self, config: Arc<ServerConfig>) -> Result<Connecting, AcceptError> {
        config.validate().map_err(AcceptError::TlsConfig)?;
        self.inner
            .accept(Some(config))
            .map(|c| Connecting::new(Connection::from_ref(c)))
    }

    /// Refuses the connection: the client gets CONNECTION_REFUSED at once
    /// (RFC 9000 §20.1), from a stateless answer.
    pub fn refuse(self) {
        self.inner.refuse();
    }

    /// Ignores the connection: nothing is sent, and the client's attempt
    /// times out. Useful against floods, where an answer is work.
    pub fn ignore(self) {
        self.inner.ignore();
    }
}
