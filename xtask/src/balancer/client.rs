//! The experiment's client, in-process on the Tern API: many connections
//! from one endpoint through the balancer, each downloading a file and
//! checking it, while the endpoint moves to a fresh socket mid-transfer.
//!
//! Every server serves a file of the same name and size but its own
//! content, so the bytes tell which server a connection reached.

use std::{
    net::{SocketAddr, UdpSocket},
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tern::{Endpoint, VarInt, tls};
use tokio::task::JoinSet;

/// The application protocol `tern serve` speaks (HTTP/0.9, as the interop
/// runner's `hq-interop`).
const ALPN: &[u8] = b"hq-interop";

/// What the client does.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The balancer's front address.
    pub(crate) balancer: SocketAddr,
    /// PEM files of the certificates to trust (one per server).
    pub(crate) certs: Vec<PathBuf>,
    /// The path each connection requests (`/name`).
    pub(crate) path: String,
    /// The content each server serves there, by server index.
    pub(crate) contents: Arc<Vec<Vec<u8>>>,
    /// Connections, all at once.
    pub(crate) connections: usize,
    /// How many times the endpoint moves to a fresh socket, spread evenly
    /// over the bytes to receive.
    pub(crate) rebinds: usize,
    /// When the transfers still running are given up.
    pub(crate) deadline: Duration,
}

/// What became of one connection.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Outcome {
    /// The server whose content the first bytes matched, if any came.
    pub(crate) server: Option<usize>,
    /// Bytes received.
    pub(crate) bytes: u64,
    /// Why it broke; `None` if the whole file came and matched.
    pub(crate) error: Option<String>,
    /// Whether the download ended, well or not, before the deadline.
    #[serde(skip)]
    finished: bool,
}

impl Outcome {
    /// The whole file came and matched.
    pub(crate) fn completed(&self) -> bool {
        self.finished && self.error.is_none()
    }
}

/// Every connection's outcome so far, shared with the downloads.
type Outcomes = Arc<Mutex<Vec<Outcome>>>;

fn update(outcomes: &Outcomes, index: usize, f: impl FnOnce(&mut Outcome)) {
    let mut all = outcomes.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(outcome) = all.get_mut(index) {
        f(outcome);
    }
}

/// What the client saw.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct ClientReport {
    /// One entry per connection.
    pub(crate) outcomes: Vec<Outcome>,
    /// The endpoint's addresses: the first, then one per rebinding.
    pub(crate) addresses: Vec<SocketAddr>,
}

/// Runs the plan on a current-thread runtime of its own.
///
/// # Errors
/// When the runtime, the endpoint or the TLS configuration cannot be set
/// up; broken connections are outcomes, not errors.
pub(crate) fn run(plan: Plan) -> Result<ClientReport, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(download_all(plan))
}

async fn download_all(plan: Plan) -> Result<ClientReport, String> {
    let mut roots = tern::rustls::RootCertStore::empty();
    for path in &plan.certs {
        use tern::rustls::pki_types::{CertificateDer, pem::PemObject};
        let cert =
            CertificateDer::from_pem_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let config = tls::client_config(roots, &[ALPN]).map_err(|e| e.to_string())?;
    let endpoint = Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|e| format!("client endpoint: {e}"))?;
    endpoint.set_default_client_config(config);
    let mut addresses = vec![endpoint.local_addr().map_err(|e| e.to_string())?];

    let received = Arc::new(AtomicU64::new(0));
    let outcomes: Outcomes = Arc::new(Mutex::new(vec![Outcome::default(); plan.connections]));
    let mut tasks = JoinSet::new();
    for index in 0..plan.connections {
        let job = Download {
            endpoint: endpoint.clone(),
            balancer: plan.balancer,
            path: plan.path.clone(),
            contents: Arc::clone(&plan.contents),
            received: Arc::clone(&received),
            index,
            outcomes: Arc::clone(&outcomes),
        };
        tasks.spawn(job.run());
    }
    let size = plan.contents.first().map_or(0, Vec::len);
    let total = u64::try_from(size.saturating_mul(plan.connections)).unwrap_or(u64::MAX);
    let deadline = tokio::time::sleep(plan.deadline);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut done = 0;
    while done < plan.connections {
        tokio::select! {
            joined = tasks.join_next() => {
                if joined.is_none() {
                    break;
                }
                done += 1;
            }
            _ = tick.tick() => {
                // Rebinding k of n happens once k/(n+1) of all bytes came.
                let made = addresses.len() - 1;
                let due = u64::try_from(made + 1).unwrap_or(u64::MAX)
                    .saturating_mul(total)
                    / u64::try_from(plan.rebinds + 1).unwrap_or(u64::MAX);
                if made < plan.rebinds && received.load(Ordering::Relaxed) >= due {
                    let socket = UdpSocket::bind("127.0.0.1:0")
                        .map_err(|e| format!("a socket to rebind to: {e}"))?;
                    endpoint.rebind(socket).map_err(|e| format!("rebind: {e}"))?;
                    addresses.push(endpoint.local_addr().map_err(|e| e.to_string())?);
                }
            }
            () = &mut deadline => break,
        }
    }
    tasks.abort_all();
    endpoint.close(VarInt::from_u32(0), b"done");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    let mut outcomes = outcomes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for outcome in outcomes.iter_mut().filter(|o| !o.finished) {
        outcome.error = Some(format!(
            "stalled: not done after {} s",
            plan.deadline.as_secs()
        ));
    }
    Ok(ClientReport {
        outcomes,
        addresses,
    })
}

/// One connection's download.
struct Download {
    endpoint: Endpoint,
    balancer: SocketAddr,
    path: String,
    contents: Arc<Vec<Vec<u8>>>,
    received: Arc<AtomicU64>,
    index: usize,
    outcomes: Outcomes,
}

impl Download {
    async fn run(self) {
        let result = self.fetch().await;
        update(&self.outcomes, self.index, |o| {
            o.error = result.err();
            o.finished = true;
        });
    }

    /// Connects, sends `GET path` and reads the answer, checking each
    /// chunk against the content of the server it matched first.
    async fn fetch(&self) -> Result<(), String> {
        let connection = self
            .endpoint
            .connect(self.balancer, "localhost")
            .map_err(|e| format!("connect: {e}"))?
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (mut send, mut recv) = connection
            .open_bi()
            .await
            .map_err(|e| format!("open a stream: {e}"))?;
        send.write_all(format!("GET {}\r\n", self.path).as_bytes())
            .await
            .map_err(|e| format!("send the request: {e}"))?;
        send.finish()
            .map_err(|e| format!("finish the request: {e}"))?;
        let mut offset = 0_usize;
        let mut server = None;
        while let Some(chunk) = recv
            .read_chunk(64 * 1024)
            .await
            .map_err(|e| format!("after {offset} bytes: {e}"))?
        {
            let end = offset + chunk.len();
            let from = match server {
                Some(from) => from,
                None => {
                    let from = self
                        .contents
                        .iter()
                        .position(|c| c.get(offset..end) == Some(&chunk[..]))
                        .ok_or("the first bytes are no server's content")?;
                    server = Some(from);
                    update(&self.outcomes, self.index, |o| o.server = Some(from));
                    from
                }
            };
            let expected = self.contents.get(from).and_then(|c| c.get(offset..end));
            if expected != Some(&chunk[..]) {
                return Err(format!("wrong content at bytes {offset}..{end}"));
            }
            offset = end;
            let n = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            update(&self.outcomes, self.index, |o| o.bytes += n);
            self.received.fetch_add(n, Ordering::Relaxed);
        }
        let size = self.contents.get(server.unwrap_or(0)).map_or(0, Vec::len);
        if offset != size {
            return Err(format!("the file ended after {offset} of {size} bytes"));
        }
        connection.close(VarInt::from_u32(0), b"done");
        Ok(())
    }
}
