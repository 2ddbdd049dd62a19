//! The server role: serves files from `WWW` over HTTP/0.9 on a dual-stack
//! UDP socket until killed.

use std::io::Write as _;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncWriteExt as _;

use crate::{TestCase, env, env_opt, qlog_stream, tls, transport_config};

/// Longest request line accepted; a longer one is answered with a reset.
const MAX_REQUEST: usize = 8 * 1024;

/// Application error code on a reset stream (missing file, bad request).
const RESET_CODE: u32 = 0x10;

/// Socket buffer size asked of the kernel, so bursts of a fast transfer are
/// not dropped at the socket (best effort: the kernel may cap it).
const SOCKET_BUFFER: usize = 4 << 20;

/// Runs the server until the process is killed.
pub(crate) async fn run(testcase: TestCase) -> Result<(), String> {
    let www = Arc::new(PathBuf::from(env("WWW")?));
    let certs = PathBuf::from(env("CERTS")?);
    let port = env_opt("PORT").unwrap_or_else(|| "443".to_owned());
    let port: u16 = port.parse().map_err(|e| format!("PORT {port:?}: {e}"))?;

    let crypto = tls::server_crypto(testcase, &certs)?;
    let mut base = quinn::ServerConfig::with_crypto(crypto);
    base.transport_config(transport_config(None, true));
    if testcase == TestCase::ConnectionMigration {
        // RFC 9000 §9.6: offered in the transport parameters with a
        // connection ID of its own; quinn routes packets to it by that
        // connection ID, whichever local address they reach.
        let text = env("PREFERRED_ADDRESS")?;
        match text.parse::<SocketAddr>() {
            Ok(SocketAddr::V4(v4)) => base.preferred_address_v4(Some(v4)),
            Ok(SocketAddr::V6(v6)) => base.preferred_address_v6(Some(v6)),
            Err(e) => return Err(format!("PREFERRED_ADDRESS {text:?}: {e}")),
        };
    }

    let socket = bind_dual_stack(port).map_err(|e| format!("binding [::]:{port}: {e}"))?;
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(base.clone()),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| format!("creating the endpoint: {e}"))?;
    let local = endpoint
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    println!("listening on {local}");
    // The orchestrator waits for this line; stdout may be a pipe.
    let _ = std::io::stdout().flush();

    while let Some(incoming) = endpoint.accept().await {
        // As quinn's own interop server: a Retry for every attempt that did
        // not carry a Retry token (RFC 9000 §8.1.2). `may_retry` rather than
        // `remote_address_validated`, so that a client with a NEW_TOKEN
        // token is sent one too.
        if testcase == TestCase::Retry && incoming.may_retry() {
            if let Err(e) = incoming.retry() {
                eprintln!("cannot send a Retry: {e}");
            }
            continue;
        }
        let odcid = incoming.orig_dst_cid();
        let connecting = match qlog_stream(&format!("server-{odcid}"), "quinn-peer server") {
            Some(qlog) => {
                // One qlog file per connection needs a config per connection.
                let mut config = base.clone();
                config.transport_config(transport_config(Some(qlog), true));
                incoming.accept_with(Arc::new(config))
            }
            None => incoming.accept(),
        };
        match connecting {
            Ok(connecting) => {
                tokio::spawn(serve_connection(connecting, www.clone()));
            }
            Err(e) => eprintln!("refused connection {odcid}: {e}"),
        }
    }
    Ok(())
}

/// Binds `[::]:port` with `IPV6_V6ONLY` off, so IPv4 peers (as v4-mapped
/// addresses) and IPv6 peers both reach the one endpoint.
fn bind_dual_stack(port: u16) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(false)?;
    // Best effort: a smaller buffer only costs throughput.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    // tokio's `UdpSocket::from_std` expects a non-blocking socket.
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Completes the handshake, then answers every request stream the client
/// opens until the connection ends.
async fn serve_connection(connecting: quinn::Connecting, www: Arc<PathBuf>) {
    let remote = connecting.remote_address();
    let connection = match connecting.await {
        Ok(connection) => connection,
        Err(e) => {
            eprintln!("handshake with {remote} failed: {e}");
            return;
        }
    };
    tracing::info!(%remote, "connection established");
    loop {
        match connection.accept_bi().await {
            Ok((send, recv)) => {
                tokio::spawn(serve_request(send, recv, www.clone()));
            }
            Err(
                quinn::ConnectionError::ApplicationClosed(_)
                | quinn::ConnectionError::LocallyClosed,
            ) => {
                break;
            }
            Err(e) => {
                eprintln!("connection with {remote} ended: {e}");
                break;
            }
        }
    }
}

/// Reads one `GET /path` request and answers with the file's bytes, or
/// resets the stream if the request is bad or the file cannot be read.
async fn serve_request(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    www: Arc<PathBuf>,
) {
    let request = match recv.read_to_end(MAX_REQUEST).await {
        Ok(request) => request,
        Err(e) => {
            tracing::debug!("reading request on {}: {e}", send.id());
            let _ = send.reset(RESET_CODE.into());
            return;
        }
    };
    let Some(path) = request_path(&www, &request) else {
        tracing::debug!(
            "bad request on {}: {:?}",
            send.id(),
            String::from_utf8_lossy(&request)
        );
        let _ = send.reset(RESET_CODE.into());
        return;
    };
    if let Err(e) = send_file(&mut send, &path).await {
        tracing::debug!("serving {} on {}: {e}", path.display(), send.id());
        let _ = send.reset(RESET_CODE.into());
        return;
    }
    // The stream goes on delivering the finished data after it is dropped.
    let _ = send.finish();
}

/// Copies the file at `path` into `send`.
async fn send_file(send: &mut quinn::SendStream, path: &Path) -> std::io::Result<()> {
    let file = tokio::fs::File::open(path).await?;
    if !file.metadata().await?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, file);
    tokio::io::copy_buf(&mut reader, send).await?;
    send.flush().await?;
    Ok(())
}

/// Maps an HTTP/0.9 request (`GET /path`, optionally ending in CRLF) to a
/// file under `www`; `None` for anything else, including any `..` component.
fn request_path(www: &Path, request: &[u8]) -> Option<PathBuf> {
    let line = std::str::from_utf8(request).ok()?;
    let target = line
        .strip_prefix("GET ")?
        .trim_end_matches(['\r', '\n'])
        .trim();
    let relative = Path::new(target.strip_prefix('/')?);
    let mut path = www.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (path != *www).then_some(path)
}
