//! Errors of the async API.

use std::io;

use tern_proto::{VarInt, connection::ConnectionError};

/// Why a read from a stream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The peer abandoned the stream with this application error code.
    #[error("the peer reset the stream with code {0}")]
    Reset(VarInt),
    /// The connection ended; the error says why.
    #[error("connection lost: {0}")]
    ConnectionLost(ConnectionError),
    /// The stream was already stopped or read to its end.
    #[error("the stream is closed for reading")]
    ClosedStream,
}

/// Why a write to a stream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The peer asked us to stop sending, with this application error code.
    #[error("the peer stopped the stream with code {0}")]
    Stopped(VarInt),
    /// The connection ended; the error says why.
    #[error("connection lost: {0}")]
    ConnectionLost(ConnectionError),
    /// The stream was already finished or reset.
    #[error("the stream is closed for writing")]
    ClosedStream,
}

impl From<ReadError> for io::Error {
    fn from(error: ReadError) -> Self {
        let kind = match error {
            ReadError::Reset(_) => io::ErrorKind::ConnectionReset,
            ReadError::ConnectionLost(_) => io::ErrorKind::ConnectionAborted,
            ReadError::ClosedStream => io::ErrorKind::NotConnected,
        };
        Self::new(kind, error)
    }
}

impl From<WriteError> for io::Error {
    fn from(error: WriteError) -> Self {
        let kind = match error {
            WriteError::Stopped(_) => io::ErrorKind::ConnectionReset,
            WriteError::ConnectionLost(_) => io::ErrorKind::ConnectionAborted,
            WriteError::ClosedStream => io::ErrorKind::NotConnected,
        };
        Self::new(kind, error)
    }
}

/// Why an endpoint could not be created or a connection started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The socket could not be bound or configured.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// No async runtime was found: call from inside a tokio runtime, or
    /// pass a runtime explicitly.
    #[error("no async runtime: create the endpoint inside a tokio runtime or pass one")]
    NoRuntime,
    /// The client's TLS configuration cannot be used for QUIC; the message
    /// says what to change.
    #[error(transparent)]
    Connect(#[from] tern_proto::endpoint::ConnectError),
    /// The server's TLS configuration cannot be used for QUIC; the message
    /// says what to change.
    #[error(transparent)]
    Config(#[from] tern_proto::crypto::TlsConfigError),
    /// The endpoint has no client configuration; use `Endpoint::client`
    /// with one or `connect_with`.
    #[error("no client configuration: use connect_with or set_default_client_config")]
    NoClientConfig,
    /// The endpoint is closing.
    #[error("the endpoint is closing")]
    Closing,
    /// The endpoint could not be split into shards (see
    /// [`Endpoint::server_multicore`](crate::Endpoint::server_multicore)).
    #[error(transparent)]
    Shards(#[from] tern_proto::config::ShardError),
}
