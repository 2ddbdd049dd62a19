//! `tern get`: fetch files over HTTP/0.9 on QUIC (ALPN `hq-interop`).
//!
//! One connection per distinct `host:port`, one bidirectional stream per
//! URL, all requests of a connection in flight together. Every connection of
//! a run shares one client configuration, whose ticket store keeps the
//! session tickets servers send: a later connection to the same server name
//! resumes. With `--0rtt` the first URL of a server goes over a first
//! connection, which brings a ticket, and the others over a second one that
//! sends its requests in 0-RTT.

use std::{
    error::Error,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use tern::{
    ClientConfig, Connection, EarlyData, Endpoint, HandshakeInfo, ReadError, RecvStream,
    SendStream, VarInt, WriteError, tls,
};
use tokio::{io::AsyncWriteExt as _, task::JoinSet};

use crate::version::QuicVersion;
use crate::{certs, serve};

/// Options of `tern get`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The files to fetch, as `https://host[:port]/path` (port 443 when
    /// left out).
    #[arg(required = true, value_name = "URL")]
    urls: Vec<String>,
    /// The directory to write the files to, each under the last segment of
    /// its path; created if missing.
    #[arg(long, short, value_name = "DIR")]
    output: PathBuf,
    /// Accept any server certificate (no protection against impostors).
    #[arg(long, conflicts_with = "ca")]
    insecure: bool,
    /// Trust the certificates in this PEM file (e.g. what `tern serve
    /// --write-cert` wrote).
    #[arg(long, value_name = "PEM", required_unless_present = "insecure")]
    ca: Option<PathBuf>,
    /// Give up on a server whose handshake has not completed by then.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    connect_timeout: u64,
    /// Send requests in 0-RTT, before the handshake completes, when a
    /// session ticket allows it: the first URL of each server goes over a
    /// first connection, which brings a ticket, and the others over a
    /// second connection whose requests go in 0-RTT. An attacker can replay
    /// 0-RTT data; GET requests are safe to repeat.
    #[arg(long = "0rtt")]
    zero_rtt: bool,
    /// The QUIC version to connect with: v1 (RFC 9000) or v2 (RFC 9369).
    #[arg(long, value_enum, value_name = "VERSION", default_value_t = QuicVersion::V1)]
    quic_version: QuicVersion,
}

/// An `https://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// The host name or IP address, without IPv6 brackets.
    pub(crate) host: String,
    /// The UDP port.
    pub(crate) port: u16,
    /// The path, starting with `/`.
    pub(crate) path: String,
}

impl Url {
    /// Parses `https://host[:port][/path]`; IPv6 hosts in brackets.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .get(..8)
            .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
            .map(|_| &url[8..])
            .ok_or_else(|| format!("{url}: not an https:// URL"))?;
        let (authority, path) = rest
            .find('/')
            .map_or((rest, "/"), |slash| (&rest[..slash], &rest[slash..]));
        if authority.contains('@') {
            return Err(format!("{url}: user names in URLs are not supported"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{url}: unclosed `[` in the host"))?;
            let port = match after {
                "" => None,
                after => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("{url}: expected `:port` after `]`"))?,
                ),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url}: the URL has no host"));
        }
        let port = match port {
            None => 443,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|&port| port != 0)
                .ok_or_else(|| format!("{url}: `{port}` is not a port number (1-65535)"))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// The name the response is saved under: the path's last segment.
    pub(crate) fn file_name(&self) -> Result<&str, String> {
        let path = self.path.split(['?', '#']).next().unwrap_or_default();
        match path.rsplit('/').next() {
            Some(name) if !name.is_empty() && name != "." && name != ".." => Ok(name),
            _ => Err(format!(
                "{self}: the path has no file name to save the response under"
            )),
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "https://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "https://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the CLI reports transfer times; it is not protocol code"
)]
fn wall_clock() -> Instant {
    Instant::now()
}

/// Fetches every URL; fails, after trying them all, if any failed.
pub(crate) async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let urls = args
        .urls
        .iter()
        .map(|url| Url::parse(url))
        .collect::<Result<Vec<_>, _>>()?;
    let mut names = std::collections::HashSet::new();
    for url in &urls {
        if !names.insert(url.file_name()?) {
            return Err(format!(
                "two URLs would be saved as {}: fetch them with separate --output directories",
                url.file_name()?
            )
            .into());
        }
    }
    tokio::fs::create_dir_all(&args.output)
        .await
        .map_err(|error| format!("--output {}: {error}", args.output.display()))?;
    let mut config = client_config(&args)?;
    config.version = args.quic_version.version();

    // Group the URLs by server, keeping the order they were given in.
    let mut servers: Vec<((String, u16), Vec<Url>)> = Vec::new();
    for url in urls {
        let key = (url.host.clone(), url.port);
        match servers.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(url),
            None => servers.push((key, vec![url])),
        }
    }
    let total: usize = servers.iter().map(|(_, list)| list.len()).sum();
    let timeout = Duration::from_secs(args.connect_timeout);
    let mut tasks = JoinSet::new();
    for ((host, port), list) in servers {
        let server = Server {
            host,
            port,
            config: config.clone(),
            timeout,
            zero_rtt: args.zero_rtt,
        };
        tasks.spawn(server.fetch(list, args.output.clone()));
    }
    let mut failed = 0_usize;
    while let Some(result) = tasks.join_next().await {
        failed += result.map_err(|error| format!("a download task failed: {error}"))?;
    }
    if failed > 0 {
        return Err(format!("{failed} of {total} downloads failed").into());
    }
    eprintln!("tern get: all {total} downloads succeeded");
    Ok(())
}

fn client_config(args: &Args) -> Result<ClientConfig, String> {
    if args.insecure {
        eprintln!("tern get: --insecure: the server's certificate is not checked");
        return tls::dangerous_insecure_client_config(&[serve::ALPN]).map_err(|e| e.to_string());
    }
    let ca = args
        .ca
        .as_deref()
        .ok_or("give --ca PEM to trust the server's certificate, or --insecure")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs::load_certificates(ca)? {
        roots
            .add(cert)
            .map_err(|error| format!("--ca {}: unusable certificate: {error}", ca.display()))?;
    }
    tls::client_config(roots, &[serve::ALPN]).map_err(|e| e.to_string())
}

/// One server of a run, and how to reach it.
struct Server {
    host: String,
    port: u16,
    /// The run's client configuration, shared by every connection.
    config: ClientConfig,
    /// `--connect-timeout`.
    timeout: Duration,
    /// `--0rtt`.
    zero_rtt: bool,
}

impl Server {
    /// `host:port`, with brackets around an IPv6 address.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Fetches every URL of this server: over one connection, or with
    /// `--0rtt` and more than one URL the first over a first connection and
    /// the others over a second one in 0-RTT. Returns how many failed (each
    /// failure printed).
    async fn fetch(self, mut urls: Vec<Url>, output: PathBuf) -> usize {
        let authority = self.authority();
        let fail_all = |urls: &[Url], why: String| {
            eprintln!("tern get: {authority}: {why}");
            for url in urls {
                eprintln!("tern get: {url}: failed: no connection");
            }
            urls.len()
        };
        let (endpoint, addr) = match self.bind().await {
            Ok(pair) => pair,
            Err(why) => return fail_all(&urls, why),
        };
        let conn = match self.handshake(&endpoint, addr).await {
            Ok(conn) => conn,
            Err(why) => return fail_all(&urls, why),
        };
        let later = if self.zero_rtt && urls.len() > 1 {
            urls.split_off(1)
        } else {
            Vec::new()
        };
        let mut failed = fetch_over(&conn, urls, &output, &authority).await;
        conn.close(VarInt::from_u32(0), b"done");
        if !later.is_empty() {
            failed += self.fetch_in_0rtt(&endpoint, addr, later, &output).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        failed
    }

    /// Resolves the host and binds a client endpoint for it.
    async fn bind(&self) -> Result<(Endpoint, SocketAddr), String> {
        let (host, port) = (self.host.as_str(), self.port);
        let addr = match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| format!("cannot resolve {host}: check the host name"))?,
        };
        let local: SocketAddr = if addr.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        // The client offers only the version it starts on, so that a server
        // speaking both keeps it there (RFC 9368 §2.2 lets the server pick).
        let runtime = tern::default_runtime().ok_or("no async runtime runs")?;
        let endpoint = Endpoint::new_with_runtime(
            crate::version::offering_only(self.config.version),
            None,
            local,
            runtime,
        )
        .map_err(|error| format!("cannot open a UDP socket: {error}"))?;
        Ok((endpoint, addr))
    }

    /// Completes a handshake with the server, within `--connect-timeout`,
    /// and says so.
    async fn handshake(&self, endpoint: &Endpoint, addr: SocketAddr) -> Result<Connection, String> {
        let connecting = endpoint
            .connect_with(&self.config, addr, &self.host)
            .map_err(|error| format!("cannot connect to {addr}: {error}"))?;
        let conn = match tokio::time::timeout(self.timeout, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => {
                return Err(format!(
                    "cannot connect to {addr}: {error}; check that the server runs there, \
                     speaks hq-interop, and that --ca holds its certificate (or use --insecure)"
                ));
            }
            Err(_) => {
                return Err(format!(
                    "no handshake with {addr} within {:?}: check the address and that the \
                     server runs (or raise --connect-timeout)",
                    self.timeout
                ));
            }
        };
        if let Some(info) = conn.try_handshake_info() {
            eprintln!("tern get: {}: connected{}", self.authority(), how(&info));
        }
        Ok(conn)
    }

    /// Fetches `urls` over a second connection that sends its requests in
    /// 0-RTT when the first connection's ticket allows it (RFC 9001
    /// §4.6.1), and says whether the server accepted them; without such a
    /// ticket the requests wait for the handshake.
    async fn fetch_in_0rtt(
        &self,
        endpoint: &Endpoint,
        addr: SocketAddr,
        urls: Vec<Url>,
        output: &Path,
    ) -> usize {
        let authority = self.authority();
        let connecting = match endpoint.connect_with(&self.config, addr, &self.host) {
            Ok(connecting) => connecting,
            Err(error) => {
                eprintln!("tern get: {authority}: cannot connect again: {error}");
                return urls.len();
            }
        };
        let conn = match connecting.into_0rtt() {
            Ok(conn) if conn.try_handshake_info().is_some() => {
                eprintln!(
                    "tern get: {authority}: second connection: the handshake already \
                     completed, {} requests go in 1-RTT",
                    urls.len()
                );
                conn
            }
            Ok(conn) => {
                eprintln!(
                    "tern get: {authority}: second connection: {} requests sent in 0-RTT",
                    urls.len()
                );
                conn
            }
            Err(_) => {
                eprintln!(
                    "tern get: {authority}: no ticket allows 0-RTT (the server sent none, or \
                     does not take early data): the other requests go after a new handshake"
                );
                return match self.handshake(endpoint, addr).await {
                    Ok(conn) => {
                        let failed = fetch_over(&conn, urls, output, &authority).await;
                        conn.close(VarInt::from_u32(0), b"done");
                        failed
                    }
                    Err(why) => {
                        eprintln!("tern get: {authority}: {why}");
                        urls.len()
                    }
                };
            }
        };
        // The handshake still has --connect-timeout to complete; the
        // requests waiting on it fail if it does not.
        let watchdog = {
            let (conn, timeout) = (conn.clone(), self.timeout);
            tokio::spawn(async move {
                if tokio::time::timeout(timeout, conn.handshake_info())
                    .await
                    .is_err()
                {
                    conn.close(VarInt::from_u32(0), b"handshake timeout");
                }
            })
        };
        let failed = fetch_over(&conn, urls, output, &authority).await;
        watchdog.abort();
        match conn.handshake_info().await {
            Ok(info) => {
                let outcome = match info.early_data() {
                    EarlyData::Accepted => {
                        "0-RTT accepted: the server answered the requests \
                                            without waiting for the handshake"
                    }
                    // RFC 9001 §4.6.2: Tern sent them again in 1-RTT.
                    EarlyData::Rejected => {
                        "0-RTT rejected: the requests were sent again \
                                            after the handshake"
                    }
                    _ => "no 0-RTT",
                };
                eprintln!(
                    "tern get: {authority}: connected again{}; {outcome}",
                    how(&info)
                );
            }
            Err(error) => eprintln!("tern get: {authority}: second handshake failed: {error}"),
        }
        conn.close(VarInt::from_u32(0), b"done");
        failed
    }
}

/// What the `connected` line adds: a Retry followed, a session resumed.
fn how(info: &HandshakeInfo) -> String {
    let mut notes = Vec::new();
    // A server that wants clients to prove their address sends a Retry
    // first (RFC 9000 §8.1.2); the connection follows it by itself.
    if info.retry_used() {
        notes.push("after a Retry");
    }
    if info.resumed() {
        notes.push("resuming a session");
    }
    if info.quic_version() == tern::proto::QUIC_V2 {
        notes.push("on QUIC v2");
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" {}", notes.join(", "))
    }
}

/// Fetches `urls` over `conn`; returns how many failed (each failure
/// printed). The requests are written one after the other from this task,
/// so that they share packets (in 0-RTT, more of them fit in the first
/// flight); each response is saved by a task of its own.
async fn fetch_over(conn: &Connection, urls: Vec<Url>, output: &Path, authority: &str) -> usize {
    let mut failed = 0;
    let mut requests = JoinSet::new();
    for url in urls {
        let start = wall_clock();
        match send(conn, &url).await {
            Ok((send, recv)) => {
                let output = output.to_owned();
                requests.spawn(async move {
                    // Held until the answer is read: dropping a SendStream
                    // forgets the wakers of both halves of its stream, and
                    // a reader already waiting would never be woken.
                    let _send = send;
                    let result = fetch(recv, &url, &output, start).await;
                    (url, result)
                });
            }
            Err(why) => {
                eprintln!("tern get: {url}: failed: {why}");
                failed += 1;
            }
        }
    }
    while let Some(joined) = requests.join_next().await {
        match joined {
            Ok((url, Ok(report))) => eprintln!("tern get: {url}: {report}"),
            Ok((url, Err(why))) => {
                eprintln!("tern get: {url}: failed: {why}");
                failed += 1;
            }
            Err(error) => {
                eprintln!("tern get: {authority}: a request task failed: {error}");
                failed += 1;
            }
        }
    }
    failed
}

/// Saves the response to `url` from `recv` in `output`; returns a line to
/// report. `start` is when the request was sent.
async fn fetch(
    recv: RecvStream,
    url: &Url,
    output: &Path,
    start: Instant,
) -> Result<String, String> {
    let name = url.file_name()?;
    let target = output.join(name);
    let partial = output.join(format!(".{name}.tern-partial"));
    let bytes = match receive(recv, &partial).await {
        Ok(bytes) => bytes,
        Err(why) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(why);
        }
    };
    tokio::fs::rename(&partial, &target)
        .await
        .map_err(|error| format!("cannot rename to {}: {error}", target.display()))?;
    let seconds = wall_clock()
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-9);
    let mib_per_s = bytes as f64 / seconds / (1024.0 * 1024.0);
    Ok(format!(
        "saved {} ({bytes} bytes in {seconds:.3} s, {mib_per_s:.1} MiB/s)",
        target.display()
    ))
}

/// Opens a stream on `conn` and sends the request for `url` on it; returns
/// both halves of the stream.
async fn send(conn: &Connection, url: &Url) -> Result<(SendStream, RecvStream), String> {
    let (mut send, recv) = conn
        .open_bi()
        .await
        .map_err(|error| format!("cannot open a stream: {error}"))?;
    send.write_all(format!("GET {}\r\n", url.path).as_bytes())
        .await
        .and_then(|()| send.finish())
        .or_else(|error| match error {
            // tern serve answers as soon as it has the request line, and
            // the request stream it leaves unread stops our side with code
            // 0: when that overtakes our FIN, the request was read all the
            // same, and the answer follows on `recv`.
            WriteError::Stopped(code) if code.into_inner() == 0 => Ok(()),
            error => Err(error),
        })
        .map_err(|error| match error {
            // The server may refuse a request before it has all of it (one
            // over 4 KiB): it stops our side with the code it also resets
            // its own with, whichever of the two reaches us first.
            WriteError::Stopped(code) => describe(code, "stopped"),
            error => format!("cannot send the request: {error}"),
        })?;
    Ok((send, recv))
}

/// Writes the response on `recv` to `path`; returns its size.
async fn receive(mut recv: RecvStream, path: &Path) -> Result<u64, String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    let mut received = 0_u64;
    loop {
        match recv.read_chunk(usize::MAX).await {
            Ok(Some(chunk)) => {
                file.write_all(&chunk)
                    .await
                    .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
                received += u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            }
            Ok(None) => break,
            Err(ReadError::Reset(code)) => return Err(describe(code, "reset")),
            Err(error) => return Err(format!("after {received} bytes: {error}")),
        }
    }
    file.flush()
        .await
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(received)
}

/// What a reset (or stop) code from `tern serve` means; `how` is what the
/// server did to the stream.
fn describe(code: VarInt, how: &str) -> String {
    let code = code.into_inner();
    let meaning = match u32::try_from(code) {
        Ok(serve::NOT_FOUND) => "not found on the server",
        Ok(serve::BAD_REQUEST) => "the server did not understand the request",
        Ok(serve::FORBIDDEN) => "refused: the path leads outside the server's root",
        Ok(serve::INTERNAL_ERROR) => "the server could not read the file",
        Ok(serve::TOO_EARLY) => "refused in 0-RTT: send it again after the handshake",
        _ => "the server reset the stream",
    };
    format!("{meaning} (stream {how} with code {code:#x})")
}

#[cfg(test)]
mod tests;
