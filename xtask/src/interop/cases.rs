//! The quic-interop-runner test cases this harness runs, with the network
//! each one runs over and what its pass condition asks for.

use std::time::Duration;

use crate::proxy::{Blackout, Impairment, ProxyConfig, Rebind};

const KB: usize = 1 << 10;
const MB: usize = 1 << 20;

/// What the proxy's view of a run must show, beyond intact downloads and
/// the expected number of handshakes in QUIC version 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// No Retry packet was sent.
    NoRetry,
    /// The server sent a Retry and the client followed it, as the headers
    /// show in the clear (RFC 9000 §17.2.2, §17.2.5): an Initial after the
    /// Retry carried its token, to the Retry's Source Connection ID
    /// (RFC 9000 §7.2), and continued the packet numbers (RFC 9000
    /// §17.2.5.3, read from the decrypted Initials, RFC 9001 §5.2).
    RetryFollowed,
    /// The client sent its ClientHello at least twice: it was retransmitted
    /// over the long RTT. Read from the client's Initial packets, which the
    /// path can decrypt (RFC 9001 §5.2).
    ClientHelloRetransmitted,
    /// The ClientHello prefers TLS_CHACHA20_POLY1305_SHA256 (it is the first
    /// suite offered, the field the runner reads) and the ServerHello
    /// selects it. A rustls client (Tern, quinn) also offers AES-128-GCM,
    /// last: rustls requires it in every QUIC provider for Initial packets
    /// (RFC 9001 §5.2), and offers every suite of its provider.
    ChaCha20Negotiated,
    /// The server sent at most three times what it received before the
    /// client's first Handshake packet (RFC 9000 §8.1), with the runner's
    /// 3–4x tolerance.
    AmplificationLimit,
    /// Both sides marked their packets ECT(0) or ECT(1) and the network
    /// marked none CE.
    EcnMarked,
    /// Decoded: the server's `initial_max_streams_bidi` is present and at
    /// most this, so the client must wait for MAX_STREAMS.
    StreamLimitAtMost(u64),
    /// Decoded, from the server's side: it sent on more than one path
    /// (source and destination address and port), its first datagram on
    /// each new path carried a PATH_CHALLENGE (RFC 9000 §9.3, §8.2.1), and
    /// the client answered every such challenge with a PATH_RESPONSE
    /// (RFC 9000 §8.2.2). The runner's `rebind-port` check, part of
    /// `rebind-addr` and of `connectionmigration`.
    PathsValidated,
    /// Decoded: the server sent to more than one client IP address
    /// (`rebind-addr`).
    ClientAddressChanged,
    /// Decoded, from the client's side: its first packet on each new path
    /// used a Destination Connection ID other than the path before's
    /// (RFC 9000 §9.5; `connectionmigration`).
    NewConnectionIdPerPath,
    /// Decoded, from the client's side: the last connection resumed a TLS
    /// session (RFC 8446 §2.2): the server's Handshake packets of the first
    /// connection carried a Certificate and those of the last none, and
    /// the last connection's ServerHello carried a `pre_shared_key`
    /// extension. The runner's `resumption` check, part of `zerortt`.
    Resumed,
    /// Decoded, from the client's side: the client sent 0-RTT packets
    /// carrying STREAM frames (its requests, RFC 9001 §4.6.1) on the last
    /// connection, and the server's EncryptedExtensions accepted them with
    /// an `early_data` extension (RFC 8446 §4.2.10).
    ZeroRttAccepted,
    /// Decoded, from the client's side: its 1-RTT packets carried at most
    /// this many bytes of payload, the runner's bound in `zerortt` (half of
    /// what the request names add up to): the requests went in 0-RTT.
    ClientOneRttAtMost(u64),
    /// Decoded, from the client's side: the 1-RTT packets of each
    /// direction carried both key phases (RFC 9001 §6): the keys were
    /// updated and the peer answered with its own. The runner's
    /// `keyupdate` check.
    KeyUpdated,
    /// The client started on QUIC v1 and the server moved the connection
    /// to QUIC v2 by compatible version negotiation (RFC 9368 §2.2,
    /// RFC 9369): in the clear, the server's Initials carried v2 (and
    /// perhaps v1 before it); decoded, from the client's side, the client's
    /// first Initial carried v1 and every Handshake packet of either side
    /// v2. The runner's `v2` check.
    V2Negotiated,
}

/// One test case.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    /// The runner's name of the case.
    pub(crate) name: &'static str,
    /// The `TESTCASE` the endpoints are given (the runner's `testname`).
    pub(crate) endpoint_case: &'static str,
    /// The server's `TESTCASE` when it differs from the client's.
    pub(crate) server_endpoint_case: Option<&'static str>,
    /// What the case shows, for the matrix.
    pub(crate) description: &'static str,
    /// Files to serve, as (how many, bytes each).
    pub(crate) files: &'static [(usize, usize)],
    /// How many handshakes the proxy must count.
    pub(crate) handshakes: usize,
    /// Length of the server's certificate chain.
    pub(crate) chain_length: usize,
    /// Length of each file's name, in random lowercase letters.
    pub(crate) name_length: usize,
    /// Run over ::1 instead of 127.0.0.1.
    pub ipv6: bool,
    /// The proxy gets a second address ([`crate::proxy::SecondRoute`]) that
    /// leads to the server's port, and the server is told to offer it as
    /// its preferred address (`PREFERRED_ADDRESS`).
    pub(crate) preferred_address: bool,
    /// The run is killed and failed after this long.
    pub(crate) timeout: Duration,
    /// Extra conditions on the proxy's report.
    pub(crate) checks: &'static [Check],
    /// A measurement: the cell shows the goodput.
    pub(crate) measure_goodput: bool,
    /// The network between the two.
    pub(crate) network: fn(u64) -> ProxyConfig,
}

fn simple_p2p(seed: u64) -> ProxyConfig {
    ProxyConfig {
        seed,
        ..ProxyConfig::runner_default()
    }
}

fn long_rtt(seed: u64) -> ProxyConfig {
    ProxyConfig {
        delay: Duration::from_millis(750),
        ..simple_p2p(seed)
    }
}

fn both_ways(seed: u64, impairment: &Impairment) -> ProxyConfig {
    ProxyConfig {
        to_server: impairment.clone(),
        to_client: impairment.clone(),
        ..simple_p2p(seed)
    }
}

fn drop_rate(percent: f64) -> Impairment {
    Impairment {
        loss_percent: percent,
        loss_burst: 3,
        ..Impairment::default()
    }
}

fn corrupt_rate(percent: f64) -> Impairment {
    Impairment {
        corrupt_percent: percent,
        corrupt_burst: 3,
        ..Impairment::default()
    }
}

fn heavy_loss(seed: u64) -> ProxyConfig {
    both_ways(seed, &drop_rate(30.0))
}

fn light_loss(seed: u64) -> ProxyConfig {
    both_ways(seed, &drop_rate(2.0))
}

fn heavy_corruption(seed: u64) -> ProxyConfig {
    both_ways(seed, &corrupt_rate(30.0))
}

fn light_corruption(seed: u64) -> ProxyConfig {
    both_ways(seed, &corrupt_rate(2.0))
}

fn blackhole(seed: u64) -> ProxyConfig {
    ProxyConfig {
        blackout: Some(Blackout {
            on: Duration::from_secs(5),
            off: Duration::from_secs(2),
        }),
        ..simple_p2p(seed)
    }
}

/// The runner's `rebind` scenario: the client's NAT binding changes 1 s
/// after the start and then every 5 s; a datagram the server sends to a
/// replaced binding is dropped (ns-3's `RebindErrorModel` forgets it at
/// once).
fn rebind(seed: u64, address: bool) -> ProxyConfig {
    ProxyConfig {
        rebind: Some(Rebind {
            first: Duration::from_secs(1),
            every: Duration::from_secs(5),
            address,
            old_mapping: Duration::ZERO,
        }),
        ..simple_p2p(seed)
    }
}

fn rebind_port(seed: u64) -> ProxyConfig {
    rebind(seed, false)
}

fn rebind_addr(seed: u64) -> ProxyConfig {
    rebind(seed, true)
}

/// Lets the ClientHello through, then drops the client's next six
/// datagrams, so the server must wait at its amplification limit.
fn drop_retransmissions(seed: u64) -> ProxyConfig {
    ProxyConfig {
        to_server: Impairment {
            drop_list: vec![2, 3, 4, 5, 6, 7],
            ..Impairment::default()
        },
        ..simple_p2p(seed)
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// The runner's `zerortt` files: how many, and the length of their names.
const ZERO_RTT_FILES: usize = 40;
const ZERO_RTT_NAME: usize = 250;
/// The runner's bound on the client's 1-RTT payload in `zerortt`: half of
/// what the request names add up to.
const ZERO_RTT_ONE_RTT_LIMIT: u64 = (ZERO_RTT_FILES * ZERO_RTT_NAME / 2) as u64;

const fn case(name: &'static str, endpoint_case: &'static str) -> Case {
    Case {
        name,
        endpoint_case,
        server_endpoint_case: None,
        description: "",
        files: &[],
        handshakes: 1,
        chain_length: 1,
        name_length: 10,
        ipv6: false,
        preferred_address: false,
        timeout: MINUTE,
        checks: &[],
        measure_goodput: false,
        network: simple_p2p,
    }
}

/// Every case, in the runner's order.
pub(crate) fn all() -> Vec<Case> {
    let mut cases = vec![
        Case {
            description: "handshake completes; one 1 KiB file",
            files: &[(1, KB)],
            checks: &[Check::NoRetry],
            ..case("handshake", "handshake")
        },
        Case {
            description: "2, 3 and 5 MiB files over one connection",
            files: &[(1, 2 * MB), (1, 3 * MB), (1, 5 * MB)],
            ..case("transfer", "transfer")
        },
        Case {
            description: "1,999 files of 32 bytes over one connection",
            files: &[(1999, 32)],
            checks: &[Check::StreamLimitAtMost(1000)],
            ..case("multiplexing", "transfer")
        },
        Case {
            description: "handshake over a 1.5 s RTT; the ClientHello is retransmitted",
            files: &[(1, KB)],
            checks: &[Check::ClientHelloRetransmitted],
            network: long_rtt,
            ..case("longrtt", "handshake")
        },
        Case {
            description: "a 3 MiB file with ChaCha20-Poly1305 only",
            files: &[(1, 3 * MB)],
            checks: &[Check::ChaCha20Negotiated],
            ..case("chacha20", "chacha20")
        },
    ];
    cases.extend(retry_and_resumption());
    cases.extend([
        Case {
            description: "a 1 MiB file; the client updates the 1-RTT keys early in the \
                          transfer and the server answers: both key phases both ways",
            files: &[(1, MB)],
            checks: &[Check::KeyUpdated],
            ..case("keyupdate", "keyupdate")
        },
        Case {
            description: "a 10 MiB file while the link is cut for 2 s every 7 s",
            files: &[(1, 10 * MB)],
            network: blackhole,
            ..case("blackhole", "transfer")
        },
        Case {
            description: "50 handshakes of a 1 KiB file each at 30% loss (bursts of up to 3)",
            files: &[(50, KB)],
            handshakes: 50,
            timeout: 5 * MINUTE,
            network: heavy_loss,
            ..case("handshakeloss", "multiconnect")
        },
        Case {
            description: "a 2 MiB file at 2% loss (bursts of up to 3)",
            files: &[(1, 2 * MB)],
            network: light_loss,
            ..case("transferloss", "transfer")
        },
        Case {
            description: "50 handshakes of a 1 KiB file each at 30% corruption (bursts of up to 3)",
            files: &[(50, KB)],
            handshakes: 50,
            timeout: 5 * MINUTE,
            network: heavy_corruption,
            ..case("handshakecorruption", "multiconnect")
        },
        Case {
            description: "a 2 MiB file at 2% corruption (bursts of up to 3)",
            files: &[(1, 2 * MB)],
            network: light_corruption,
            ..case("transfercorruption", "transfer")
        },
    ]);
    cases.extend(ipv6_and_v2());
    cases.extend([
        Case {
            description: "a 9-certificate chain while the client's retransmissions are dropped; \
                          the server stays within 3x",
            files: &[(1, 5 * KB)],
            chain_length: 9,
            checks: &[Check::AmplificationLimit],
            network: drop_retransmissions,
            ..case("amplificationlimit", "transfer")
        },
        Case {
            description: "a 1 KiB file; both sides mark ECT",
            files: &[(1, KB)],
            checks: &[Check::EcnMarked],
            ..case("ecn", "ecn")
        },
    ]);
    cases.extend(migration_and_goodput());
    cases
}

/// The runner's cases of address validation and resumption, in its order.
fn retry_and_resumption() -> [Case; 3] {
    [
        Case {
            description: "the server sends a Retry; the client's next Initial carries its token; \
                          one 10 KiB file",
            files: &[(1, 10 * KB)],
            checks: &[Check::RetryFollowed],
            ..case("retry", "retry")
        },
        Case {
            description: "a 5 KiB file over a first connection, then a 10 KiB file over a \
                          second that resumes its TLS session: no Certificate in the second \
                          handshake, a pre_shared_key in its ServerHello",
            files: &[(1, 5 * KB), (1, 10 * KB)],
            handshakes: 2,
            checks: &[Check::Resumed],
            ..case("resumption", "resumption")
        },
        Case {
            description: "40 files of 32 bytes with 250-letter names, the first over a first \
                          connection, the others requested in 0-RTT on a second that resumes; \
                          the server accepts the early data",
            files: &[(ZERO_RTT_FILES, 32)],
            name_length: ZERO_RTT_NAME,
            handshakes: 2,
            checks: &[
                Check::Resumed,
                Check::ZeroRttAccepted,
                Check::ClientOneRttAtMost(ZERO_RTT_ONE_RTT_LIMIT),
            ],
            ..case("zerortt", "zerortt")
        },
    ]
}

/// The runner's cases of the IP and QUIC versions, in its order.
fn ipv6_and_v2() -> [Case; 2] {
    [
        Case {
            description: "5 and 10 KiB files over IPv6",
            files: &[(1, 5 * KB), (1, 10 * KB)],
            ipv6: true,
            ..case("ipv6", "transfer")
        },
        Case {
            description: "a 1 KiB file; the client starts on QUIC v1 and offers v2, the server \
                          moves the connection to v2: v1 in the client's first Initial, v2 in \
                          the server's Initials and in every Handshake packet",
            files: &[(1, KB)],
            checks: &[Check::V2Negotiated],
            ..case("v2", "v2")
        },
    ]
}

/// The runner's migration cases, in its order, and its goodput
/// measurement.
fn migration_and_goodput() -> [Case; 4] {
    [
        Case {
            description: "a 10 MiB file while the network rebinds the client's port after 1 s, \
                          then every 5 s; the server validates each new path",
            files: &[(1, 10 * MB)],
            checks: &[Check::PathsValidated],
            network: rebind_port,
            ..case("rebind-port", "transfer")
        },
        Case {
            description: "a 10 MiB file while the network rebinds the client's address and port \
                          after 1 s, then every 5 s; the server validates each new path",
            files: &[(1, 10 * MB)],
            checks: &[Check::ClientAddressChanged, Check::PathsValidated],
            network: rebind_addr,
            ..case("rebind-addr", "transfer")
        },
        Case {
            description: "a 2 MiB file; the server offers a preferred address, the client moves \
                          to it with a new connection ID and the server validates the new path",
            files: &[(1, 2 * MB)],
            checks: &[Check::PathsValidated, Check::NewConnectionIdPerPath],
            server_endpoint_case: Some("connectionmigration"),
            preferred_address: true,
            ..case("connectionmigration", "transfer")
        },
        Case {
            description: "a 10 MiB file over 10 Mbit/s and 30 ms RTT; goodput in Mbit/s",
            files: &[(1, 10 * MB)],
            measure_goodput: true,
            ..case("goodput", "transfer")
        },
    ]
}
