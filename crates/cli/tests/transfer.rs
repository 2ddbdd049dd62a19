//! `tern serve` and `tern get` as processes on loopback, and `tern get`
//! against an aioquic server.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

use std::{
    fs,
    io::{BufRead, BufReader},
    net::{SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use rand::{RngCore, SeedableRng, rngs::StdRng};

const TERN: &str = env!("CARGO_BIN_EXE_tern");
const BIG: usize = 50 * 1024 * 1024;
const SEED: u64 = 0x7e57_5eed;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("root")).unwrap();
    dir
}

/// Writes `len` bytes from a generator seeded with `seed`; returns them.
fn random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    println!("{}: {len} bytes, seed {seed:#x}", path.display());
    let mut data = vec![0; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, &data).unwrap();
    data
}

/// A server process that printed `listening on ADDR` on stdout.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(program: &str, args: &[&str], log: PathBuf) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!(
                "{program} did not start: {line:?}\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        Self { child, port, log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the server to exit by itself; kills it after 30 s.
    fn wait(mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("the server did not exit by itself:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tern_serve(dir: &Path, max_connections: u32) -> Server {
    tern_serve_with(dir, max_connections, &[])
}

fn tern_serve_with(dir: &Path, max_connections: u32, extra: &[&str]) -> Server {
    let root = dir.join("root");
    let cert = dir.join("cert.pem");
    let max = max_connections.to_string();
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--root",
        root.to_str().unwrap(),
        "--write-cert",
        cert.to_str().unwrap(),
        "--max-connections",
        &max,
    ];
    args.extend_from_slice(extra);
    Server::start(TERN, &args, dir.join("server.log"))
}

fn tern_get(dir: &Path, urls: &[String], out: &str) -> Output {
    tern_get_with(dir, urls, out, &[])
}

fn tern_get_with(dir: &Path, urls: &[String], out: &str, extra: &[&str]) -> Output {
    let output = Command::new(TERN)
        .arg("get")
        .args(urls)
        .args(extra)
        .arg("--output")
        .arg(dir.join(out))
        .arg("--ca")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
fn a_50_mb_file_and_small_files_arrive_intact_over_one_connection() {
    let dir = scratch("intact");
    let root = dir.join("root");
    let big = random_file(&root.join("big.bin"), BIG, SEED);
    let small = random_file(&root.join("sub/small.bin"), 1000, SEED + 1);
    fs::write(root.join("hello.txt"), b"hello, tern\n").unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    let server = tern_serve(&dir, 1);

    let port = server.port;
    let urls = ["big.bin", "sub/small.bin", "hello.txt", "empty"]
        .map(|path| format!("https://localhost:{port}/{path}"));
    let output = tern_get(&dir, &urls, "out");
    assert_eq!(output.status.code(), Some(0));
    let out = dir.join("out");
    assert!(
        fs::read(out.join("big.bin")).unwrap() == big,
        "big.bin differs"
    );
    assert_eq!(fs::read(out.join("small.bin")).unwrap(), small);
    assert_eq!(fs::read(out.join("hello.txt")).unwrap(), b"hello, tern\n");
    assert_eq!(fs::read(out.join("empty")).unwrap(), b"");

    // The server took its one connection and exits by itself.
    let log = server.log();
    let status = server.wait();
    assert!(status.success(), "{log}");
    assert_eq!(log.matches(": connected").count(), 1, "{log}");
    assert_eq!(log.matches("GET /").count(), 4, "{log}");
}

#[test]
fn missing_files_and_paths_out_of_the_root_fail_with_exit_code_1() {
    let dir = scratch("refused");
    fs::write(dir.join("secret.txt"), b"secret").unwrap();
    fs::write(dir.join("root/here.txt"), b"here").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("root/link.txt")).unwrap();
    let server = tern_serve(&dir, 4);
    let port = server.port;
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");

    // A missing file among good ones: the good one is still saved.
    let output = tern_get(&dir, &[url("/here.txt"), url("/missing.txt")], "a");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("missing.txt: failed: not found on the server"));
    assert!(stderr.contains("1 of 2 downloads failed"), "{stderr}");
    assert_eq!(fs::read(dir.join("a/here.txt")).unwrap(), b"here");
    assert!(!dir.join("a/missing.txt").exists());

    let output = tern_get(&dir, &[url("/../secret.txt")], "b");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused: the path leads outside"),
        "{stderr}"
    );
    assert!(!dir.join("b/secret.txt").exists());

    let output = tern_get(&dir, &[url("/link.txt")], "c");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    if cfg!(unix) {
        assert!(stderr.contains("refused"), "{stderr}");
    }

    // A request line over 4 KiB is refused before it is read to its end.
    let long = format!("/{}x", "a/".repeat(2500));
    let output = tern_get(&dir, &[url(&long)], "d");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("did not understand the request"),
        "{stderr}"
    );
    assert!(server.wait().success());
}

#[test]
fn get_without_trust_settings_says_what_to_give() {
    let output = Command::new(TERN)
        .args(["get", "https://localhost:4433/x", "--output", "unused"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--ca"), "{stderr}");
}

#[test]
fn get_from_a_silent_address_fails_after_the_connect_timeout() {
    let dir = scratch("silent");
    // A bound UDP socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let output = Command::new(TERN)
        .args(["get", &format!("https://127.0.0.1:{port}/x"), "--insecure"])
        .args(["--connect-timeout", "1", "--output"])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no handshake"), "{stderr}");
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test's protocol client needs one instant to start from"
)]
fn epoch() -> std::time::Instant {
    std::time::Instant::now()
}

/// The first byte of the server's answer to a client's first Initial,
/// sent from a protocol endpoint on a plain socket that the test reads.
fn first_byte_of_the_answer(port: u16) -> u8 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut client = tern_proto::endpoint::Endpoint::new(
        std::sync::Arc::new(tern::EndpointConfig::default()),
        None,
        Some(socket.local_addr().unwrap()),
        SEED,
    );
    let config = tern::tls::dangerous_insecure_client_config(&[b"hq-interop"]).unwrap();
    let now = epoch();
    client.connect(now, &config, to, "localhost").unwrap();
    let mut buf = Vec::new();
    while let Some(transmit) = client.poll_transmit(now, 1, &mut buf) {
        socket.send_to(&buf[..transmit.size], to).unwrap();
        buf.clear();
    }
    let mut answer = [0; 2048];
    let (len, _) = socket.recv_from(&mut answer).unwrap();
    assert!(len > 0);
    answer[0]
}

// RFC 9000 §17.2.5 (test): `--retry always` answers a client's first
// Initial with a Retry (long header, type bits 0b11 in version 1);
// `--retry never` with the server's Initial (type bits 0b00).
#[test]
fn serve_retry_always_answers_a_first_initial_with_a_retry() {
    for (retry, expected) in [("always", 0xf0), ("never", 0xc0)] {
        let dir = scratch(&format!("retry-{retry}"));
        let server = tern_serve_with(&dir, 1, &["--retry", retry]);
        let first = first_byte_of_the_answer(server.port);
        assert_eq!(
            first & 0xf0,
            expected,
            "--retry {retry}: first byte {first:#04x}\n{}",
            server.log()
        );
    }
}

// RFC 9000 §8.1.2 (test): `tern get` follows the Retry of `tern serve
// --retry always` without any option, and both sides say so.
#[test]
fn get_follows_the_retry_of_serve_retry_always() {
    let dir = scratch("retry-get");
    fs::write(dir.join("root/hello.txt"), b"hello, retry\n").unwrap();
    let server = tern_serve_with(&dir, 1, &["--retry", "always"]);
    let url = format!("https://localhost:{}/hello.txt", server.port);
    let output = tern_get(&dir, &[url], "out");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}\n{}", server.log());
    assert!(stderr.contains("connected after a Retry"), "{stderr}");
    assert_eq!(
        fs::read(dir.join("out/hello.txt")).unwrap(),
        b"hello, retry\n"
    );
    let log = server.log();
    assert!(server.wait().success(), "{log}");
    assert!(
        log.contains(": connected (address validated by a Retry)"),
        "{log}"
    );
}

// RFC 9369 §3.1 (test): `tern serve` accepts a client that starts on QUIC v2,
// and `tern get --quic-version v2` says the connection runs on it.
#[test]
fn get_quic_version_v2_fetches_from_serve_over_v2() {
    let dir = scratch("v2-get");
    fs::write(dir.join("root/hello.txt"), b"hello, v2\n").unwrap();
    let server = tern_serve(&dir, 1);
    let url = format!("https://localhost:{}/hello.txt", server.port);
    let output = tern_get_with(&dir, &[url], "out", &["--quic-version", "v2"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}\n{}", server.log());
    assert!(stderr.contains("connected on QUIC v2"), "{stderr}");
    assert_eq!(fs::read(dir.join("out/hello.txt")).unwrap(), b"hello, v2\n");
    let log = server.log();
    assert!(server.wait().success(), "{log}");
}

/// A UDP relay on loopback in front of a server, that holds every datagram
/// from the server for a while before passing it on: a client's 0-RTT
/// flight then leaves long before the server's answer can complete its
/// handshake, however loaded the machine is. Stops when dropped.
struct SlowReturn {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl SlowReturn {
    /// How long the server's datagrams are held.
    const DELAY: Duration = Duration::from_millis(200);

    fn start(server: u16) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(("127.0.0.1", server)).unwrap();
        for socket in [&front, &back] {
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
        }
        let port = front.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let (held, due) = mpsc::channel::<(std::time::Instant, Vec<u8>)>();
        let (from_client, to_server) = (front.try_clone().unwrap(), back.try_clone().unwrap());
        let (running, seen) = (stop.clone(), client.clone());
        thread::spawn(move || {
            let mut buf = vec![0; 65_536];
            while !running.load(Ordering::Relaxed) {
                if let Ok((len, from)) = from_client.recv_from(&mut buf) {
                    *seen.lock().unwrap() = Some(from);
                    let _ = to_server.send(&buf[..len]);
                }
            }
        });
        let running = stop.clone();
        thread::spawn(move || {
            let mut buf = vec![0; 65_536];
            while !running.load(Ordering::Relaxed) {
                if let Ok(len) = back.recv(&mut buf) {
                    let _ = held.send((now() + Self::DELAY, buf[..len].to_vec()));
                }
            }
        });
        thread::spawn(move || {
            // Ends when the thread above does, with the sender.
            while let Ok((at, datagram)) = due.recv() {
                thread::sleep(at.saturating_duration_since(now()));
                if let Some(to) = *client.lock().unwrap() {
                    let _ = front.send_to(&datagram, to);
                }
            }
        });
        Self { port, stop }
    }
}

impl Drop for SlowReturn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the relay holds datagrams for a wall-clock while"
)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

// RFC 9001 §4.6.1 (test): `tern get --0rtt` fetches the first file over a
// first connection, which brings a ticket, and sends the other requests in
// 0-RTT on a second connection that resumes; `tern serve` answers them, and
// both say so.
#[test]
fn get_0rtt_sends_the_later_requests_in_0rtt_and_serve_answers_them() {
    let dir = scratch("zero-rtt");
    let names = ["a.txt", "b.txt", "c.txt"];
    for name in names {
        fs::write(dir.join("root").join(name), name.repeat(100)).unwrap();
    }
    let server = tern_serve(&dir, 2);
    let relay = SlowReturn::start(server.port);
    let urls = names.map(|name| format!("https://localhost:{}/{name}", relay.port));
    let output = tern_get_with(&dir, &urls, "out", &["--0rtt"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}\n{}", server.log());
    for name in names {
        assert_eq!(
            fs::read(dir.join("out").join(name)).unwrap(),
            name.repeat(100).as_bytes()
        );
    }
    assert!(
        stderr.contains("second connection: 2 requests sent in 0-RTT"),
        "{stderr}"
    );
    assert!(
        stderr.contains("connected again resuming a session; 0-RTT accepted"),
        "{stderr}"
    );
    let log = server.log();
    assert!(server.wait().success(), "{log}");
    assert_eq!(log.matches("(requested in 0-RTT)").count(), 2, "{log}");
    // Answered before the handshake completed (0.5-RTT): the client's
    // Finished cannot come before the relay passed the server's flight on.
    let answered = log.find("(requested in 0-RTT)").unwrap();
    let resumed = log.find("(resumed a session");
    assert!(resumed.is_some_and(|at| answered < at), "{log}");
    assert!(
        log.contains("requests in 0-RTT: 2 GET answered, 0 others refused"),
        "{log}"
    );
}

/// A client configuration as `tern get --ca` makes it, trusting the
/// certificate `tern serve` wrote to `cert`.
fn client(cert: &Path) -> tern::ClientConfig {
    use tern::rustls::pki_types::pem::PemObject as _;

    let mut roots = tern::rustls::RootCertStore::empty();
    let pem = fs::read(cert).unwrap();
    for cert in tern::rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    tern::tls::client_config(roots, &[b"hq-interop"]).unwrap()
}

/// Sends `request` on a new stream of `conn`; returns the answer, or the
/// code the stream was reset with.
async fn ask(conn: &tern::Connection, request: &str) -> Result<Vec<u8>, u64> {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    // The server may stop our side before our FIN when it refuses.
    let _ = send.write_all(request.as_bytes()).await;
    let _ = send.finish();
    match recv.read_to_end(1 << 20).await {
        Ok(body) => Ok(body),
        Err(tern::ReadError::Reset(code)) => Err(code.into_inner()),
        Err(error) => panic!("{request:?}: {error}"),
    }
}

// RFC 8446 §8 (test): `tern serve` refuses a request other than GET that
// came in 0-RTT, which an attacker can replay, with code 0x14, and answers
// a GET of the same flight.
#[test]
fn serve_refuses_a_request_other_than_get_in_0rtt() {
    let dir = scratch("zero-rtt-post");
    fs::write(dir.join("root/a.txt"), b"a").unwrap();
    let server = tern_serve(&dir, 2);
    let relay = SlowReturn::start(server.port);
    let addr = SocketAddr::from(([127, 0, 0, 1], relay.port));
    let config = client(&dir.join("cert.pem"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let endpoint = tern::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        // The first connection brings a ticket.
        let first = endpoint
            .connect_with(&config, addr, "localhost")
            .unwrap()
            .await
            .unwrap();
        assert_eq!(ask(&first, "GET /a.txt\r\n").await, Ok(b"a".to_vec()));
        first.close(tern::VarInt::from_u32(0), b"");
        let second = endpoint
            .connect_with(&config, addr, "localhost")
            .unwrap()
            .into_0rtt()
            .expect("the first connection's ticket allows 0-RTT");
        let (post, get) = tokio::join!(
            ask(&second, "POST /a.txt\r\n"),
            ask(&second, "GET /a.txt\r\n")
        );
        assert_eq!(post, Err(0x14));
        assert_eq!(get, Ok(b"a".to_vec()));
        assert!(second.zero_rtt_accepted().await);
        second.close(tern::VarInt::from_u32(0), b"");
        endpoint.wait_idle().await;
    });
    let log = server.log();
    assert!(server.wait().success(), "{log}");
    assert!(
        log.contains("refused in 0-RTT: \"POST\" is not GET"),
        "{log}"
    );
    assert!(
        log.contains("requests in 0-RTT: 1 GET answered, 1 others refused"),
        "{log}"
    );
}

#[test]
fn serve_refuses_a_retry_threshold_without_under_load() {
    let dir = scratch("retry-threshold");
    let output = Command::new(TERN)
        .args(["serve", "--listen", "127.0.0.1:0", "--retry", "always"])
        .args(["--retry-threshold", "5", "--root"])
        .arg(dir.join("root"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--retry-threshold"), "{stderr}");
}

/// A Python with aioquic in `target/aioquic-venv`, made on first use.
fn aioquic_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/aioquic-venv");
    let python = venv.join("bin/python");
    let has_aioquic = |python: &Path| {
        Command::new(python)
            .args(["-c", "import aioquic; print(aioquic.__version__)"])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if has_aioquic(&python) {
        return python;
    }
    let venv_ok = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    assert!(venv_ok, "cannot create a venv with `python3 -m venv`");
    let pip_ok = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "aioquic==1.7.2"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        pip_ok,
        "`pip install aioquic==1.7.2` failed: is PyPI reachable?"
    );
    python
}

#[test]
#[ignore = "needs aioquic from PyPI; run cargo test -p tern-cli -- --ignored"]
fn get_fetches_50_mb_from_an_aioquic_hq_interop_server() {
    let python = aioquic_python();
    let dir = scratch("aioquic");
    let big = random_file(&dir.join("root/big.bin"), BIG, SEED + 2);
    fs::write(dir.join("root/small.txt"), b"small").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aioquic_hq_server.py");
    let root = dir.join("root");
    let cert = dir.join("cert.pem");
    let args = [
        script.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--cert-out",
        cert.to_str().unwrap(),
    ];
    let server = Server::start(python.to_str().unwrap(), &args, dir.join("server.log"));

    let urls = ["big.bin", "small.txt"].map(|p| format!("https://localhost:{}/{p}", server.port));
    let output = tern_get(&dir, &urls, "out");
    assert_eq!(output.status.code(), Some(0), "{}", server.log());
    assert!(
        fs::read(dir.join("out/big.bin")).unwrap() == big,
        "big.bin differs"
    );
    assert_eq!(fs::read(dir.join("out/small.txt")).unwrap(), b"small");

    let missing = tern_get(
        &dir,
        &[format!("https://localhost:{}/nope", server.port)],
        "out",
    );
    assert_eq!(missing.status.code(), Some(1));
}
