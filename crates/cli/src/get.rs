//! `tern get`: fetch files over HTTP/0.9 on QUIC (ALPN `hq-interop`).
//!
//! One connection per distinct `host:port`, one bidirectional stream per
//! URL, all requests of a connection in flight together.

use std::{
    error::Error,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use tern::{ClientConfig, Connection, Endpoint, ReadError, VarInt, WriteError, tls};
use tokio::{io::AsyncWriteExt as _, task::JoinSet};

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
    let config = client_config(&args)?;

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
        let (config, output) = (config.clone(), args.output.clone());
        tasks.spawn(fetch_from(host, port, list, config, output, timeout));
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

/// Fetches every URL of one server over one connection; returns how many
/// failed (each failure printed).
async fn fetch_from(
    host: String,
    port: u16,
    urls: Vec<Url>,
    config: ClientConfig,
    output: PathBuf,
    timeout: Duration,
) -> usize {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let (endpoint, conn) = match connect(&host, port, &config, timeout).await {
        Ok(pair) => pair,
        Err(why) => {
            eprintln!("tern get: {authority}: {why}");
            for url in &urls {
                eprintln!("tern get: {url}: failed: no connection");
            }
            return urls.len();
        }
    };
    // A server that wants clients to prove their address sends a Retry
    // first (RFC 9000 §8.1.2); the connection follows it by itself.
    let retried = conn
        .try_handshake_info()
        .is_some_and(|info| info.retry_used());
    eprintln!(
        "tern get: {authority}: connected{}",
        if retried { " after a Retry" } else { "" }
    );
    let mut requests = JoinSet::new();
    for url in urls {
        let (conn, output) = (conn.clone(), output.clone());
        requests.spawn(async move {
            let result = fetch(&conn, &url, &output).await;
            (url, result)
        });
    }
    let mut failed = 0;
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
    conn.close(VarInt::from_u32(0), b"done");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    failed
}

/// Resolves `host`, binds a client endpoint and completes the handshake.
async fn connect(
    host: &str,
    port: u16,
    config: &ClientConfig,
    timeout: Duration,
) -> Result<(Endpoint, Connection), String> {
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
    let endpoint =
        Endpoint::client(local).map_err(|error| format!("cannot open a UDP socket: {error}"))?;
    let connecting = endpoint
        .connect_with(config, addr, host)
        .map_err(|error| format!("cannot connect to {addr}: {error}"))?;
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(conn)) => Ok((endpoint, conn)),
        Ok(Err(error)) => Err(format!(
            "cannot connect to {addr}: {error}; check that the server runs there, speaks \
             hq-interop, and that --ca holds its certificate (or use --insecure)"
        )),
        Err(_) => Err(format!(
            "no handshake with {addr} within {timeout:?}: check the address and that the \
             server runs (or raise --connect-timeout)"
        )),
    }
}

/// Requests `url` on a new stream of `conn` and saves the response in
/// `output`; returns a line to report.
async fn fetch(conn: &Connection, url: &Url, output: &Path) -> Result<String, String> {
    let name = url.file_name()?;
    let target = output.join(name);
    let partial = output.join(format!(".{name}.tern-partial"));
    let start = wall_clock();
    let result = receive(conn, url, &partial).await;
    let bytes = match result {
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

/// Sends the request and writes the response to `path`; returns its size.
async fn receive(conn: &Connection, url: &Url, path: &Path) -> Result<u64, String> {
    let (mut send, mut recv) = conn
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
        _ => "the server reset the stream",
    };
    format!("{meaning} (stream {how} with code {code:#x})")
}

#[cfg(test)]
mod tests;
