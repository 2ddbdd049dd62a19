//! One run: a case between one client and one server, through the proxy,
//! with everything it leaves behind in a directory of its own.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

use super::{
    cases::Case,
    check::{self, Sides},
    peers::Peer,
};
use crate::proxy::{Proxy, SecondRoute};

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Every condition held.
    Pass,
    /// A condition failed; the reason says which.
    Fail(String),
    /// One of the two said it cannot do this case (exit 127).
    Unsupported(String),
}

/// The result of one run.
#[derive(Clone, Debug)]
pub(crate) struct RunResult {
    /// The client's name.
    pub(crate) client: String,
    /// The server's name.
    pub(crate) server: String,
    /// The case's name.
    pub(crate) case: &'static str,
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// Wall time of the client.
    pub(crate) seconds: f64,
    /// For measurements: the goodput in Mbit/s.
    pub(crate) goodput_mbps: Option<f64>,
}

/// The files of a run.
pub(crate) struct RunDir {
    /// What the server serves.
    pub(crate) www: PathBuf,
    /// What the client downloaded.
    pub(crate) downloads: PathBuf,
    certs: PathBuf,
    logs: PathBuf,
}

impl RunDir {
    fn create(root: &Path) -> Result<Self, String> {
        let _ = std::fs::remove_dir_all(root);
        let dir = Self {
            www: root.join("www"),
            downloads: root.join("downloads"),
            certs: root.join("certs"),
            logs: root.join("logs"),
        };
        for sub in [&dir.www, &dir.downloads, &dir.certs, &dir.logs] {
            std::fs::create_dir_all(sub).map_err(|e| format!("{}: {e}", sub.display()))?;
        }
        for sub in ["qlog/client", "qlog/server", "pcap"] {
            std::fs::create_dir_all(dir.logs.join(sub)).map_err(|e| e.to_string())?;
        }
        Ok(dir)
    }

    /// The capture of the client's side of the link.
    pub(crate) fn client_capture(&self) -> PathBuf {
        self.logs.join("pcap/client.pcap")
    }

    /// The log paths a failure points at.
    pub(crate) fn describe(&self) -> String {
        format!(
            "logs: {l}/server.log {l}/client.log; key logs: {l}/keys-client.log {l}/keys-server.log; \
             qlog: {l}/qlog/; capture: {l}/pcap/; proxy report: {l}/proxy.json",
            l = self.logs.display()
        )
    }
}

/// Random names of lowercase letters ([`Case::name_length`]) and random
/// contents, as the runner makes them.
fn make_files(rng: &mut StdRng, www: &Path, case: &Case) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for &(count, size) in case.files {
        for _ in 0..count {
            let name: String = (0..case.name_length)
                .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                .collect();
            let mut data = vec![0; size];
            rng.fill_bytes(&mut data);
            std::fs::write(www.join(&name), data).map_err(|e| e.to_string())?;
            names.push(name);
        }
    }
    Ok(names)
}

fn free_port() -> Result<u16, String> {
    std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free UDP port: {e}"))
}

/// A child process whose output goes to a log file, and that is killed
/// when dropped.
struct Process {
    child: Child,
    ready: mpsc::Receiver<()>,
}

impl Process {
    fn spawn(mut command: Command, log: &Path) -> Result<Self, String> {
        let file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let stderr = file.try_clone().map_err(|e| e.to_string())?;
        command.stdout(Stdio::piped()).stderr(stderr);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let (tx, ready) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let mut file = file;
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("listening") {
                        let _ = tx.send(());
                    }
                    let _ = writeln!(file, "{line}");
                }
            });
        }
        Ok(Self { child, ready })
    }

    /// Waits for the exit or the deadline; `None` when it timed out.
    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if crate::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the server says it is listening; `Err` with its exit
    /// status when it exited first.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), Option<ExitStatus>> {
        let deadline = crate::now() + timeout;
        loop {
            if self.ready.recv_timeout(Duration::from_millis(20)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Some(status));
            }
            if crate::now() >= deadline {
                return Err(None);
            }
        }
    }

    /// Asks it to stop (SIGTERM) so it can flush its logs, then kills it.
    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let _ = self.wait_until(crate::now() + Duration::from_secs(2));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last non-empty line of a log, for an unsupported case's reason.
fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("exit code 127")
        .trim()
        .to_owned()
}

fn contract(command: &mut Command, role: &str, case: &Case, dir: &RunDir) {
    let testcase = match (role, case.server_endpoint_case) {
        ("server", Some(server_case)) => server_case,
        _ => case.endpoint_case,
    };
    command
        .env("ROLE", role)
        .env("TESTCASE", testcase)
        .env("SSLKEYLOGFILE", dir.logs.join(format!("keys-{role}.log")))
        .env("QLOGDIR", dir.logs.join("qlog").join(role));
}

/// Waits until the server listens: `Ok(None)` then, the outcome when it
/// said it does not support the case (exit 127), `Err` when it failed.
fn server_ready(
    process: &mut Process,
    server: &Peer,
    log: &Path,
    dir: &RunDir,
) -> Result<Option<Outcome>, String> {
    match process.wait_ready(Duration::from_secs(20)) {
        Ok(()) => Ok(None),
        Err(Some(status)) if status.code() == Some(127) => Ok(Some(Outcome::Unsupported(format!(
            "{} server: {}",
            server.name,
            last_line(log)
        )))),
        Err(Some(status)) => Err(format!(
            "server exited at start ({status}); {}",
            dir.describe()
        )),
        Err(None) => Err(format!(
            "server never said it was listening; {}",
            dir.describe()
        )),
    }
}

/// Gives the proxy a second address leading to `server` and tells the
/// server, in `PREFERRED_ADDRESS`, to offer it as its preferred address.
/// Not the runner's contract, which lets the server choose: here the
/// preferred address must be the proxy's, for the captures to see the
/// client move to it.
fn offer_preferred_address(
    command: &mut Command,
    network: &mut crate::proxy::ProxyConfig,
    server: SocketAddr,
) -> Result<(), String> {
    let preferred = SocketAddr::new(server.ip(), free_port()?);
    network.second_route = Some(SecondRoute {
        listen: preferred,
        server,
    });
    command.env("PREFERRED_ADDRESS", preferred.to_string());
    Ok(())
}

/// Runs `case` with `client` against `server` in `root`.
pub(crate) fn run(
    case: &Case,
    client: &Peer,
    server: &Peer,
    root: PathBuf,
    seed: u64,
) -> RunResult {
    let mut result = RunResult {
        client: client.name.clone(),
        server: server.name.clone(),
        case: case.name,
        outcome: Outcome::Pass,
        seconds: 0.0,
        goodput_mbps: None,
    };
    match run_inner(case, client, server, root, seed, &mut result) {
        Ok(outcome) => result.outcome = outcome,
        Err(reason) => result.outcome = Outcome::Fail(reason),
    }
    result
}

fn run_inner(
    case: &Case,
    client: &Peer,
    server: &Peer,
    root: PathBuf,
    seed: u64,
    result: &mut RunResult,
) -> Result<Outcome, String> {
    let dir = RunDir::create(&root)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let files = make_files(&mut rng, &dir.www, case)?;
    super::certs::write_chain(&dir.certs, case.chain_length)?;
    let loopback = if case.ipv6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };

    let port = free_port()?;
    let server_addr = SocketAddr::new(loopback, port);
    let mut network = (case.network)(seed);
    network.pcap_dir = Some(dir.logs.join("pcap"));
    let mut command = server.command();
    contract(&mut command, "server", case, &dir);
    command
        .env("WWW", &dir.www)
        .env("CERTS", &dir.certs)
        .env("PORT", port.to_string());
    if case.preferred_address {
        offer_preferred_address(&mut command, &mut network, server_addr)?;
    }
    let server_log = dir.logs.join("server.log");
    let mut server_process = Process::spawn(command, &server_log)?;
    if let Some(unsupported) = server_ready(&mut server_process, server, &server_log, &dir)? {
        return Ok(unsupported);
    }

    let proxy = Proxy::start(SocketAddr::new(loopback, 0), server_addr, network)
        .map_err(|e| format!("cannot start the proxy: {e}"))?;
    let proxy_addr = proxy.local_addr();
    let second_addr = proxy.second_addr();

    let requests: Vec<String> = files
        .iter()
        .map(|f| format!("https://{proxy_addr}/{f}"))
        .collect();
    let mut command = client.command();
    contract(&mut command, "client", case, &dir);
    command
        .env("REQUESTS", requests.join(" "))
        .env("DOWNLOADS", &dir.downloads);
    let client_log = dir.logs.join("client.log");
    let started = crate::now();
    let mut client_process = Process::spawn(command, &client_log)?;
    let status = client_process.wait_until(started + case.timeout);
    result.seconds = started.elapsed().as_secs_f64();
    // Let the server take in the client's close before it is stopped.
    std::thread::sleep(Duration::from_millis(200));
    drop(client_process);
    drop(server_process);
    let report = proxy.stop();
    let _ = std::fs::write(
        dir.logs.join("proxy.json"),
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );

    match status {
        None => Err(format!(
            "the client did not finish within {:?}; {}",
            case.timeout,
            dir.describe()
        )),
        Some(status) if status.code() == Some(127) => Ok(Outcome::Unsupported(format!(
            "{} client: {}",
            client.name,
            last_line(&client_log)
        ))),
        Some(status) if !status.success() => Err(format!(
            "the client failed ({status}): {}; {}",
            last_line(&client_log),
            dir.describe()
        )),
        Some(_) => {
            if case.measure_goodput {
                let bytes: usize = case.files.iter().map(|(n, size)| n * size).sum();
                #[expect(clippy::cast_precision_loss, reason = "a figure for people to read")]
                let bits = (bytes * 8) as f64;
                result.goodput_mbps = Some(bits / result.seconds / 1e6);
            }
            let sides = Sides {
                proxy: std::iter::once(proxy_addr).chain(second_addr).collect(),
                server: vec![server_addr],
            };
            match check::verify(case, &dir, &files, &report, &sides) {
                Ok(()) => Ok(Outcome::Pass),
                Err(reason) => Err(format!("{reason}; {}", dir.describe())),
            }
        }
    }
}
