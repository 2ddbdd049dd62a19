//! The client role: fetches every URL in `REQUESTS` over HTTP/0.9 and writes
//! the bodies to `DOWNLOADS`. Under `keyupdate` it updates the 1-RTT keys
//! once the first bytes of a response arrive, early in the transfer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use quinn::crypto::rustls::QuicClientConfig;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Semaphore;

use crate::{TestCase, env, qlog_stream, tls, transport_config};

/// Requests in flight at once on one connection. quinn's `open_bi` also
/// waits for the server's stream credit, so this only bounds our own tasks.
const CONCURRENT_REQUESTS: usize = 128;

/// One URL of `REQUESTS`, taken apart.
#[derive(Clone, Debug)]
struct Request {
    /// The URL as given, for messages.
    url: String,
    /// Host name or IP literal (without brackets).
    host: String,
    /// UDP port, 443 if the URL names none.
    port: u16,
    /// The path sent in the `GET` line.
    path: String,
    /// The last path segment: the file name under `DOWNLOADS`.
    file_name: String,
}

impl Request {
    /// Parses `https://host[:port]/path`; the host may be a bracketed IPv6 literal.
    fn parse(url: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("bad URL {url:?}: {why}");
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| bad("not https://"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(port) => port.parse().map_err(|_| bad("bad port"))?,
            None => 443,
        };
        let file_name = path.rsplit('/').next().unwrap_or_default();
        if host.is_empty() || file_name.is_empty() || file_name == ".." || file_name == "." {
            return Err(bad("no host or no file name"));
        }
        Ok(Self {
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            file_name: file_name.to_owned(),
        })
    }

    /// The TLS server name: the host, or "localhost" for IP literals.
    fn server_name(&self) -> &str {
        if self.host.parse::<IpAddr>().is_ok() {
            "localhost"
        } else {
            &self.host
        }
    }

    /// Resolves the host to its first socket address.
    async fn resolve(&self) -> Result<SocketAddr, String> {
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("resolving {}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", self.host))
    }
}

/// Runs the client; `Ok` only if every file was downloaded completely.
pub(crate) async fn run(testcase: TestCase) -> Result<(), String> {
    let downloads = Arc::new(PathBuf::from(env("DOWNLOADS")?));
    let requests = env("REQUESTS")?
        .split_whitespace()
        .map(Request::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let first = requests.first().ok_or("REQUESTS names no URL")?;
    let crypto = tls::client_crypto(testcase)?;

    // Bind the family of the server's address, so no dual-stack socket is needed.
    let remote = first.resolve().await?;
    let local: SocketAddr = match remote {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let endpoint = quinn::Endpoint::client(local).map_err(|e| format!("binding {local}: {e}"))?;

    let total = requests.len();
    let mut errors = Vec::new();
    if testcase == TestCase::Multiconnect {
        for (index, request) in requests.iter().enumerate() {
            let connection = match connect(testcase, &endpoint, &crypto, request, index).await {
                Ok(connection) => connection,
                Err(e) => {
                    // A server that failed one handshake would make every
                    // later URL wait out its own idle timeout: give up.
                    errors.push(e);
                    errors.push(format!("{} later URLs not tried", total - index - 1));
                    break;
                }
            };
            let result = fetch(&connection, request, &downloads, None).await;
            // The closed connection sends its CONNECTION_CLOSE and waits out
            // its closing period (three PTOs, which heavy loss stretches to
            // tens of seconds) in the background while the next handshake
            // starts, as tern-interop's client does.
            connection.close(0u32.into(), b"");
            if let Err(e) = result {
                errors.push(e);
            }
        }
    } else if matches!(testcase, TestCase::Resumption | TestCase::ZeroRtt) {
        errors = resume(testcase, &endpoint, &crypto, requests, &downloads).await;
    } else {
        match connect(testcase, &endpoint, &crypto, first, 0).await {
            Ok(connection) => {
                let key_update = testcase == TestCase::KeyUpdate;
                errors = fetch_all(&connection, requests, &downloads, key_update).await;
                connection.close(0u32.into(), b"");
            }
            Err(e) => errors.push(e),
        }
    }
    endpoint.wait_idle().await;

    if errors.is_empty() {
        return Ok(());
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Err("not every file was downloaded".to_owned())
}

/// Fetches the first of `requests` over a first connection, which brings
/// the server's session tickets, then the others over a second connection
/// that resumes the session with one of them; under `zerortt` the second
/// connection sends its requests in 0-RTT, before its handshake completes.
/// Returns the errors.
async fn resume(
    testcase: TestCase,
    endpoint: &quinn::Endpoint,
    crypto: &Arc<QuicClientConfig>,
    mut requests: Vec<Request>,
    downloads: &Arc<PathBuf>,
) -> Vec<String> {
    let rest = requests.split_off(1);
    let Some(first) = requests.first() else {
        return Vec::new();
    };
    let connection = match connect(testcase, endpoint, crypto, first, 0).await {
        Ok(connection) => connection,
        Err(e) => return vec![e],
    };
    let mut errors: Vec<String> = fetch(&connection, first, downloads, None)
        .await
        .err()
        .into_iter()
        .collect();
    connection.close(0u32.into(), b"");
    if rest.is_empty() {
        return errors;
    }
    let (connecting, remote) = match start(testcase, endpoint, crypto, first, 1).await {
        Ok(started) => started,
        Err(e) => {
            errors.push(e);
            return errors;
        }
    };
    let (connection, accepted) = if testcase == TestCase::ZeroRtt {
        match connecting.into_0rtt() {
            Ok((connection, accepted)) => (connection, Some(accepted)),
            Err(connecting) => {
                eprintln!("no ticket allowing 0-RTT: the requests wait for the handshake");
                match connecting.await {
                    Ok(connection) => (connection, None),
                    Err(e) => {
                        errors.push(format!("handshake with {remote}: {e}"));
                        return errors;
                    }
                }
            }
        }
    } else {
        match connecting.await {
            Ok(connection) => (connection, None),
            Err(e) => {
                errors.push(format!("handshake with {remote}: {e}"));
                return errors;
            }
        }
    };
    errors.extend(fetch_all(&connection, rest, downloads, false).await);
    if let Some(accepted) = accepted {
        eprintln!("0-RTT accepted by the server: {}", accepted.await);
    }
    connection.close(0u32.into(), b"");
    errors
}

/// Starts a handshake with the server of `request`; `index` names the qlog
/// file.
async fn start(
    testcase: TestCase,
    endpoint: &quinn::Endpoint,
    crypto: &Arc<QuicClientConfig>,
    request: &Request,
    index: usize,
) -> Result<(quinn::Connecting, SocketAddr), String> {
    let remote = request.resolve().await?;
    let mut config = quinn::ClientConfig::new(crypto.clone());
    // The runner bounds the client's 1-RTT payload in `zerortt` (half of
    // what the request names add up to) and counts the padding of quinn's
    // path MTU probes, 1-RTT packets of up to 1,400 bytes, as payload: the
    // probes of the case's two connections alone pass the bound. The path
    // MTU is not what the case tests.
    let mtu_discovery = testcase != TestCase::ZeroRtt;
    config.transport_config(transport_config(
        qlog_stream(&format!("client-{index}"), "quinn-peer client"),
        mtu_discovery,
    ));
    let connecting = endpoint
        .connect_with(config, remote, request.server_name())
        .map_err(|e| format!("connecting to {remote}: {e}"))?;
    Ok((connecting, remote))
}

/// Connects to the server of `request`; `index` names the qlog file.
async fn connect(
    testcase: TestCase,
    endpoint: &quinn::Endpoint,
    crypto: &Arc<QuicClientConfig>,
    request: &Request,
    index: usize,
) -> Result<quinn::Connection, String> {
    let (connecting, remote) = start(testcase, endpoint, crypto, request, index).await?;
    connecting
        .await
        .map_err(|e| format!("handshake with {remote}: {e}"))
}

/// Fetches all `requests` over `connection` in parallel streams, at most
/// [`CONCURRENT_REQUESTS`] at a time; returns the errors. With
/// `key_update`, the first response to bring bytes updates the keys.
async fn fetch_all(
    connection: &quinn::Connection,
    requests: Vec<Request>,
    downloads: &Arc<PathBuf>,
    key_update: bool,
) -> Vec<String> {
    let once = key_update.then(|| Arc::new(Once::new()));
    let permits = Arc::new(Semaphore::new(CONCURRENT_REQUESTS));
    let mut tasks = tokio::task::JoinSet::new();
    for request in requests {
        let connection = connection.clone();
        let downloads = downloads.clone();
        let permits = permits.clone();
        let once = once.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
            fetch(&connection, &request, &downloads, once.as_deref()).await
        });
    }
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("request task failed: {e}")),
        }
    }
    errors
}

/// Sends `GET path` on a new stream and writes the whole response body to
/// `downloads/<file name>`; an error if the stream is reset or cut short.
/// With `key_update`, the first bytes of the response update the keys
/// (once over all the requests that share it).
async fn fetch(
    connection: &quinn::Connection,
    request: &Request,
    downloads: &Path,
    key_update: Option<&Once>,
) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{}: {what}: {e}", request.url);
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|e| fail("opening a stream", &e))?;
    send.write_all(format!("GET {}\r\n", request.path).as_bytes())
        .await
        .map_err(|e| fail("sending the request", &e))?;
    send.finish()
        .map_err(|e| fail("finishing the request", &e))?;

    let destination = downloads.join(&request.file_name);
    let mut file = tokio::fs::File::create(&destination)
        .await
        .map_err(|e| fail(&format!("creating {}", destination.display()), &e))?;
    let received = async {
        if let Some(once) = key_update {
            let first = recv
                .read_chunk(usize::MAX, true)
                .await
                .map_err(|e| fail("receiving the response", &e))?;
            if let Some(chunk) = first {
                file.write_all(&chunk.bytes)
                    .await
                    .map_err(|e| fail("writing the file", &e))?;
                // The server's HANDSHAKE_DONE normally came before its
                // first response bytes: the handshake is confirmed
                // (RFC 9001 §6.1). quinn checks only that it completed.
                once.call_once(|| {
                    connection.force_key_update();
                    eprintln!("key update: started on the first bytes of {}", request.url);
                });
            }
        }
        tokio::io::copy(&mut recv, &mut file)
            .await
            .map_err(|e| fail("receiving the response", &e))?;
        // tokio writes in the background: flush before the file counts as done.
        file.flush().await.map_err(|e| fail("writing the file", &e))
    }
    .await;
    if received.is_err() {
        // No partial file that a checker could mistake for a download.
        drop(file);
        let _ = tokio::fs::remove_file(&destination).await;
    }
    received
}
