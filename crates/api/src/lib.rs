//! # tern: async QUIC for Rust services
//!
//! The crate applications add. An [`Endpoint`] owns a UDP socket and its
//! connections, driven by one task on your runtime (tokio by default); a
//! [`Connection`] is a cheap handle to one of them; [`SendStream`] and
//! [`RecvStream`] implement tokio's and futures' `AsyncWrite` / `AsyncRead`
//! and read zero-copy [`bytes::Bytes`] chunks.
//!
//! What sets it apart: [`Connection::handshake_info`] answers on the client
//! **and** the server for the connection's whole life. The snapshot is
//! captured once when the handshake completes and shared as an `Arc`, so it
//! stays readable after the server freed its TLS session to save memory.
//!
//! ```
//! # #[cfg(feature = "runtime-tokio")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use tern::{Endpoint, tls};
//!
//! // A server with a throwaway certificate.
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
//! let server_config = tls::server_config(vec![cert.cert.der().clone()], key, &[b"echo"])?;
//! let server = Endpoint::server(server_config, "127.0.0.1:0".parse()?)?;
//!
//! // The server accepts one connection and echoes one stream: it sees the
//! // attempt (an `Incoming`) before any TLS work, and accepts it.
//! let accepting = server.clone();
//! let echo = tokio::spawn(async move {
//!     let incoming = accepting.accept().await.expect("a client");
//!     let connection = incoming.accept()?.await?;
//!     let (mut send, mut recv) = connection.accept_bi().await?;
//!     let request = recv.read_to_end(1024).await?;
//!     send.write_all(&request).await?;
//!     send.finish()?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(connection)
//! });
//!
//! // A client that trusts the certificate.
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(cert.cert.der().clone())?;
//! let client = Endpoint::client("127.0.0.1:0".parse()?)?;
//! client.set_default_client_config(tls::client_config(roots, &[b"echo"])?);
//! let connection = client.connect(server.local_addr()?, "localhost")?.await?;
//!
//! let (mut send, mut recv) = connection.open_bi().await?;
//! send.write_all(b"hello").await?;
//! send.finish()?;
//! assert_eq!(recv.read_to_end(1024).await?, b"hello");
//! let served = echo.await?.map_err(|e| e.to_string())?;
//!
//! // Both sides hold the same handshake information; the server's is
//! // readable although it freed its TLS session after the handshake.
//! let (client_info, server_info) = (connection.handshake_info().await?, served.handshake_info().await?);
//! assert_eq!(client_info.cipher_suite(), server_info.cipher_suite());
//! assert_eq!(server_info.alpn(), Some(&b"echo"[..]));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })
//! # }
//! # #[cfg(not(feature = "runtime-tokio"))]
//! # fn main() {}
//! ```
//!
//! ## Lifecycle
//!
//! - **Endpoint.** Clones share one endpoint. When the last is dropped,
//!   incoming attempts are refused and the event loop ends once the
//!   connections still held have closed; the socket closes with it.
//!   [`Endpoint::close`] closes every connection at once.
//!   [`Endpoint::rebind`] moves it to another socket, and its client
//!   connections migrate with it (RFC 9000 §9): the server follows each to
//!   the new address and validates it.
//! - **Incoming.** [`Endpoint::accept`] yields an [`Incoming`] before any
//!   TLS work: [`accept`](Incoming::accept) (or
//!   [`accept_with`](Incoming::accept_with) a configuration of its own),
//!   [`refuse`](Incoming::refuse), [`retry`](Incoming::retry) (the client
//!   proves its address first, and comes back as a new `Incoming`), or
//!   [`ignore`](Incoming::ignore); dropped undecided, it is refused. The
//!   server's [`RetryPolicy`] (`ServerConfig::retry`) sends Retry on its
//!   own: by default once many handshakes are in progress.
//! - **Connection.** Clones, streams and event streams are handles; the
//!   last one dropped closes the connection with code 0. After
//!   [`Connection::close`], every operation fails with
//!   [`ConnectionError::LocallyClosed`]; the snapshot, the close reason and
//!   the final stats stay readable on any handle.
//! - **Streams.** A dropped [`SendStream`] finishes its stream; a dropped
//!   [`RecvStream`] not read to its end stops it (STOP_SENDING 0). Either
//!   way the stream's state and credit are released.
//! - **Events.** Each [`Connection::events`] subscriber has its own
//!   bounded queue that starts with `Connected`, replayed if it subscribed
//!   late; one that falls behind gets [`Lagged`] with the count it missed.
//! - **Runtime gone.** If the runtime running the event loop shuts down,
//!   every waiter wakes with [`ConnectionError::EndpointStopped`].
//!
//! ## Runtimes
//!
//! The event loop runs on any [`Runtime`]: [`TokioRuntime`] (feature
//! `runtime-tokio`, on by default, which also brings tokio's
//! `AsyncRead` / `AsyncWrite` on streams) or `SmolRuntime` (feature
//! `runtime-smol`), or your own through [`Endpoint::new_with_runtime`].
//! futures' `AsyncRead` / `AsyncWrite` are always implemented.
//!
//! ## Every core on one port
//!
//! [`Endpoint::server_multicore`] runs a server as several shards: one
//! event loop per core, each on a thread of its own with its own
//! `SO_REUSEPORT` socket on the common port, sharing no lock. A client
//! whose address changes is still served by the shard holding its
//! connection, and the shards' stateless resets and Retry tokens are good
//! at all of them. [`Endpoint::shards`] gives each shard as an endpoint of
//! its own, for one accepting task per shard; [`Endpoint::new_sharded`]
//! takes the runtimes instead.
//!
//! ## Debugging
//!
//! - TLS secrets: `ClientConfig::key_log` and `ServerConfig::key_log` take a
//!   [`rustls::KeyLog`]; `rustls::KeyLogFile` writes the file named by
//!   `SSLKEYLOGFILE`, which Wireshark reads to decrypt a capture.
//! - qlog: with the feature `qlog`, `TransportConfig::qlog` takes a factory
//!   of trace writers, and `tern::qlog::QlogDir` writes one qlog file per
//!   connection into a directory.
#![forbid(unsafe_code)]

mod connection;
mod endpoint;
mod error;
mod events;
mod incoming;
#[cfg(feature = "qlog")]
pub mod qlog;
mod streams;
pub mod tls;

pub use bytes::Bytes;
/// The TLS library, re-exported for its configuration types and
/// `rustls::KeyLogFile` (see [`ClientConfig::key_log`]).
pub use rustls;
#[cfg(feature = "runtime-smol")]
pub use tern_endpoint::SmolRuntime;
#[cfg(feature = "runtime-tokio")]
pub use tern_endpoint::TokioRuntime;
pub use tern_endpoint::{AsyncTimer, AsyncUdpSocket, Lagged, Runtime, ShardStats, default_runtime};
pub use tern_proto as proto;
pub use tern_proto::{
    AddressValidation, EarlyData, HandshakeInfo, VarInt,
    config::{
        AntiReplay, ClientConfig, EndpointConfig, MemoryTokenStore, PreferredAddresses,
        RetryPolicy, ServerConfig, TokenStore, TransportConfig,
    },
    connection::{
        ConnectionError, ConnectionStats, Event, ExportError, MigrateError, SendDatagramError,
    },
    crypto::TlsConfigError,
    endpoint::{AcceptError, EndpointStats, InitialRefusal},
};

pub use crate::{
    connection::{Connecting, Connection, DEFAULT_EVENT_CAPACITY},
    endpoint::{Accept, Endpoint, WaitIdle},
    error::{EndpointError, ReadError, WriteError},
    events::Events,
    incoming::{Incoming, RetryError},
    streams::{RecvStream, SendStream},
};

#[cfg(test)]
mod tests {
    /// Compiles only for types that can move between and be shared by
    /// threads: every handle must, so that tasks on a multi-threaded
    /// runtime can hold them.
    fn send_and_sync<T: Send + Sync>() {}

    #[test]
    fn every_handle_is_send_and_sync() {
        send_and_sync::<crate::Endpoint>();
        send_and_sync::<crate::Incoming>();
        send_and_sync::<crate::Connecting>();
        send_and_sync::<crate::Connection>();
        send_and_sync::<crate::SendStream>();
        send_and_sync::<crate::RecvStream>();
        send_and_sync::<crate::Events>();
    }
}
