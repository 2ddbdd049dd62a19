//! The little of a QUIC API the workloads use, implemented on Tern and on
//! quinn, so that both run the very same workload code.

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;

use crate::tls::Tls;

/// Settings both stacks get.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Ask for 4 MiB socket buffers (Tern's default) on quinn too.
    pub big_buffers: bool,
    /// The idle timeout of every connection.
    pub idle_timeout: Duration,
    /// Connections a server may hold at once.
    pub max_connections: usize,
}

pub const BUFFER: usize = 4 * 1024 * 1024;

pub trait Stack: 'static {
    type Endpoint: Clone + 'static;
    type Incoming: 'static;
    type Conn: Clone + 'static;
    type Send: 'static;
    type Recv: 'static;

    fn server(tls: &Tls, opts: &Opts) -> Result<Self::Endpoint, String>;
    fn client(tls: &Tls, opts: &Opts) -> Result<Self::Endpoint, String>;
    fn local_addr(endpoint: &Self::Endpoint) -> SocketAddr;
    async fn accept(endpoint: &Self::Endpoint) -> Option<Self::Incoming>;
    async fn established(incoming: Self::Incoming) -> Result<Self::Conn, String>;
    async fn connect(endpoint: &Self::Endpoint, addr: SocketAddr) -> Result<Self::Conn, String>;
    async fn open_bi(conn: &Self::Conn) -> Result<(Self::Send, Self::Recv), String>;
    async fn accept_bi(conn: &Self::Conn) -> Option<(Self::Send, Self::Recv)>;
    async fn write(send: &mut Self::Send, data: Bytes) -> Result<(), String>;
    fn finish(send: &mut Self::Send);
    async fn read(recv: &mut Self::Recv) -> Result<Option<Bytes>, String>;
    fn close(conn: &Self::Conn);
    /// UDP datagrams sent and received on the connection so far.
    fn datagrams(conn: &Self::Conn) -> (u64, u64);
    fn close_endpoint(endpoint: &Self::Endpoint);
}

pub struct Tern;

impl Stack for Tern {
    type Endpoint = tern::Endpoint;
    type Incoming = tern::Incoming;
    type Conn = tern::Connection;
    type Send = tern::SendStream;
    type Recv = tern::RecvStream;

    fn server(tls: &Tls, opts: &Opts) -> Result<Self::Endpoint, String> {
        let mut config = tern::ServerConfig::new(tls.server.clone()).map_err(|e| e.to_string())?;
        config.transport = std::sync::Arc::new(tern_transport(opts));
        config.max_connections = opts.max_connections;
        let endpoint_config = tern::EndpointConfig {
            max_incoming: 4096,
            ..tern::EndpointConfig::default()
        };
        let runtime = tern::default_runtime().ok_or("no runtime")?;
        // Tern asks for 4 MiB socket buffers itself, in both modes.
        tern::Endpoint::new_with_runtime(endpoint_config, Some(config), localhost(), runtime)
            .map_err(|e| e.to_string())
    }

    fn client(tls: &Tls, opts: &Opts) -> Result<Self::Endpoint, String> {
        let endpoint = tern::Endpoint::client(localhost()).map_err(|e| e.to_string())?;
        let mut config = tern::ClientConfig::new(tls.client.clone()).map_err(|e| e.to_string())?;
        config.transport = std::sync::Arc::new(tern_transport(opts));
        endpoint.set_default_client_config(config);
        Ok(endpoint)
    }

    fn local_addr(endpoint: &Self::Endpoint) -> SocketAddr {
        endpoint.local_addr().unwrap_or_else(|_| localhost())
    }

    async fn accept(endpoint: &Self::Endpoint) -> Option<Self::Incoming> {
        endpoint.accept().await
    }

    async fn established(incoming: Self::Incoming) -> Result<Self::Conn, String> {
        incoming
            .accept()
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    }

    async fn connect(endpoint: &Self::Endpoint, addr: SocketAddr) -> Result<Self::Conn, String> {
        endpoint
            .connect(addr, "localhost")
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    }

    async fn open_bi(conn: &Self::Conn) -> Result<(Self::Send, Self::Recv), String> {
        conn.open_bi().await.map_err(|e| e.to_string())
    }

    async fn accept_bi(conn: &Self::Conn) -> Option<(Self::Send, Self::Recv)> {
        conn.accept_bi().await.ok()
    }

    async fn write(send: &mut Self::Send, data: Bytes) -> Result<(), String> {
        send.write_chunk(data).await.map_err(|e| e.to_string())
    }

    fn finish(send: &mut Self::Send) {
        let _ = send.finish();
    }

    async fn read(recv: &mut Self::Recv) -> Result<Option<Bytes>, String> {
        recv.read_chunk(usize::MAX).await.map_err(|e| e.to_string())
    }

    fn close(conn: &Self::Conn) {
        conn.close(tern::VarInt::from_u32(0), b"");
    }

    fn datagrams(conn: &Self::Conn) -> (u64, u64) {
        let stats = conn.stats();
        (stats.datagrams_sent, stats.datagrams_received)
    }

    fn close_endpoint(endpoint: &Self::Endpoint) {
        endpoint.close(tern::VarInt::from_u32(0), b"");
    }
}

fn tern_transport(opts: &Opts) -> tern::TransportConfig {
    tern::TransportConfig {
        max_idle_timeout: Some(opts.idle_timeout),
        ..tern::TransportConfig::default()
    }
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub struct Quinn;

fn quinn_socket(opts: &Opts) -> Result<std::net::UdpSocket, String> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(|e| e.to_string())?;
    if opts.big_buffers {
        socket
            .set_recv_buffer_size(BUFFER)
            .map_err(|e| e.to_string())?;
        socket
            .set_send_buffer_size(BUFFER)
            .map_err(|e| e.to_string())?;
    }
    socket
        .bind(&localhost().into())
        .map_err(|e| e.to_string())?;
    Ok(socket.into())
}

fn quinn_transport(opts: &Opts) -> Result<std::sync::Arc<quinn::TransportConfig>, String> {
    let mut transport = quinn::TransportConfig::default();
    let timeout = quinn::IdleTimeout::try_from(opts.idle_timeout).map_err(|e| e.to_string())?;
    transport.max_idle_timeout(Some(timeout));
    Ok(std::sync::Arc::new(transport))
}

impl Stack for Quinn {
    type Endpoint = quinn::Endpoint;
    type Incoming = quinn::Incoming;
    type Conn = quinn::Connection;
    type Send = quinn::SendStream;
    type Recv = quinn::RecvStream;

    fn server(tls: &Tls, opts: &Opts) -> Result<Self::Endpoint, String> {
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.server.clone())
            .map_err(|e| e.to_string())?;
        let mut config = quinn::ServerConfig::with_crypto(std::sync::Arc::new(crypto));
        config.transport_config(quinn_transport(opts)?);
        quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(config),
            quinn_socket(opts)?,
            std::sync::Arc::new(quinn::TokioRuntime),
        )
        .map_err(|e| e.to_string())
    }

    fn client(tls: &Tls, opts: &Opts) -> Result<Self::Endpoint, String> {
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls.client.clone())
            .map_err(|e| e.to_string())?;
        let mut config = quinn::ClientConfig::new(std::sync::Arc::new(crypto));
        config.transport_config(quinn_transport(opts)?);
        let mut endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            None,
            quinn_socket(opts)?,
            std::sync::Arc::new(quinn::TokioRuntime),
        )
        .map_err(|e| e.to_string())?;
        endpoint.set_default_client_config(config);
        Ok(endpoint)
    }

    fn local_addr(endpoint: &Self::Endpoint) -> SocketAddr {
        endpoint.local_addr().unwrap_or_else(|_| localhost())
    }

    async fn accept(endpoint: &Self::Endpoint) -> Option<Self::Incoming> {
        endpoint.accept().await
    }

    async fn established(incoming: Self::Incoming) -> Result<Self::Conn, String> {
        incoming
            .accept()
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    }

    async fn connect(endpoint: &Self::Endpoint, addr: SocketAddr) -> Result<Self::Conn, String> {
        endpoint
            .connect(addr, "localhost")
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    }

    async fn open_bi(conn: &Self::Conn) -> Result<(Self::Send, Self::Recv), String> {
        conn.open_bi().await.map_err(|e| e.to_string())
    }

    async fn accept_bi(conn: &Self::Conn) -> Option<(Self::Send, Self::Recv)> {
        conn.accept_bi().await.ok()
    }

    async fn write(send: &mut Self::Send, data: Bytes) -> Result<(), String> {
        send.write_chunk(data).await.map_err(|e| e.to_string())
    }

    fn finish(send: &mut Self::Send) {
        let _ = send.finish();
    }

    async fn read(recv: &mut Self::Recv) -> Result<Option<Bytes>, String> {
        recv.read_chunk(usize::MAX, true)
            .await
            .map(|chunk| chunk.map(|c| c.bytes))
            .map_err(|e| e.to_string())
    }

    fn close(conn: &Self::Conn) {
        conn.close(quinn::VarInt::from_u32(0), b"");
    }

    fn datagrams(conn: &Self::Conn) -> (u64, u64) {
        let stats = conn.stats();
        (stats.udp_tx.datagrams, stats.udp_rx.datagrams)
    }

    fn close_endpoint(endpoint: &Self::Endpoint) {
        endpoint.close(quinn::VarInt::from_u32(0), b"");
    }
}
