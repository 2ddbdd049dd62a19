//! `tern serve`: files under a directory over HTTP/0.9 on QUIC (ALPN
//! `hq-interop`), as the QUIC interop runner speaks it.
//!
//! Each bidirectional stream carries one request, `GET /path\r\n`, and the
//! answer is the file's bytes followed by FIN, or a reset with one of the
//! codes below.
//!
//! Clients may send requests in 0-RTT, before their handshake completes,
//! with a ticket from an earlier connection; such a request is answered at
//! once, before the handshake completes, if it is a GET, and refused with
//! [`TOO_EARLY`] otherwise: an attacker can replay 0-RTT data, and only a
//! request that reads is safe to act on twice.

use std::{
    error::Error,
    io::Write as _,
    net::SocketAddr,
    path::{Component, Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::BytesMut;
use tern::{
    AddressValidation, Connection, ConnectionError, EarlyData, Endpoint, RecvStream, RetryPolicy,
    SendStream, VarInt, tls,
};
use tern_quic_lb::{Config as QuicLbConfig, QuicLbGenerator};
use tokio::{io::AsyncReadExt as _, task::JoinSet};

use crate::certs;

/// The application protocol of HTTP/0.9 over QUIC in the interop runner.
pub(crate) const ALPN: &[u8] = b"hq-interop";
/// Reset code: no such file under the root.
pub(crate) const NOT_FOUND: u32 = 0x10;
/// Reset code: the request is not `GET /path`, or longer than
/// [`MAX_REQUEST`].
pub(crate) const BAD_REQUEST: u32 = 0x11;
/// Reset code: the path leaves the root (`..`, or a symlink pointing out).
pub(crate) const FORBIDDEN: u32 = 0x12;
/// Reset code: the file exists but could not be read.
pub(crate) const INTERNAL_ERROR: u32 = 0x13;
/// Reset code: a request other than GET came in 0-RTT data, which an
/// attacker can replay (RFC 8446 §8, RFC 9001 §9.2); as HTTP's 425 Too
/// Early (RFC 8470 §5.2), the client may send it again after the
/// handshake.
pub(crate) const TOO_EARLY: u32 = 0x14;
/// The longest request line taken, in bytes.
const MAX_REQUEST: usize = 4 * 1024;
/// The size of each file read and stream write.
const CHUNK: usize = 64 * 1024;

/// Options of `tern serve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The UDP address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "0.0.0.0:4433")]
    listen: SocketAddr,
    /// The directory whose files are served.
    #[arg(long)]
    root: PathBuf,
    /// The certificate chain to present (PEM); without it a self-signed
    /// certificate for localhost is made.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Save the certificate presented (PEM) here, for `tern get --ca`.
    #[arg(long, value_name = "PEM")]
    write_cert: Option<PathBuf>,
    /// Exit after this many connections have been served and closed.
    #[arg(long, value_name = "N")]
    max_connections: Option<u64>,
    /// When a new client must first prove its address with a Retry packet,
    /// at the cost of one round trip (RFC 9000 §8.1.2).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Retry::UnderLoad)]
    retry: Retry,
    /// With `--retry under-load`: the handshakes in progress from which
    /// new clients are sent a Retry [default: 256].
    #[arg(long, value_name = "N")]
    retry_threshold: Option<usize>,
    /// Issue QUIC-LB connection IDs (draft-ietf-quic-load-balancers) that
    /// carry the server ID of this configuration: JSON of the draft's
    /// `ietf-quic-lb-server` model, so that a QUIC-LB load balancer routes
    /// the connections here.
    #[arg(long, value_name = "FILE")]
    quic_lb_config: Option<PathBuf>,
    /// Event loops on the one port, each on a thread of its own with its
    /// own SO_REUSEPORT socket; 0 runs one per core. With more than one,
    /// a client's datagrams reach the loop holding its connection even
    /// after its address changes.
    #[arg(long, value_name = "N", default_value_t = 1)]
    shards: usize,
}

/// The values of `tern serve --retry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Retry {
    /// Every client that has not proved its address yet: a flood from
    /// forged addresses costs the server one small packet each.
    Always,
    /// Only while --retry-threshold handshakes are in progress (the
    /// library's default).
    UnderLoad,
    /// Never; a client beyond the handshake limits is refused.
    Never,
}

impl Retry {
    /// The server's policy for this value and `--retry-threshold`.
    pub(crate) fn policy(self, threshold: Option<usize>) -> Result<RetryPolicy, String> {
        match (self, threshold) {
            (Self::UnderLoad, threshold) => Ok(RetryPolicy::UnderLoad {
                handshakes_in_progress: threshold.unwrap_or(RetryPolicy::DEFAULT_UNDER_LOAD),
            }),
            (_, Some(_)) => Err("--retry-threshold applies to --retry under-load only".into()),
            (Self::Always, None) => Ok(RetryPolicy::Always),
            (Self::Never, None) => Ok(RetryPolicy::Never),
        }
    }
}

/// Serves until Ctrl-C, or until `--max-connections` connections came and
/// went.
pub(crate) async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let policy = args.retry.policy(args.retry_threshold)?;
    let mut endpoint_config = crate::version::accepting_both();
    if let Some(path) = &args.quic_lb_config {
        let generator = quic_lb_generator(path)?;
        eprintln!(
            "tern serve: {}",
            describe_quic_lb(generator.codec().config())
        );
        endpoint_config.cid_generator = Arc::new(generator);
    }
    let root = std::fs::canonicalize(&args.root)
        .ok()
        .filter(|root| root.is_dir())
        .ok_or_else(|| {
            format!(
                "--root {}: not a readable directory; give the directory to serve",
                args.root.display()
            )
        })?;
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => certs::load(cert, key)?,
        _ => certs::self_signed()?,
    };
    let leaf = identity
        .chain
        .first()
        .ok_or("the certificate chain is empty")?;
    if let Some(path) = &args.write_cert {
        certs::write_pem(path, &identity)?;
        eprintln!("tern serve: certificate written to {}", path.display());
    }
    eprintln!(
        "tern serve: certificate SHA-256 fingerprint {}",
        certs::fingerprint(leaf)
    );
    let config = tls::server_config(identity.chain, identity.key, &[ALPN])
        .map_err(|error| format!("the certificate and key do not fit together: {error}"))?
        .retry_policy(policy);
    // Clients may start on QUIC v1 or v2 (RFC 9369).
    let endpoint = if args.shards == 1 {
        let runtime = tern::default_runtime().ok_or("no async runtime runs")?;
        Endpoint::new_with_runtime(endpoint_config, Some(config), args.listen, runtime)
    } else {
        Endpoint::server_multicore_with(endpoint_config, config, args.listen, args.shards)
    }
    .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    if endpoint.shard_count() > 1 {
        eprintln!(
            "tern serve: {} event loops, one per thread",
            endpoint.shard_count()
        );
    }
    let local = endpoint.local_addr()?;
    // The first line on stdout, for scripts and tests that asked for port 0.
    println!("listening on {local}");
    std::io::stdout().flush()?;
    eprintln!(
        "tern serve: serving {} on {local} (hq-interop)",
        root.display()
    );

    let early = Arc::new(EarlyRequests::default());
    let mut connections = JoinSet::new();
    let mut accepted = 0_u64;
    let limit = args.max_connections.unwrap_or(u64::MAX);
    while accepted < limit {
        let conn = tokio::select! {
            conn = endpoint.accept() => conn,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("tern serve: interrupted, closing connections");
                break;
            }
        };
        let Some(incoming) = conn else { break };
        let conn = match incoming.accept() {
            Ok(connecting) => connecting.into_connection(),
            Err(error) => {
                eprintln!("tern serve: refused a connection: {error}");
                continue;
            }
        };
        accepted += 1;
        connections.spawn(serve_connection(conn, root.clone(), early.clone()));
    }
    if accepted >= limit {
        eprintln!("tern serve: {accepted} connections accepted, waiting for them to end");
        while connections.join_next().await.is_some() {}
    }
    early.report();
    endpoint.close(VarInt::from_u32(0), b"server shutting down");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), endpoint.wait_idle()).await;
    Ok(())
}

/// The connection ID generator of `--quic-lb-config FILE`.
pub(crate) fn quic_lb_generator(path: &Path) -> Result<QuicLbGenerator, String> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        format!(
            "--quic-lb-config {}: cannot read it: {error}",
            path.display()
        )
    })?;
    let config = QuicLbConfig::from_json(&text)
        .map_err(|error| format!("--quic-lb-config {}: {error}", path.display()))?;
    Ok(QuicLbGenerator::new(config))
}

/// The line `tern serve` prints about its QUIC-LB configuration.
fn describe_quic_lb(config: &QuicLbConfig) -> String {
    let server_id: String = config
        .server_id()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        "QUIC-LB config {}, server ID {server_id}, {}-byte connection IDs, {}",
        config.config_id(),
        config.cid_len(),
        if config.key().is_some() {
            "encrypted"
        } else {
            "in plaintext"
        }
    )
}

/// What was done with the requests that came in 0-RTT, for the line
/// `tern serve` prints when it stops.
#[derive(Debug, Default)]
pub(crate) struct EarlyRequests {
    /// GET requests answered.
    served: AtomicU64,
    /// Other requests, refused with [`TOO_EARLY`].
    refused: AtomicU64,
}

impl EarlyRequests {
    /// Prints the counts, if any request came in 0-RTT.
    fn report(&self) {
        let served = self.served.load(Ordering::Relaxed);
        let refused = self.refused.load(Ordering::Relaxed);
        if served + refused > 0 {
            eprintln!(
                "tern serve: requests in 0-RTT: {served} GET answered, {refused} others refused"
            );
        }
    }
}

/// Answers every request stream of `conn` until it closes. Streams are
/// taken before the handshake completes, so that a GET that came in 0-RTT
/// is answered at once (0.5-RTT): waiting for the handshake would cost the
/// round trip 0-RTT saves.
async fn serve_connection(conn: Connection, root: PathBuf, early: Arc<EarlyRequests>) {
    let peer = conn
        .remote_address()
        .map_or_else(|| "?".to_owned(), |a| a.to_string());
    let mut streams = JoinSet::new();
    let connected = {
        let (conn, peer) = (conn.clone(), peer.clone());
        tokio::spawn(async move {
            if let Ok(info) = conn.handshake_info().await {
                eprintln!(
                    "tern serve: {peer}: connected{}{}",
                    validated_by(&info),
                    resumed(&info)
                );
            }
        })
    };
    let error = loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let request = Request {
                    root: root.clone(),
                    peer: peer.clone(),
                    early: early.clone(),
                };
                streams.spawn(serve_stream(send, recv, request));
                // Forget the streams already answered.
                while streams.try_join_next().is_some() {}
            }
            Err(error) => break error,
        }
    };
    streams.abort_all();
    let _ = connected.await;
    if conn.try_handshake_info().is_none() {
        eprintln!("tern serve: {peer}: handshake failed: {error}");
        return;
    }
    match error {
        // The client closed with 0, or the server closed it (shutting down).
        ConnectionError::Application { code, .. } if code.into_inner() == 0 => {
            eprintln!("tern serve: {peer}: closed");
        }
        ConnectionError::LocallyClosed => eprintln!("tern serve: {peer}: closed by the server"),
        error => eprintln!("tern serve: {peer}: ended: {error}"),
    }
}

/// How the client proved its address before its handshake, for the
/// `connected` line: empty when the handshake itself did.
pub(crate) fn validated_by(info: &tern::HandshakeInfo) -> &'static str {
    match info.address_validation() {
        AddressValidation::Retry => " (address validated by a Retry)",
        AddressValidation::Token => " (address validated by a token from an earlier connection)",
        _ => "",
    }
}

/// Whether the client resumed a TLS session, and with 0-RTT, for the
/// `connected` line.
fn resumed(info: &tern::HandshakeInfo) -> &'static str {
    match (info.resumed(), info.early_data()) {
        (_, EarlyData::Accepted) => " (resumed a session, 0-RTT accepted)",
        (true, _) => " (resumed a session)",
        _ => "",
    }
}

/// What a stream's request needs of its connection.
struct Request {
    /// The served directory (canonical).
    root: PathBuf,
    /// The client's address, for the log.
    peer: String,
    /// The counts of 0-RTT requests.
    early: Arc<EarlyRequests>,
}

/// Answers the request on one stream.
async fn serve_stream(mut send: SendStream, mut recv: RecvStream, request: Request) {
    let Request { root, peer, early } = request;
    // RFC 9001 §4.6.1: data that came in 0-RTT can be replayed.
    let zero_rtt = recv.is_0rtt();
    let path = match read_request(&mut recv, zero_rtt).await {
        Ok(path) => path,
        Err(Refusal { code, why }) => {
            if code == TOO_EARLY {
                early.refused.fetch_add(1, Ordering::Relaxed);
                eprintln!("tern serve: {peer}: refused in 0-RTT: {why}");
            } else {
                eprintln!("tern serve: {peer}: bad request: {why}");
            }
            recv.stop(VarInt::from_u32(code));
            let _ = send.reset(VarInt::from_u32(code));
            return;
        }
    };
    let in_0rtt = if zero_rtt {
        early.served.fetch_add(1, Ordering::Relaxed);
        " (requested in 0-RTT)"
    } else {
        ""
    };
    let file = match resolve(&root, &path) {
        Ok(file) => file,
        Err(Refusal { code, why }) => {
            eprintln!("tern serve: {peer}: GET {path}: {why}");
            // Both halves carry the reason: a request not read to its FIN
            // would otherwise be stopped with code 0 when `recv` drops.
            recv.stop(VarInt::from_u32(code));
            let _ = send.reset(VarInt::from_u32(code));
            return;
        }
    };
    match send_file(&mut send, &file).await {
        Ok(bytes) => eprintln!("tern serve: {peer}: GET {path}: sent {bytes} bytes{in_0rtt}"),
        Err(why) => {
            eprintln!("tern serve: {peer}: GET {path}: {why}");
            let _ = send.reset(VarInt::from_u32(INTERNAL_ERROR));
        }
    }
}

/// Why a request is answered with a reset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The reset code.
    pub(crate) code: u32,
    /// What to log.
    pub(crate) why: String,
}

impl Refusal {
    fn new(code: u32, why: impl Into<String>) -> Self {
        Self {
            code,
            why: why.into(),
        }
    }
}

/// Reads `GET /path\r\n` (at most [`MAX_REQUEST`] bytes) and returns the
/// path; `zero_rtt` says the request came in 0-RTT (see
/// [`parse_request`]).
async fn read_request(recv: &mut RecvStream, zero_rtt: bool) -> Result<String, Refusal> {
    let mut request = Vec::new();
    loop {
        let room = MAX_REQUEST + 1 - request.len();
        match recv.read_chunk(room).await {
            Ok(Some(chunk)) => request.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(error) => return Err(Refusal::new(BAD_REQUEST, error.to_string())),
        }
        if request.len() > MAX_REQUEST {
            return Err(Refusal::new(
                BAD_REQUEST,
                format!("request longer than {MAX_REQUEST} bytes"),
            ));
        }
        if request.contains(&b'\n') {
            break;
        }
    }
    parse_request(&request, zero_rtt)
}

/// The path of a request line `GET /path`, with or without its line end.
/// A request with a method other than GET is refused with [`TOO_EARLY`]
/// when it came in 0-RTT (`zero_rtt`), with [`BAD_REQUEST`] otherwise.
pub(crate) fn parse_request(request: &[u8], zero_rtt: bool) -> Result<String, Refusal> {
    let line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line)
        .map_err(|_| Refusal::new(BAD_REQUEST, "the request is not UTF-8"))?;
    let method = line.split(' ').next().unwrap_or_default();
    if zero_rtt && !method.is_empty() && method != "GET" {
        // RFC 8446 §8: an attacker can replay 0-RTT data; a GET only reads,
        // anything else might act twice.
        return Err(Refusal::new(
            TOO_EARLY,
            format!("{method:?} is not GET, and 0-RTT data can be replayed"),
        ));
    }
    let path = line
        .strip_prefix("GET ")
        .map(str::trim)
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| Refusal::new(BAD_REQUEST, format!("not `GET /path`: {line:?}")))?;
    Ok(path.to_owned())
}

/// The file `path` names under `root` (canonical), refusing any way out of
/// the root: `..`, and symlinks that point outside it.
pub(crate) fn resolve(root: &Path, path: &str) -> Result<PathBuf, Refusal> {
    let relative = Path::new(path.trim_start_matches('/'));
    for component in relative.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Refusal::new(FORBIDDEN, "refused: the path leaves the root"));
            }
        }
    }
    let file = std::fs::canonicalize(root.join(relative))
        .map_err(|_| Refusal::new(NOT_FOUND, "not found"))?;
    if !file.starts_with(root) {
        return Err(Refusal::new(
            FORBIDDEN,
            "refused: a symlink points outside the root",
        ));
    }
    if !file.is_file() {
        return Err(Refusal::new(NOT_FOUND, "not found (not a regular file)"));
    }
    Ok(file)
}

/// Streams the file at `path` to `send` in chunks and finishes the stream;
/// returns the bytes sent.
async fn send_file(send: &mut SendStream, path: &Path) -> Result<u64, String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|error| format!("cannot open: {error}"))?;
    let mut sent = 0_u64;
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(CHUNK);
        let n = file
            .read_buf(&mut buf)
            .await
            .map_err(|error| format!("cannot read: {error}"))?;
        if n == 0 {
            break;
        }
        send.write_chunk(buf.split().freeze())
            .await
            .map_err(|error| format!("sending stopped: {error}"))?;
        sent += u64::try_from(n).unwrap_or(u64::MAX);
    }
    send.finish()
        .map_err(|error| format!("cannot finish the stream: {error}"))?;
    Ok(sent)
}

#[cfg(test)]
mod tests;
