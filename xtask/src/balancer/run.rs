//! `cargo xtask balancer`: a fleet of `tern serve` processes issuing
//! QUIC-LB connection IDs behind the test balancer, and a client whose
//! address changes mid-transfer.

use std::{
    collections::{BTreeMap, hash_map::RandomState},
    fs,
    hash::BuildHasher,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, mpsc},
    time::Duration,
};

use rand::{RngCore, SeedableRng, rngs::StdRng};

use super::{
    client::{self, ClientReport, Plan},
    decode::{Decoder, LbConfig, hex},
    relay::{Balancer, Report},
    route::{Mode, Router},
};

/// Options of `cargo xtask balancer`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The `tern` binary to run (it must have `serve --quic-lb-config`);
    /// without it, tern-cli is built in release mode and that one runs.
    #[arg(long, value_name = "PATH")]
    tern_bin: Option<PathBuf>,
    /// How the balancer routes: by the CIDs' server IDs, or by a hash of
    /// the client's address (the control, which QUIC-LB exists to beat).
    #[arg(long, value_enum, default_value_t = Mode::Cid)]
    route: Mode,
    /// CIDs in clear: the configurations carry no key.
    #[arg(long)]
    plaintext: bool,
    /// Servers behind the balancer.
    #[arg(long, default_value_t = 3)]
    servers: usize,
    /// Connections from the one client endpoint, all at once.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// The size of the file each connection downloads, in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    file_size: usize,
    /// How many times the client moves to a fresh socket mid-transfer.
    #[arg(long, default_value_t = 1)]
    rebinds: usize,
    /// The configurations' config rotation codepoint (0 to 6).
    #[arg(long, default_value_t = 1)]
    config_id: u8,
    /// Server ID length in octets.
    #[arg(long, default_value_t = 3)]
    server_id_length: usize,
    /// Nonce length in octets.
    #[arg(long, default_value_t = 4)]
    nonce_length: usize,
    /// Seconds after which transfers still running count as broken.
    #[arg(long, default_value_t = 20)]
    deadline: u64,
    /// Also write the report here, as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The whole run's report.
#[derive(Debug, serde::Serialize)]
struct RunReport {
    route: String,
    keyed: bool,
    servers: Vec<ServerReport>,
    connections: usize,
    completed: usize,
    broken: usize,
    /// Bytes the broken connections had received, all together.
    broken_bytes: u64,
    /// The size of each download.
    file_size: usize,
    rebinds: usize,
    client_addresses: Vec<SocketAddr>,
    elapsed_seconds: f64,
    balancer: Report,
    /// Why connections broke, with their counts.
    errors: BTreeMap<String, usize>,
}

#[derive(Debug, serde::Serialize)]
struct ServerReport {
    server_id: String,
    address: SocketAddr,
    /// Connections whose first bytes came from this server.
    connections: usize,
    completed: usize,
}

/// Runs the experiment and prints its report; fails, in the CID mode, if
/// a connection broke, a server got none, or the client never rebound.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    if args.servers == 0 || args.servers > 200 {
        return Err("--servers takes 1 to 200".into());
    }
    let tern = match &args.tern_bin {
        Some(path) => path.clone(),
        None => build_tern()?,
    };
    let dir = TempDir::new()?;
    let keyed = !args.plaintext;
    let key = keyed.then(random_key);
    let sids = server_ids(args.servers, args.server_id_length);
    let mut config = LbConfig::new(
        args.config_id,
        args.server_id_length,
        args.nonce_length,
        key,
    )?;
    let mut fleet = Fleet::default();
    let mut contents = Vec::new();
    let mut certs = Vec::new();
    for (i, sid) in sids.iter().enumerate() {
        let root = dir.0.join(format!("root{i}"));
        fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let content = file_content(i, args.file_size);
        fs::write(root.join("file.bin"), &content).map_err(|e| format!("file.bin: {e}"))?;
        contents.push(content);
        let lb_json = dir.0.join(format!("quic-lb{i}.json"));
        fs::write(&lb_json, server_config_json(args, key.as_ref(), sid))
            .map_err(|e| format!("{}: {e}", lb_json.display()))?;
        let cert = dir.0.join(format!("cert{i}.pem"));
        let log = dir.0.join(format!("server{i}.log"));
        let address = fleet.spawn(&tern, &root, &lb_json, &cert, &log)?;
        config.add_server(sid, address)?;
        certs.push(cert);
    }
    let mut decoder = Decoder::default();
    let cid_len = config.cid_len();
    decoder.insert(config);
    let seed = RandomState::new().hash_one(0u8);
    let router = Router::new(decoder, fleet.addresses.clone(), cid_len, args.route, seed)?;
    let balancer = Balancer::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        router,
        Duration::from_secs(30),
    )
    .map_err(|e| format!("cannot start the balancer: {e}"))?;
    let started = crate::now();
    let client = client::run(Plan {
        balancer: balancer.local_addr(),
        certs,
        path: "/file.bin".into(),
        contents: Arc::new(contents),
        connections: args.connections,
        rebinds: args.rebinds,
        deadline: Duration::from_secs(args.deadline),
    })?;
    let elapsed = started.elapsed();
    let balancer = balancer.stop();
    let addresses = fleet.addresses.clone();
    drop(fleet);
    drop(dir);
    let report = summarize(args, &sids, &addresses, client, balancer, elapsed);
    print_report(&report);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    verdict(args, &report)
}

/// Builds tern-cli in release mode; returns the binary's path.
fn build_tern() -> Result<PathBuf, String> {
    let root = crate::workspace_root();
    eprintln!("balancer: building tern-cli (release)");
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--release", "--quiet", "-p", "tern-cli"])
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build -p tern-cli: {status}"));
    }
    Ok(crate::interop::peers::cargo_target_dir(&root).join("release/tern"))
}

/// A fresh 16-octet key from the standard library's per-process random
/// hasher keys (xtask's rand has no OS source).
fn random_key() -> [u8; 16] {
    let (a, b) = (
        RandomState::new().hash_one(1u8),
        RandomState::new().hash_one(2u8),
    );
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&a.to_be_bytes());
    key[8..].copy_from_slice(&b.to_be_bytes());
    key
}

/// Distinct server IDs: the first octet numbers the server (from 1), the
/// rest is random.
fn server_ids(servers: usize, len: usize) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(RandomState::new().hash_one(3u8));
    (1..=servers)
        .map(|n| {
            let mut sid = vec![0u8; len.max(1)];
            rng.fill_bytes(&mut sid);
            sid[0] = u8::try_from(n).unwrap_or(u8::MAX);
            sid
        })
        .collect()
}

/// Server `index`'s file: seeded bytes of its own.
fn file_content(index: usize, size: usize) -> Vec<u8> {
    let mut content = vec![0u8; size];
    StdRng::seed_from_u64(0x6c62 + u64::try_from(index).unwrap_or(0)).fill_bytes(&mut content);
    content
}

/// Octets as `8f:95:f0`, the YANG hex-string form.
fn colon_hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(":")
}

/// A server's `--quic-lb-config` file, in the shape of the draft's YANG
/// server model (draft-ietf-quic-load-balancers Appendix A).
fn server_config_json(args: &Args, key: Option<&[u8; 16]>, sid: &[u8]) -> String {
    let mut lb = serde_json::json!({
        "config-id": args.config_id,
        "first-octet-encodes-cid-length": true,
        "server-id-length": args.server_id_length,
        "nonce-length": args.nonce_length,
        "server-id": colon_hex(sid),
    });
    if let (Some(key), Some(map)) = (key, lb.as_object_mut()) {
        map.insert("cid-key".into(), colon_hex(key).into());
    }
    serde_json::json!({ "ietf-quic-lb-server:quic-lb": lb }).to_string()
}

/// The `tern serve` processes; dropping it kills them.
#[derive(Debug, Default)]
struct Fleet {
    children: Vec<Child>,
    addresses: Vec<SocketAddr>,
}

impl Fleet {
    /// Starts `tern serve` on a free loopback port and returns its address.
    fn spawn(
        &mut self,
        tern: &Path,
        root: &Path,
        lb_config: &Path,
        cert: &Path,
        log: &Path,
    ) -> Result<SocketAddr, String> {
        let log_file = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(tern)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--retry", "never", "--root"])
            .arg(root)
            .arg("--write-cert")
            .arg(cert)
            .arg("--quic-lb-config")
            .arg(lb_config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("{}: {e}", tern.display()))?;
        let stdout = child.stdout.take();
        self.children.push(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep reading, so that the server never writes to a closed pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .ok()
            .flatten()
            .and_then(Result::ok)
            .unwrap_or_default();
        let address = line
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| {
                let stderr = fs::read_to_string(log).unwrap_or_default();
                format!("tern serve did not start (stdout {line:?}): {stderr}")
            })?;
        self.addresses.push(address);
        Ok(address)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A directory of its own under the system's temporary directory, removed
/// when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("tern-xtask-balancer-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn summarize(
    args: &Args,
    sids: &[Vec<u8>],
    addresses: &[SocketAddr],
    client: ClientReport,
    balancer: Report,
    elapsed: Duration,
) -> RunReport {
    let servers = sids
        .iter()
        .enumerate()
        .map(|(i, sid)| {
            let mine = client.outcomes.iter().filter(|o| o.server == Some(i));
            ServerReport {
                server_id: hex(sid),
                address: addresses
                    .get(i)
                    .copied()
                    .unwrap_or(SocketAddr::from(([0; 4], 0))),
                connections: mine.clone().count(),
                completed: mine.filter(|o| o.completed()).count(),
            }
        })
        .collect();
    let completed = client.outcomes.iter().filter(|o| o.completed()).count();
    let mut errors = BTreeMap::new();
    for error in client.outcomes.iter().filter_map(|o| o.error.clone()) {
        *errors.entry(error).or_default() += 1;
    }
    RunReport {
        route: format!("{:?}", args.route),
        keyed: !args.plaintext,
        servers,
        connections: client.outcomes.len(),
        completed,
        broken: client.outcomes.len() - completed,
        broken_bytes: client
            .outcomes
            .iter()
            .filter(|o| !o.completed())
            .map(|o| o.bytes)
            .sum(),
        file_size: args.file_size,
        rebinds: client.addresses.len().saturating_sub(1),
        client_addresses: client.addresses,
        elapsed_seconds: elapsed.as_secs_f64(),
        balancer,
        errors,
    }
}

fn print_report(report: &RunReport) {
    let b = &report.balancer;
    println!(
        "balancer: route by {}, {} CIDs: {} connections, {} completed, {} broken, {} rebind(s) ({}) in {:.1} s",
        report.route,
        if report.keyed {
            "encrypted"
        } else {
            "plaintext"
        },
        report.connections,
        report.completed,
        report.broken,
        report.rebinds,
        report
            .client_addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" -> "),
        report.elapsed_seconds,
    );
    for (i, server) in report.servers.iter().enumerate() {
        println!(
            "  server {i} (id {}, {}): {} connections, {} completed, {} datagrams from clients",
            server.server_id,
            server.address,
            server.connections,
            server.completed,
            b.per_backend.get(i).copied().unwrap_or(0),
        );
    }
    println!(
        "  datagrams: {} routed by CID, {} by fallback {:?}, {} by 4-tuple, {} dropped; {} replies relayed; {} client addresses mapped",
        b.routed_by_cid,
        b.routed_by_fallback,
        b.fallback_reasons,
        b.routed_by_4tuple,
        b.dropped,
        b.replies,
        b.mappings_created,
    );
    for (error, count) in &report.errors {
        println!("  broken: {count} x {error}");
    }
    if report.broken > 0 {
        let each = report.broken_bytes / u64::try_from(report.broken).unwrap_or(1);
        println!(
            "  the broken connections had received {each} of {} bytes each on average",
            report.file_size
        );
    }
}

/// The CID mode must carry every connection across the rebinding, on
/// every server; the 4-tuple mode is a demonstration and never fails.
fn verdict(args: &Args, report: &RunReport) -> Result<(), String> {
    if args.route == Mode::FourTuple {
        println!("  (4-tuple control: reported, not judged)");
        return Ok(());
    }
    let mut failures = Vec::new();
    if report.broken > 0 {
        failures.push(format!("{} connections broke", report.broken));
    }
    for (i, server) in report.servers.iter().enumerate() {
        if server.connections == 0 {
            failures.push(format!("server {i} got no connection"));
        }
    }
    if report.rebinds < args.rebinds {
        failures.push(format!(
            "the client rebound {} of {} times",
            report.rebinds, args.rebinds
        ));
    }
    if report.balancer.routed_by_cid == 0 {
        failures.push("no datagram was routed by its CID".into());
    }
    if failures.is_empty() {
        println!("  PASS");
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
