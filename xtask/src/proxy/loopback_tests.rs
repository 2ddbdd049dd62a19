//! End-to-end tests of the proxy on loopback: an echo server behind it and
//! a client in front, with real sockets and real time.

use std::{
    io::IoSliceMut,
    net::{SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use quinn_udp::{EcnCodepoint, RecvMeta, Transmit, UdpSocketState};

use super::{Blackout, Proxy, ProxyConfig, Rebind, SecondRoute, now};

/// What the echo server saw: source address and ECN codepoint of each datagram.
type Seen = Vec<(SocketAddr, u8)>;

/// A UDP echo server on `bind` that reads ECN through quinn-udp.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    thread: JoinHandle<Seen>,
}

impl Echo {
    fn start(bind: &str) -> Self {
        let socket = UdpSocket::bind(bind).unwrap();
        let state = UdpSocketState::new((&socket).into()).unwrap();
        socket.set_nonblocking(false).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let thread = thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 65_536];
            let mut meta = [RecvMeta::default()];
            while !flag.load(Ordering::Relaxed) {
                let mut bufs = [IoSliceMut::new(&mut buf)];
                if state.recv((&socket).into(), &mut bufs, &mut meta).is_err() {
                    continue;
                }
                let m = meta[0];
                let stride = if m.stride == 0 { m.len } else { m.stride };
                for chunk in buf[..m.len].chunks(stride.max(1)) {
                    seen.push((m.addr, m.ecn.map_or(0, |e| e as u8)));
                    counter.fetch_add(1, Ordering::Relaxed);
                    let _ = socket.send_to(chunk, m.addr);
                }
            }
            seen
        });
        Self {
            addr,
            stop,
            count,
            thread,
        }
    }

    /// Waits (up to two seconds, for a loaded machine) until `n` datagrams came in.
    fn wait_for(&self, n: usize) {
        let deadline = now() + Duration::from_secs(2);
        while self.count.load(Ordering::Relaxed) < n && now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn client(bind: &str) -> UdpSocket {
    let socket = UdpSocket::bind(bind).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    socket
}

fn unimpaired(delay_ms: u64) -> ProxyConfig {
    ProxyConfig {
        delay: Duration::from_millis(delay_ms),
        bandwidth_bps: 0,
        ..ProxyConfig::runner_default()
    }
}

/// Sends `data` and waits for the echo; the round trip time, or `None`.
fn round_trip(socket: &UdpSocket, to: SocketAddr, data: &[u8]) -> Option<Duration> {
    let sent = now();
    socket.send_to(data, to).unwrap();
    let mut buf = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    assert_eq!(&buf[..len], data);
    Some(now() - sent)
}

#[test]
fn echo_through_the_proxy_takes_twice_the_delay() {
    let echo = Echo::start("127.0.0.1:0");
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, unimpaired(20)).unwrap();
    let socket = client("127.0.0.1:0");
    for i in 0..10u8 {
        let rtt = round_trip(&socket, proxy.local_addr(), &[i; 100]).expect("echo");
        assert!(rtt >= Duration::from_millis(40), "round trip {rtt:?}");
        assert!(rtt < Duration::from_millis(400), "round trip {rtt:?}");
    }
    let report = proxy.stop();
    let seen = echo.stop();
    assert_eq!(seen.len(), 10);
    for stats in [&report.to_server, &report.to_client] {
        assert_eq!(stats.datagrams, 10);
        assert_eq!(stats.delivered, 10);
        assert_eq!(stats.bytes, 1000);
        assert_eq!(stats.ecn[0], 10);
    }
}

#[test]
fn echo_works_over_ipv6_when_the_sandbox_has_it() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let echo = Echo::start("[::1]:0");
    let proxy = Proxy::start("[::1]:0".parse().unwrap(), echo.addr, unimpaired(5)).unwrap();
    let socket = client("[::1]:0");
    for i in 0..3u8 {
        assert!(round_trip(&socket, proxy.local_addr(), &[i; 50]).is_some());
    }
    let report = proxy.stop();
    echo.stop();
    assert_eq!(report.to_client.delivered, 3);
}

#[test]
fn blackout_drops_what_enters_while_the_link_is_down() {
    let echo = Echo::start("127.0.0.1:0");
    let config = ProxyConfig {
        blackout: Some(Blackout {
            on: Duration::from_millis(300),
            off: Duration::from_millis(300),
        }),
        ..unimpaired(5)
    };
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, config).unwrap();
    let started = now();
    let socket = client("127.0.0.1:0");
    let mut answered = Vec::new();
    // Up at 50 ms, down at 420 ms, up again at 680 ms.
    for (i, at_ms) in [50u64, 420, 680].into_iter().enumerate() {
        let at = started + Duration::from_millis(at_ms);
        thread::sleep(at.saturating_duration_since(now()));
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        answered.push(
            round_trip(&socket, proxy.local_addr(), &[u8::try_from(i).unwrap(); 20]).is_some(),
        );
    }
    let report = proxy.stop();
    echo.stop();
    assert_eq!(answered, [true, false, true]);
    assert_eq!(report.to_server.dropped_blackout, 1);
    assert_eq!(report.to_server.delivered, 2);
}

#[test]
fn rebinding_changes_the_source_the_server_sees() {
    let echo = Echo::start("127.0.0.1:0");
    let config = ProxyConfig {
        rebind: Some(Rebind {
            first: Duration::from_millis(100),
            every: Duration::from_millis(100),
            address: true,
            old_mapping: Duration::from_secs(1),
        }),
        ..unimpaired(5)
    };
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, config).unwrap();
    let socket = client("127.0.0.1:0");
    let mut replies = 0;
    for i in 0..12u8 {
        replies += usize::from(round_trip(&socket, proxy.local_addr(), &[i; 30]).is_some());
        thread::sleep(Duration::from_millis(30));
    }
    let report = proxy.stop();
    let seen = echo.stop();
    let mut ports: Vec<u16> = seen.iter().map(|(a, _)| a.port()).collect();
    ports.dedup();
    assert!(ports.len() >= 2, "source ports {ports:?}");
    assert!(seen.iter().any(|(a, _)| a.ip().to_string() == "127.0.0.2"));
    assert_eq!(replies, 12);
    assert!(report.rebinds >= 2, "{} rebinds", report.rebinds);
}

/// A client that sends to the proxy's second address reaches the second
/// server address through a binding of its own, and the answer comes back
/// from the second address; both are in the captures.
#[test]
fn the_second_route_leads_to_the_second_server_address() {
    let first = Echo::start("127.0.0.1:0");
    let second = Echo::start("127.0.0.1:0");
    let dir = std::env::temp_dir().join(format!("proxy-second-{}", std::process::id()));
    let config = ProxyConfig {
        second_route: Some(SecondRoute {
            listen: "127.0.0.1:0".parse().unwrap(),
            server: second.addr,
        }),
        pcap_dir: Some(dir.clone()),
        ..unimpaired(1)
    };
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), first.addr, config).unwrap();
    let (main, preferred) = (proxy.local_addr(), proxy.second_addr().unwrap());
    assert_ne!(preferred, main);
    let socket = client("127.0.0.1:0");
    assert!(round_trip(&socket, main, b"one").is_some());
    socket.send_to(b"two", preferred).unwrap();
    let mut buf = [0u8; 16];
    let (len, from) = socket.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..len], from), (&b"two"[..], preferred));
    let report = proxy.stop();
    let (to_first, to_second) = (first.stop(), second.stop());
    assert_eq!((to_first.len(), to_second.len()), (1, 1));
    assert_ne!(
        to_first[0].0, to_second[0].0,
        "each route has its own binding"
    );
    assert_eq!(report.to_server.delivered, 2);
    let pcap = std::fs::read(dir.join("client.pcap")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // Records of IPv4 and UDP headers: (source port, destination port).
    let mut ports = Vec::new();
    let mut at = 24;
    while let Some(header) = pcap.get(at..at + 16) {
        let len = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        let udp = &pcap[at + 16 + 20..];
        let port = |i: usize| u16::from_be_bytes([udp[i], udp[i + 1]]);
        ports.push((port(0), port(2)));
        at += 16 + len;
    }
    let me = socket.local_addr().unwrap().port();
    assert_eq!(
        ports,
        [
            (me, main.port()),
            (main.port(), me),
            (me, preferred.port()),
            (preferred.port(), me)
        ]
    );
}

/// The server answers a datagram only after the client's binding was
/// replaced: the answer goes to the old binding. `old_mapping` says
/// whether it still reaches the client; the next datagram comes from the
/// new binding and its answer does.
fn answer_to_a_replaced_binding(old_mapping: Duration) -> (Option<Vec<u8>>, super::Report) {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let config = ProxyConfig {
        rebind: Some(Rebind {
            first: Duration::from_millis(200),
            every: Duration::ZERO,
            address: false,
            old_mapping,
        }),
        ..unimpaired(0)
    };
    let proxy = Proxy::start(
        "127.0.0.1:0".parse().unwrap(),
        server.local_addr().unwrap(),
        config,
    )
    .unwrap();
    let socket = client("127.0.0.1:0");
    let mut buf = [0u8; 64];
    socket.send_to(b"before", proxy.local_addr()).unwrap();
    let (_, old) = server.recv_from(&mut buf).unwrap();
    thread::sleep(Duration::from_millis(400));
    server.send_to(b"late", old).unwrap();
    let late = socket
        .recv_from(&mut buf)
        .ok()
        .map(|(len, _)| buf[..len].to_vec());
    socket.send_to(b"after", proxy.local_addr()).unwrap();
    let (_, new) = server.recv_from(&mut buf).unwrap();
    assert_ne!(new, old, "the rebinding gave the client a new binding");
    server.send_to(b"fresh", new).unwrap();
    let (len, _) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"fresh");
    (late, proxy.stop())
}

#[test]
fn the_runners_nat_drops_what_the_server_sends_to_a_replaced_binding() {
    let (late, report) = answer_to_a_replaced_binding(Duration::ZERO);
    assert_eq!(late, None);
    assert_eq!(report.rebinds, 1);
    assert_eq!(report.to_client.dropped_old_mapping, 1);
    assert_eq!(report.to_client.delivered, 1);
}

#[test]
fn a_kept_old_mapping_still_carries_the_servers_datagrams() {
    let (late, report) = answer_to_a_replaced_binding(Duration::from_secs(1));
    assert_eq!(late.as_deref(), Some(&b"late"[..]));
    assert_eq!(report.to_client.dropped_old_mapping, 0);
    assert_eq!(report.to_client.delivered, 2);
}

/// Sends one datagram with ECT(0) through quinn-udp from `socket`.
fn send_ect0(socket: &UdpSocket, state: &UdpSocketState, to: SocketAddr, data: &[u8]) {
    let transmit = Transmit {
        destination: to,
        ecn: Some(EcnCodepoint::Ect0),
        contents: data,
        segment_size: None,
        src_ip: None,
    };
    state.try_send(socket.into(), &transmit).unwrap();
}

#[test]
fn ecn_codepoints_survive_the_proxy() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let state = UdpSocketState::new((&socket).into()).unwrap();
    // First, without the proxy: does this kernel report ECN on loopback at all?
    let direct = Echo::start("127.0.0.1:0");
    send_ect0(&socket, &state, direct.addr, b"probe");
    direct.wait_for(1);
    let kernel_reports_ecn = direct.stop().first().is_some_and(|(_, ecn)| *ecn == 0b10);

    let echo = Echo::start("127.0.0.1:0");
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, unimpaired(1)).unwrap();
    for _ in 0..5 {
        send_ect0(&socket, &state, proxy.local_addr(), b"ecn");
    }
    echo.wait_for(5);
    let report = proxy.stop();
    let seen = echo.stop();
    assert_eq!(seen.len(), 5);
    if kernel_reports_ecn {
        assert_eq!(report.to_server.ecn, [0, 0, 5, 0]);
        assert!(seen.iter().all(|(_, ecn)| *ecn == 0b10), "{seen:?}");
    } else {
        eprintln!("this kernel reports no ECN on loopback: checked delivery only");
        assert_eq!(report.to_server.ecn[0], 5);
    }
}

#[test]
fn gso_batches_are_split_into_datagrams() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let state = UdpSocketState::new((&socket).into()).unwrap();
    if state.max_gso_segments() < 3 {
        eprintln!("no GSO here: skipped");
        return;
    }
    let echo = Echo::start("127.0.0.1:0");
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, unimpaired(1)).unwrap();
    let batch = [7u8; 250]; // 100 + 100 + 50
    let transmit = Transmit {
        destination: proxy.local_addr(),
        ecn: None,
        contents: &batch,
        segment_size: Some(100),
        src_ip: None,
    };
    state.try_send((&socket).into(), &transmit).unwrap();
    echo.wait_for(3);
    let report = proxy.stop();
    let seen = echo.stop();
    assert_eq!(report.to_server.datagrams, 3);
    assert_eq!(report.to_server.bytes, 250);
    assert_eq!(seen.len(), 3);
}

#[test]
fn report_counts_initials_and_pcaps_hold_every_datagram() {
    let dir = std::env::temp_dir().join(format!("tern-proxy-test-{}", std::process::id()));
    let echo = Echo::start("127.0.0.1:0");
    let config = ProxyConfig {
        pcap_dir: Some(dir.clone()),
        ..unimpaired(20)
    };
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, config).unwrap();
    let socket = client("127.0.0.1:0");
    // A v1 Initial with SCID 0xbeef, sent twice before any reply can come back.
    let mut initial = vec![0xc0, 0, 0, 0, 1, 1, 0xaa, 2, 0xbe, 0xef, 0, 0x41, 0x00];
    initial.extend([0u8; 256]);
    socket.send_to(&initial, proxy.local_addr()).unwrap();
    socket.send_to(&initial, proxy.local_addr()).unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..2 {
        socket.recv_from(&mut buf).unwrap();
    }
    let report = proxy.stop();
    echo.stop();
    assert_eq!(report.client_initials_before_reply, 2);
    // The echo server "sent" the Initials back, so they count as the server's.
    assert!(report.server_initial_scids.contains("beef"));
    assert!(report.server_initial_versions.contains(&1));
    for name in ["client.pcap", "server.pcap"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(&bytes[20..24], &101u32.to_le_bytes(), "LINKTYPE_RAW");
        let record = 16 + 20 + 8 + initial.len();
        assert_eq!(bytes.len(), 24 + 4 * record, "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn droplist_removes_the_listed_datagrams_on_the_wire() {
    let echo = Echo::start("127.0.0.1:0");
    let mut config = unimpaired(1);
    config.to_server.drop_list = vec![2, 4];
    config.to_client.drop_list = vec![1];
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, config).unwrap();
    let socket = client("127.0.0.1:0");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let answered: Vec<bool> = (0..5u8)
        .map(|i| round_trip(&socket, proxy.local_addr(), &[i; 10]).is_some())
        .collect();
    let report = proxy.stop();
    let seen = echo.stop();
    // Datagram 1 reaches the server but its echo is the first to the client.
    assert_eq!(answered, [false, false, true, false, true]);
    assert_eq!(seen.len(), 3);
    assert_eq!(report.to_server.dropped_list, 2);
    assert_eq!(report.to_client.dropped_list, 1);
}

#[test]
fn extreme_configurations_do_not_panic() {
    let echo = Echo::start("127.0.0.1:0");
    let config = ProxyConfig {
        delay: Duration::MAX,
        bandwidth_bps: 1,
        queue_packets: 0,
        rebind: Some(Rebind {
            first: Duration::ZERO,
            every: Duration::from_nanos(1),
            address: true,
            old_mapping: Duration::MAX,
        }),
        blackout: Some(Blackout {
            on: Duration::from_nanos(1),
            off: Duration::MAX,
        }),
        ..ProxyConfig::runner_default()
    };
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, config).unwrap();
    let socket = client("127.0.0.1:0");
    socket.send_to(&[0xc0; 3], proxy.local_addr()).unwrap();
    thread::sleep(Duration::from_millis(50));
    let report = proxy.stop();
    echo.stop();
    assert_eq!(report.to_server.datagrams, 1);
    assert_eq!(report.to_server.dropped_blackout, 1);
}

#[test]
fn gso_batches_keep_their_ecn_marks_through_the_proxy() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let state = UdpSocketState::new((&socket).into()).unwrap();
    if state.max_gso_segments() < 2 {
        eprintln!("no GSO here: skipped");
        return;
    }
    let direct = Echo::start("127.0.0.1:0");
    send_ect0(&socket, &state, direct.addr, b"probe");
    direct.wait_for(1);
    if direct.stop().first().is_none_or(|(_, ecn)| *ecn != 0b10) {
        eprintln!("this kernel reports no ECN on loopback: skipped");
        return;
    }
    let echo = Echo::start("127.0.0.1:0");
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, unimpaired(1)).unwrap();
    // Two full-size datagrams in one GSO call, as a client's first flight
    // with a post-quantum key share goes out.
    let batch = [7u8; 2400];
    let transmit = Transmit {
        destination: proxy.local_addr(),
        ecn: Some(EcnCodepoint::Ect0),
        contents: &batch,
        segment_size: Some(1200),
        src_ip: None,
    };
    state.try_send((&socket).into(), &transmit).unwrap();
    echo.wait_for(2);
    let report = proxy.stop();
    let seen = echo.stop();
    assert_eq!(report.to_server.ecn, [0, 0, 2, 0]);
    assert!(seen.iter().all(|(_, ecn)| *ecn == 0b10), "{seen:?}");
}
