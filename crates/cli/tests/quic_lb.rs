//! `tern serve --quic-lb-config`: the connection IDs the server issues,
//! as a relay on loopback sees them on the wire, carry the configured
//! server ID.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

use std::{
    fs,
    io::{BufRead, BufReader},
    net::{SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use tern_quic_lb::{Codec, Config};

const TERN: &str = env!("CARGO_BIN_EXE_tern");

const CONFIG: &str = r#"{"ietf-quic-lb-server:quic-lb": {
    "config-id": 1,
    "first-octet-encodes-cid-length": true,
    "server-id-length": 3,
    "nonce-length": 6,
    "cid-key": "8f:95:f0:92:45:76:5f:80:25:69:34:e5:0c:66:20:7f",
    "server-id": "c4:60:5e"
}}"#;

/// A `tern serve` process; killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tern serve` on a free loopback port; returns it and the port.
fn serve(dir: &Path, extra: &[&str]) -> (Server, u16) {
    let mut child = Command::new(TERN)
        .args(["serve", "--listen", "127.0.0.1:0", "--max-connections", "1"])
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--write-cert")
        .arg(dir.join("cert.pem"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Server(child);
    let log = fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let addr = line.trim().strip_prefix("listening on ");
    let port = addr.and_then(|addr| addr.rsplit_once(':')?.1.parse().ok());
    (server, port.unwrap_or_else(|| panic!("{line:?}\n{log}")))
}

/// Copies of the datagrams relayed: (from the client, from the server).
type Seen = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// Forwards datagrams between one client and the server, keeping a copy
/// of each.
struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
}

impl Relay {
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
        let seen = Arc::new(Mutex::new((Vec::new(), Vec::new())));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let (from_client, to_server) = (front.try_clone().unwrap(), back.try_clone().unwrap());
        let (running, log, peer) = (stop.clone(), seen.clone(), client.clone());
        thread::spawn(move || {
            let mut buf = vec![0; 65_536];
            while !running.load(Ordering::Relaxed) {
                if let Ok((len, from)) = from_client.recv_from(&mut buf) {
                    *peer.lock().unwrap() = Some(from);
                    log.lock().unwrap().0.push(buf[..len].to_vec());
                    let _ = to_server.send(&buf[..len]);
                }
            }
        });
        let (running, log) = (stop.clone(), seen.clone());
        thread::spawn(move || {
            let mut buf = vec![0; 65_536];
            while !running.load(Ordering::Relaxed) {
                if let Ok(len) = back.recv(&mut buf) {
                    log.lock().unwrap().1.push(buf[..len].to_vec());
                    if let Some(to) = *client.lock().unwrap() {
                        let _ = front.send_to(&buf[..len], to);
                    }
                }
            }
        });
        Self { port, stop, seen }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The Source Connection ID of a long-header datagram (RFC 9000 §17.2),
/// `None` for short headers and Version Negotiation.
fn long_header_scid(datagram: &[u8]) -> Option<&[u8]> {
    if datagram.first()? & 0x80 == 0 || datagram.get(1..5)? == [0; 4] {
        return None;
    }
    let dcid_len = usize::from(*datagram.get(5)?);
    let scid_len = usize::from(*datagram.get(6 + dcid_len)?);
    datagram.get(7 + dcid_len..7 + dcid_len + scid_len)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("root")).unwrap();
    dir
}

#[test]
fn served_connection_ids_decode_to_the_configured_server_id() {
    served_ids_carry_the_server_id("quic-lb", "1");
}

/// With two event loops, the shard goes into the nonce: the IDs still
/// carry the server ID alone where the load balancer reads it.
#[test]
fn served_connection_ids_of_two_shards_decode_to_the_configured_server_id() {
    served_ids_carry_the_server_id("quic-lb-shards", "2");
}

fn served_ids_carry_the_server_id(name: &str, shards: &str) {
    let dir = scratch(name);
    fs::write(dir.join("root/a.txt"), "QUIC-LB".repeat(1000)).unwrap();
    let config_path = dir.join("lb.json");
    fs::write(&config_path, CONFIG).unwrap();
    let (server, port) = serve(
        &dir,
        &[
            "--quic-lb-config",
            config_path.to_str().unwrap(),
            "--shards",
            shards,
        ],
    );
    let relay = Relay::start(port);
    let output = Command::new(TERN)
        .args(["get", &format!("https://localhost:{}/a.txt", relay.port)])
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--ca")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    let log = fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{log}");
    assert_eq!(
        fs::read_to_string(dir.join("out/a.txt")).unwrap(),
        "QUIC-LB".repeat(1000)
    );
    assert!(
        log.contains("QUIC-LB config 1, server ID c4605e, 10-byte connection IDs, encrypted"),
        "{log}"
    );
    if shards != "1" {
        assert!(
            log.contains(&format!("{shards} event loops, one per thread")),
            "{log}"
        );
    }
    let seen = relay.seen.lock().unwrap().clone();
    drop(relay);
    drop(server);

    let codec = Codec::new(Config::from_json(CONFIG).unwrap());
    let (from_client, from_server) = (&seen.0, &seen.1);
    // The server's long headers name its connection ID as the source ...
    let scids: Vec<&[u8]> = from_server
        .iter()
        .filter_map(|d| long_header_scid(d))
        .collect();
    // ... and the client's short headers name one of the server's IDs
    // (its first, or one of NEW_CONNECTION_ID) as the destination.
    let dcids: Vec<&[u8]> = from_client
        .iter()
        .filter(|d| d[0] & 0x80 == 0)
        .map(|d| &d[1..=codec.config().cid_len()])
        .collect();
    assert!(!scids.is_empty() && !dcids.is_empty(), "{seen:?}");
    for cid in scids.iter().chain(&dcids) {
        let decoded = codec.decode(cid).unwrap();
        assert_eq!(decoded.server_id(), [0xc4, 0x60, 0x5e], "{cid:02x?}");
        // The config rotation codepoint and the length after it.
        assert_eq!(cid[0], (1 << 5) | 9);
    }
}

#[test]
fn a_bad_quic_lb_config_stops_serve_with_the_reason() {
    let dir = scratch("quic-lb-bad");
    let config_path = dir.join("lb.json");
    fs::write(&config_path, CONFIG.replace("\"c4:60:5e\"", "\"c4:60\"")).unwrap();
    let output = Command::new(TERN)
        .args(["serve", "--listen", "127.0.0.1:0", "--quic-lb-config"])
        .arg(&config_path)
        .arg("--root")
        .arg(dir.join("root"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("server-id has 2 bytes but server-id-length says 3"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
