//! [`Incoming`]: a client's connection attempt, before any TLS work, for
//! the application to accept, refuse, retry or ignore.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use tern_endpoint::IncomingRef;
use tern_proto::{config::ServerConfig, endpoint::AcceptError};

/// Why [`Incoming::retry`] sent no Retry.
///
/// Unlike [`tern_proto::endpoint::RetryError`], it gives the [`Incoming`]
/// back when the client can still be decided on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError {
    /// The client's address is already validated (it brought a Retry token,
    /// or a NEW_TOKEN token from an earlier connection), so a Retry would
    /// prove nothing. Here is the attempt back, undecided: accept or refuse
    /// it.
    #[error("the client's address is already validated; accept or refuse it instead")]
    AddressValidated(Incoming),
    /// The endpoint no longer holds the attempt: it timed out waiting for a
    /// decision (`EndpointConfig::incoming_timeout`), or the endpoint
    /// closed. Nothing was sent; there is nothing left to do.
    #[error("the connection attempt is gone: it timed out or the endpoint closed")]
    UnknownIncoming,
}

use crate::{Connecting, Connection};

/// A client's first Initial, held by the endpoint until you decide. Only
/// the packet's protection was checked: no TLS work was done and no
/// connection state exists yet, so refusing costs almost nothing.
///
/// Decide with [`accept`](Self::accept), [`refuse`](Self::refuse),
/// [`retry`](Self::retry) (make the client prove its address first) or
/// [`ignore`](Self::ignore). Dropping it without deciding refuses it. The
/// server's [`RetryPolicy`](crate::RetryPolicy) may already have sent a
/// Retry on its own before a client gets here.
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

    /// Whether the client proved it receives at its address before its
    /// handshake: its Initial carried a valid Retry token, or a NEW_TOKEN
    /// token from an earlier connection (RFC 9000 §8.1). A validated
    /// client is not bound by the 3x anti-amplification limit, and cannot
    /// be sent a Retry.
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

    /// Answers the client with a Retry packet (RFC 9000 §8.1.2), whatever
    /// the server's [`RetryPolicy`](crate::RetryPolicy): it must come back
    /// with the Retry's token, which proves it receives at its address.
    /// Nothing is kept meanwhile; the client's next Initial arrives from
    /// [`Endpoint::accept`](crate::Endpoint::accept) as a new `Incoming`
    /// whose [`remote_address_validated`](Self::remote_address_validated)
    /// is true. It costs the client one round trip.
    ///
    /// # Errors
    /// [`RetryError::AddressValidated`], holding this `Incoming`, when the
    /// client already proved its address: accept or refuse it instead.
    /// [`RetryError::UnknownIncoming`] when the endpoint no longer holds the attempt.
    pub fn retry(self) -> Result<(), RetryError> {
        let mut inner = self.inner;
        match inner.retry() {
            Ok(()) => Ok(()),
            Err(tern_proto::endpoint::RetryError::AddressValidated) => {
                Err(RetryError::AddressValidated(Self { inner }))
            }
            Err(_) => Err(RetryError::UnknownIncoming),
        }
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
