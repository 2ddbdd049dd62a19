//! The interop endpoint under the runner's contract, on loopback: a server
//! process and a client process configured only through the environment.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use rand::{RngCore, SeedableRng, rngs::StdRng};

const BIN: &str = env!("CARGO_BIN_EXE_tern-interop");

fn base64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    TABLE[usize::try_from((n >> (18 - 6 * i)) & 63).unwrap()],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

struct Setup {
    dir: PathBuf,
    port: u16,
    server: Child,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup(name: &str, case: &str, files: &[(&str, usize)]) -> Setup {
    setup_with(name, case, files, |_| Vec::new())
}

/// As [`setup`], the server's environment adding what `env` makes of the
/// port it listens on.
fn setup_with(
    name: &str,
    case: &str,
    files: &[(&str, usize)],
    env: impl Fn(u16) -> Vec<(&'static str, String)>,
) -> Setup {
    let dir = std::env::temp_dir().join(format!("tern-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["www", "certs", "downloads"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let cert =
        rcgen::generate_simple_self_signed(vec!["server".into(), "localhost".into()]).unwrap();
    std::fs::write(
        dir.join("certs/cert.pem"),
        pem("CERTIFICATE", cert.cert.der()),
    )
    .unwrap();
    std::fs::write(
        dir.join("certs/priv.key"),
        pem("PRIVATE KEY", &cert.signing_key.serialize_der()),
    )
    .unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    for (file, size) in files {
        let mut data = vec![0; *size];
        rng.fill_bytes(&mut data);
        std::fs::write(dir.join("www").join(file), data).unwrap();
    }
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(BIN)
        .env("ROLE", "server")
        .env("TESTCASE", case)
        .env("WWW", dir.join("www"))
        .env("CERTS", dir.join("certs"))
        .env("PORT", port.to_string())
        .envs(env(port))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "server said {line:?}");
    Setup { dir, port, server }
}

/// What the client process did: its exit code and what it said.
struct ClientRun {
    code: i32,
    stderr: String,
}

fn client_with(setup: &Setup, case: &str, files: &[&str], env: &[(&str, &Path)]) -> ClientRun {
    let requests: Vec<String> = files
        .iter()
        .map(|f| format!("https://127.0.0.1:{}/{f}", setup.port))
        .collect();
    let mut command = Command::new(BIN);
    command
        .env("ROLE", "client")
        .env("TESTCASE", case)
        .env("REQUESTS", requests.join(" "))
        .env("DOWNLOADS", setup.dir.join("downloads"))
        .env_remove("SSLKEYLOGFILE");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    ClientRun {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn client(setup: &Setup, case: &str, files: &[&str]) -> i32 {
    client_with(setup, case, files, &[]).code
}

/// The client's two "handshake with" lines, of a case that connects twice.
fn two_handshakes(run: &ClientRun) -> Vec<&str> {
    let handshakes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("handshake with"))
        .collect();
    assert_eq!(handshakes.len(), 2, "{}", run.stderr);
    handshakes
}

fn assert_same(dir: &Path, file: &str) {
    let sent = std::fs::read(dir.join("www").join(file)).unwrap();
    let got = std::fs::read(dir.join("downloads").join(file)).unwrap();
    assert!(
        sent == got,
        "{file}: {} bytes sent, {} received",
        sent.len(),
        got.len()
    );
}

#[test]
fn transfer_downloads_every_file_intact() {
    let files = [("small", 1000), ("big", 5 * 1024 * 1024)];
    let setup = setup("transfer", "transfer", &files);
    assert_eq!(client(&setup, "transfer", &["small", "big"]), 0);
    assert_same(&setup.dir, "small");
    assert_same(&setup.dir, "big");
}

#[test]
fn multiplexing_fetches_many_files_in_parallel() {
    let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
    let files: Vec<(&str, usize)> = names.iter().map(|n| (n.as_str(), 2000)).collect();
    let setup = setup("multiplexing", "multiplexing", &files);
    let requests: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(client(&setup, "multiplexing", &requests), 0);
    for name in &names {
        assert_same(&setup.dir, name);
    }
}

#[test]
fn chacha20_uses_only_chacha20_poly1305() {
    let setup = setup("chacha20", "chacha20", &[("file", 100_000)]);
    let run = client_with(&setup, "chacha20", &["file"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same(&setup.dir, "file");
    // The client logs the suite from its handshake snapshot.
    assert!(
        run.stderr.contains("TLS13_CHACHA20_POLY1305_SHA256"),
        "{}",
        run.stderr
    );
}

#[test]
fn one_connection_carries_every_request_of_a_transfer() {
    let files = [("a", 100), ("b", 100), ("c", 100)];
    let setup = setup("one-conn", "transfer", &files);
    let run = client_with(&setup, "transfer", &["a", "b", "c"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("handshake with").count(),
        1,
        "{}",
        run.stderr
    );
}

// RFC 9000 §8.1.2 (test): under `retry` the server answers the first
// Initial with a Retry and the client follows it; under other cases it
// does not.
#[test]
fn retry_sends_a_retry_that_the_client_follows() {
    let retrying = setup("retry", "retry", &[("file", 10 * 1024)]);
    let run = client_with(&retrying, "retry", &["file"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same(&retrying.dir, "file");
    assert!(run.stderr.contains(", after a Retry"), "{}", run.stderr);

    let plain = setup("no-retry", "handshake", &[("file", 10)]);
    let run = client_with(&plain, "handshake", &["file"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("Retry"), "{}", run.stderr);
}

// RFC 8446 §2.2 (test): under `resumption` the first file comes over a
// first connection, and the others over a second connection that resumes
// the first's TLS session with its ticket.
#[test]
fn resumption_fetches_the_rest_over_a_second_connection_that_resumes() {
    let files = [("a", 5 * 1024), ("b", 10 * 1024), ("c", 100)];
    let setup = setup("resumption", "resumption", &files);
    let run = client_with(&setup, "resumption", &["a", "b", "c"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let handshakes = two_handshakes(&run);
    assert!(!handshakes[0].contains("resumed"), "{}", run.stderr);
    assert!(
        handshakes[1].contains("resumed a TLS session"),
        "{}",
        run.stderr
    );
    for (name, _) in files {
        assert_same(&setup.dir, name);
    }
}

// RFC 9001 §4.6.1 (test): under `zerortt` the second connection resumes
// and takes 0-RTT on; whatever it sent in 0-RTT the server accepts. On
// bare loopback the handshake can complete before the requests are
// written, even before `into_0rtt` is called (it takes about 2 ms), so
// whether they left in 0-RTT packets is
// checked where the network has a round trip: `cargo xtask interop
// --cases zerortt` reads the 0-RTT packets in the capture.
#[test]
fn zerortt_sends_the_second_connections_requests_in_0rtt() {
    let names: Vec<String> = (0..10).map(|i| format!("z{i}")).collect();
    let files: Vec<(&str, usize)> = names.iter().map(|n| (n.as_str(), 32)).collect();
    let setup = setup("zerortt", "zerortt", &files);
    let requests: Vec<&str> = names.iter().map(String::as_str).collect();
    let run = client_with(&setup, "zerortt", &requests, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the requests go before the handshake completes")
            || run.stderr.contains("the handshake already completed"),
        "{}",
        run.stderr
    );
    let handshakes = two_handshakes(&run);
    assert!(!handshakes[0].contains("0-RTT"), "{}", run.stderr);
    assert!(
        handshakes[1].contains("resumed a TLS session"),
        "{}",
        run.stderr
    );
    assert!(!handshakes[1].contains("rejected"), "{}", run.stderr);
    for name in &names {
        assert_same(&setup.dir, name);
    }
}

// RFC 9001 §6 (test): under `keyupdate` the client starts a key update
// during the transfer, which still completes; `cargo xtask interop --cases
// keyupdate` reads both key phases in both directions from the capture.
#[test]
fn keyupdate_updates_the_keys_during_the_transfer() {
    let setup = setup("keyupdate", "keyupdate", &[("file", 1024 * 1024)]);
    let run = client_with(&setup, "keyupdate", &["file"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same(&setup.dir, "file");
    assert!(
        run.stderr
            .contains("key update: started during the transfer"),
        "{}",
        run.stderr
    );
    let plain = client_with(&setup, "transfer", &["file"], &[]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(!plain.stderr.contains("key update"), "{}", plain.stderr);
}

// RFC 9368 §2.2 (test): under `v2` the client starts on v1 and offers v2;
// a server that supports v1 only keeps it there, and the client then
// fails the run, though the file arrived: a transfer on v1 proves nothing
// about v2.
#[test]
fn v2_fails_a_connection_that_stayed_on_v1() {
    let setup = setup("v2-v1-server", "transfer", &[("file", 1024)]);
    let run = client_with(&setup, "v2", &["file"], &[]);
    assert_same(&setup.dir, "file");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("started on QUIC v1 and offered v2, but ended on 0x00000001"),
        "{}",
        run.stderr
    );
}

// RFC 9368 §2.2, RFC 9369 §4 (test): under `v2` both roles speak v1 and
// v2, v2 preferred; the client starts on v1, the server moves it to v2
// without another round trip, and the client says so.
#[test]
fn v2_moves_a_v1_client_to_v2() {
    let setup = setup("v2-both", "v2", &[("file", 1024)]);
    let run = client_with(&setup, "v2", &["file"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same(&setup.dir, "file");
    assert!(
        run.stderr
            .contains("negotiated QUIC version: 0x6b3343cf (v2), started on v1"),
        "{}",
        run.stderr
    );
}

#[test]
fn multiconnect_opens_a_connection_per_request() {
    let files = [("a", 100), ("b", 100), ("c", 100)];
    let setup = setup("multiconnect", "multiconnect", &files);
    let run = client_with(&setup, "multiconnect", &["a", "b", "c"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("handshake with").count(),
        3,
        "{}",
        run.stderr
    );
    for (name, _) in files {
        assert_same(&setup.dir, name);
    }
}

#[test]
fn sslkeylogfile_receives_the_client_secrets() {
    let setup = setup("keylog", "handshake", &[("file", 10)]);
    let keys = setup.dir.join("keys.log");
    let run = client_with(&setup, "handshake", &["file"], &[("SSLKEYLOGFILE", &keys)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = std::fs::read_to_string(&keys).unwrap();
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ] {
        assert!(log.contains(label), "{label} missing from {log}");
    }
}

#[test]
fn a_missing_file_fails_the_client() {
    let setup = setup("missing", "transfer", &[("file", 10)]);
    assert_eq!(client(&setup, "transfer", &["nope"]), 1);
}

#[test]
fn an_unsupported_case_exits_127() {
    let status = Command::new(BIN)
        .env("ROLE", "client")
        .env("TESTCASE", "versionnegotiation")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(127));
}

/// RFC 9000 §9.6: told an address that leads to its socket (another
/// loopback IP on its port, which its wildcard socket receives), the
/// server offers it as its preferred address, and the Tern client moves
/// there over real UDP and finishes the transfer.
#[test]
fn a_connectionmigration_server_offers_its_preferred_address_and_the_client_moves() {
    let setup = setup_with(
        "preferred",
        "connectionmigration",
        &[("c", 300_000)],
        |port| vec![("PREFERRED_ADDRESS", format!("127.0.0.2:{port}"))],
    );
    let log = Path::new("tern_proto::connection::migration=debug");
    let run = client_with(&setup, "transfer", &["c"], &[("RUST_LOG", log)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same(&setup.dir, "c");
    assert!(
        run.stderr.contains("candidate path validated: moving"),
        "the client moved: {}",
        run.stderr
    );
}

#[test]
fn a_connectionmigration_server_exits_127_without_a_preferred_address_to_offer() {
    let status = Command::new(BIN)
        .env("ROLE", "server")
        .env("TESTCASE", "connectionmigration")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(127));
}

/// The runner tells the endpoints `transfer` for these; by their own names
/// (runs by hand) they are a transfer too, and a client told
/// `connectionmigration` needs nothing special.
#[test]
fn rebinding_cases_and_a_connectionmigration_client_run_a_transfer() {
    let setup = setup("rebind", "rebind-port", &[("a", 1000), ("b", 1000)]);
    assert_eq!(client(&setup, "rebind-addr", &["a"]), 0);
    assert_eq!(client(&setup, "connectionmigration", &["b"]), 0);
    assert_same(&setup.dir, "a");
    assert_same(&setup.dir, "b");
}

#[test]
fn qlogdir_receives_a_json_seq_trace_per_connection() {
    let files = [("a", 100), ("b", 100)];
    let setup = setup("qlog", "multiconnect", &files);
    let qlog = setup.dir.join("qlog");
    let run = client_with(&setup, "multiconnect", &["a", "b"], &[("QLOGDIR", &qlog)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let traces: Vec<PathBuf> = std::fs::read_dir(&qlog)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(traces.len(), 2, "{traces:?}");
    for trace in traces {
        let text = std::fs::read_to_string(&trace).unwrap();
        // RFC 7464 §2: every record starts with the record separator.
        assert!(text.starts_with('\u{1e}'), "{}", trace.display());
        assert!(text.contains("\"vantage_point\""), "{}", trace.display());
        assert!(text.contains("quic:packet_sent"), "{}", trace.display());
        assert!(
            text.contains("quic:connection_closed"),
            "{}",
            trace.display()
        );
    }
}
