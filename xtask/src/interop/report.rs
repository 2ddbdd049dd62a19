//! The outputs of a matrix run: the table for `docs/interop.md` and the
//! JSON list for tools.

use std::fmt::Write as _;

use super::{
    cases::Case,
    peers::Peer,
    run::{Outcome, RunResult},
};

/// One JSON record per run.
#[derive(serde::Serialize)]
struct Record<'a> {
    client: &'a str,
    server: &'a str,
    case: &'a str,
    result: &'static str,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    goodput_mbps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The `--json` output: `[{"client","server","case","result","seconds"}]`.
pub(crate) fn json(results: &[RunResult]) -> String {
    let records: Vec<Record<'_>> = results
        .iter()
        .map(|r| {
            let (result, reason) = match &r.outcome {
                Outcome::Pass => ("pass", None),
                Outcome::Fail(reason) => ("fail", Some(reason.as_str())),
                Outcome::Unsupported(reason) => ("unsupported", Some(reason.as_str())),
            };
            Record {
                client: &r.client,
                server: &r.server,
                case: r.case,
                result,
                seconds: (r.seconds * 100.0).round() / 100.0,
                goodput_mbps: r.goodput_mbps.map(|g| (g * 100.0).round() / 100.0),
                reason,
            }
        })
        .collect();
    serde_json::to_string_pretty(&records).unwrap_or_else(|_| "[]".into())
}

fn cell(result: Option<&RunResult>) -> String {
    match result {
        None => "not run".into(),
        Some(r) => match (&r.outcome, r.goodput_mbps) {
            (Outcome::Pass, Some(goodput)) => format!("✓ {goodput:.2} Mbit/s"),
            (Outcome::Pass, None) => format!("✓ {:.1} s", r.seconds),
            (Outcome::Fail(_), _) => "✗ fail".into(),
            (Outcome::Unsupported(_), _) => "– unsupported".into(),
        },
    }
}

/// The matrix as a Markdown table: a row per case, a column per pair.
pub(crate) fn table(cases: &[Case], pairs: &[(String, String)], results: &[RunResult]) -> String {
    let mut out = String::from("| case |");
    for (client, server) in pairs {
        let _ = write!(out, " {client} → {server} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(pairs.len()));
    out.push('\n');
    for case in cases {
        let _ = write!(out, "| {} |", case.name);
        for (client, server) in pairs {
            let found = results
                .iter()
                .find(|r| r.case == case.name && &r.client == client && &r.server == server);
            let _ = write!(out, " {} |", cell(found));
        }
        out.push('\n');
    }
    out
}

/// Failures that come from what a peer does (or does not do): (case,
/// peer, role, a part of the failure's reason that marks it, "" for any,
/// what the peer does), named beside the failure so that the matrix says
/// whose it is.
const PEER_LIMITS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "connectionmigration",
        "quinn",
        "server",
        "",
        "quinn 0.11's server answers the probe of its preferred address with a \
         PATH_RESPONSE alone, and the runner's check wants the server's own \
         PATH_CHALLENGE in the first datagram on every new path",
    ),
    (
        "connectionmigration",
        "quinn",
        "client",
        "",
        "quinn 0.11's client does not move to a server's preferred address",
    ),
    (
        "handshakecorruption",
        "aioquic",
        "server",
        "the proxy counted 51",
        "aioquic's server makes a connection for a client Initial whose \
         Destination Connection ID the corruption changed, before it fails to \
         decrypt it, and closes it with an Initial of its own; the runner \
         counts handshakes as distinct Source Connection IDs of the server's \
         Initials, so that one counts too. It happens when the corruption hits \
         those bytes, one run in several; reruns pass",
    ),
];

/// What the peer of a failed run does not do, if the failure is known to
/// come from it.
fn peer_limit(r: &RunResult) -> Option<&'static str> {
    PEER_LIMITS
        .iter()
        .find(|(case, peer, role, when, _)| {
            *case == r.case
                && match *role {
                    "server" => r.server == *peer,
                    _ => r.client == *peer,
                }
                && matches!(&r.outcome, Outcome::Fail(reason) if reason.contains(when))
        })
        .map(|limit| limit.4)
}

/// The notes under the table: every run that did not pass, and why.
pub(crate) fn notes(results: &[RunResult]) -> String {
    let mut out = String::new();
    for (title, unsupported) in [("Unsupported", true), ("Failures", false)] {
        let listed: Vec<&RunResult> = results
            .iter()
            .filter(|r| match r.outcome {
                Outcome::Pass => false,
                Outcome::Unsupported(_) => unsupported,
                Outcome::Fail(_) => !unsupported,
            })
            .collect();
        let _ = writeln!(out, "## {title}\n");
        if listed.is_empty() {
            out.push_str("None.\n\n");
            continue;
        }
        for r in listed {
            let reason = match &r.outcome {
                Outcome::Fail(reason) | Outcome::Unsupported(reason) => reason.as_str(),
                Outcome::Pass => "",
            };
            // Paths of this machine's run directory mean nothing in the
            // docs: keep the reason before them.
            let reason = reason.split("; logs:").next().unwrap_or(reason);
            let _ = write!(out, "- `{}`, {} → {}: {reason}", r.case, r.client, r.server);
            if let (Outcome::Fail(_), Some(limit)) = (&r.outcome, peer_limit(r)) {
                let _ = write!(out, ". The peer's limit: {limit}");
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The whole of `docs/interop.md`.
pub(crate) fn document(
    date: &str,
    peers: &[Peer],
    cases: &[Case],
    pairs: &[(String, String)],
    results: &[RunResult],
) -> String {
    let mut out = String::from("# Interop matrix\n\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask interop --peers {}` on {date}, on loopback, \
         through the UDP impairment proxy of `xtask/src/proxy` (the part the \
         runner's ns-3 simulator plays).\n",
        peers
            .iter()
            .filter(|p| p.name != "tern")
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    out.push_str("| implementation | version | from |\n|---|---|---|\n");
    for peer in peers {
        let from = match peer.name.as_str() {
            "tern" => "this repository (`crates/interop`)",
            "aioquic" => "PyPI, driven by `xtask/peers/aioquic/peer.py`",
            "quinn" => "the Rust package registry, in `xtask/quinn-peer`",
            _ => "",
        };
        let _ = writeln!(out, "| {} | {} | {from} |", peer.name, peer.version);
    }
    out.push_str(
        "\nColumns are client → server. ✓ passed (client wall time, or goodput \
         for the goodput measurement), ✗ failed, – one side does not support \
         the case (it exited 127; the reason is below).\n\n",
    );
    out.push_str(&table(cases, pairs, results));
    out.push('\n');
    out.push_str(&notes(results));
    out.push_str("## What each case runs and checks\n\n");
    out.push_str(
        "Every case checks that every file arrived intact, that the proxy counted the \
         expected number of handshakes (distinct source connection IDs of the server's \
         Initial packets) and that those Initials were QUIC version 1 (for `v2`, see \
         below). The network is \
         the runner's simple-p2p unless the row says otherwise: 15 ms each way, \
         10 Mbit/s, a drop-tail queue of 25 packets.\n\n| case | endpoints run | what |\n|---|---|---|\n",
    );
    for case in cases {
        let endpoints = match case.server_endpoint_case {
            Some(server) => format!("client `{}`, server `{server}`", case.endpoint_case),
            None => format!("`{}`", case.endpoint_case),
        };
        let _ = writeln!(
            out,
            "| {} | {endpoints} | {} |",
            case.name, case.description
        );
    }
    out.push_str(CAVEATS);
    out
}

const CAVEATS: &str = "
## What the proxy cannot see

The runner decrypts its captures with the endpoints' key logs; some of its
conditions need that. Here they are checked on the decrypted captures when
`tshark` is installed and an endpoint wrote a key log (the client's, else
the server's). `.ci/run` installs tshark from Debian's archive. Without
it, or without a key log, the migration, resumption, 0-RTT, key update
and v2 cases below fail, since intact files alone prove nothing about
migration, resumption, keys or versions (the runner calls such a run
unsupported); the other
decoded checks are skipped. The run's `logs/decoded-checks.txt` says what was
found, or why not:

- `multiplexing`: that the server's `initial_max_streams_bidi`, in its
  Handshake packets as the client receives them, is present and at most
  1,000 (Tern's server announces 100).
- `amplificationlimit`: that the server's Handshake CRYPTO data (the
  highest CRYPTO offset plus length) reaches 7,500 bytes (the chain written
  for the case is about 9 KB).
- `ecn`: that the client and the server each send ACK frames with ECN
  counts (the proxy checks, decoded or not, the IP ECN codepoints of every
  datagram).
- `rebind-port`, `rebind-addr` and `connectionmigration`: a path is a
  datagram's source and destination address and port, and the captures
  are walked in order, as the runner does; a datagram on a path other than
  the current one and not left before opens a new path. The server must
  have sent on more than one path (else, in the runner's words, the test
  is broken), its first datagram on each new path must carry a
  PATH_CHALLENGE (RFC 9000 §9.3, §8.2.1), and the client must have sent a
  PATH_RESPONSE with the data of each such challenge (RFC 9000 §8.2.2).
- `rebind-addr`: also that the server sent to more than one client IP
  address.
- `connectionmigration`: also that the client's first packet on each new
  path carries a Destination Connection ID other than its last packet on
  the path before (RFC 9000 §9.5). The runner compares with the first
  packet on the path before, which for the first path is the Initial's
  random DCID: a client that kept the server's connection ID would pass
  there and fails here.
- `resumption` and `zerortt`: the server's connections are told apart, as
  the runner does, by the Source Connection ID of its Handshake packets in
  the client's capture. The first connection's must carry a Certificate
  and the last's none (the runner's check), and the last connection's
  ServerHello must carry a `pre_shared_key` extension: the server took a
  ticket from the first connection (RFC 8446 §2.2, §4.2.11). A third
  connection fails the check.
- `zerortt`: also that the client sent 0-RTT packets carrying STREAM
  frames (its requests, decrypted with the key log's
  CLIENT_EARLY_TRAFFIC_SECRET), that the server's EncryptedExtensions on
  the last connection carried an `early_data` extension (it accepted
  them, RFC 8446 §4.2.10), and, as the runner bounds it, that the
  payload of the client's 1-RTT packets on both connections adds up to at
  most 5,000 bytes, half of what the 40 request names of 250 letters add
  up to.
- `keyupdate`: that the client's 1-RTT packets and the server's, in the
  client's capture, each carried key phase 0 and key phase 1 (the Key
  Phase bit, which tshark reads once it removed header protection): the
  keys were updated and the peer answered with its own (RFC 9001 §6).
  Packets tshark could not decrypt count for neither phase.
- `v2`: that, in the client's capture, the client's first Initial
  carried version 1 (`quic.version`) and every Handshake packet of the
  client and of the server carried QUIC v2 (0x6b3343cf), at least one
  each way: the client started on v1 and the handshake ran on v2. tshark
  types v2 long headers in a field of their own
  (`quic.long.packet_type_v2`, with RFC 9369's type numbers), which the
  runner reads too. The runner asks only for v1 among the client's
  Initials; the first is the stricter reading of a start on v1.

For `rebind-port` and `rebind-addr` the proxy plays the runner's `rebind`
scenario (ns-3's `RebindErrorModel`): 1 s after the proxy starts, and then
every 5 s, the client's binding changes, to a new source port (and, for
`rebind-addr`, a new source address, 127.0.0.2, 127.0.0.3, ... on IPv4
loopback, where Linux answers for all of 127.0.0.0/8); what the server
sends to a replaced binding is dropped, as the runner's NAT drops it.
The captures show the server's side as the server saw it: `server.pcap`
holds the new addresses.

For `connectionmigration` the runner tells the server `connectionmigration`
and the client `transfer`: the server offers a preferred address (RFC 9000
§9.6) and the client moves to it on its own. On loopback the preferred
address must be one of the proxy's, or the captures would not see the new
path, so the proxy listens on a second address that leads to the server's
port, and the harness tells the server to offer that address in
`PREFERRED_ADDRESS`, beside `WWW`, `CERTS` and `PORT` (the runner lets the
server choose; the server need not bind it). Tern's server offers it,
and answers 127 without it, as it cannot choose a second address of its
own on one socket. The quinn peer's server offers it; quinn's client
does not move to a preferred address, aioquic's does (after validating
it), and aioquic's server offers none.

The runner's check wants the server's first datagram on each new path to
carry a PATH_CHALLENGE. A client that validates the preferred address
first, as aioquic's does, sends its own PATH_CHALLENGE there before it
moves; a server whose first datagram on that path is only the
PATH_RESPONSE, as quinn's is, fails the check although RFC 9000 asks no
more of it. A server passes when it sends its own PATH_CHALLENGE in the
datagram that carries the PATH_RESPONSE, as Tern's does.

In `resumption` and `zerortt` every client fetches the first file over a
first connection, closes it, and fetches the others over a second
connection that offers a ticket the first received; in `zerortt` the
second connection sends its requests before its handshake completes, in
0-RTT packets. The endpoints are told the case's own name. Tern's client
keeps tickets in its configuration's store and opens the second
connection with `Connecting::into_0rtt`; Tern's server accepts 0-RTT with
its ready-made configuration. aioquic's server issues tickets only with a
store to keep them in: the peer gives it one that hands out each ticket
once, so its 0-RTT data is accepted once; aioquic's client offers the
last ticket it received and, in `zerortt`, starts without waiting for the
handshake. quinn's client enables early data in its rustls configuration
and uses `Connecting::into_0rtt`; quinn's server sets
`max_early_data_size` to `u32::MAX`. The runner counts the padding of
path MTU probes in the client's 1-RTT payload: a 1,452-byte probe (Tern)
or two of up to 1,400 bytes (quinn) on each connection would take more
than half of the 5,000 bytes, so the Tern and quinn clients do not probe
the path MTU in `zerortt`.

In `keyupdate` every client fetches a 1 MiB file and updates the 1-RTT
keys early in the transfer; the servers follow by themselves. A key
update must wait until the handshake is confirmed (RFC 9001 §6.1). Tern's
client holds its reading after the first response bytes until
`Connection::force_key_update` starts an update (it refuses before
confirmation), so the transfer cannot end first, and fails the run if
none started. aioquic's client calls `request_key_update` once connected,
which aioquic holds until the handshake is confirmed. quinn's client
calls `Connection::force_key_update` on the first response bytes, by
which the server's HANDSHAKE_DONE has normally come: quinn checks only
that the handshake completed.

In `v2` both endpoints support QUIC v2 and v1, v2 preferred, and the
client starts on v1 and offers v2 in its version_information transport
parameter (RFC 9368 §3); a server that prefers v2 moves the connection
to it by compatible version negotiation (RFC 9368 §2.2, RFC 9369), with
no extra round trip. Tern's client starts on v1 (`ClientConfig::version`)
with `EndpointConfig::supported_versions` [v2, v1], and fails the run
unless `handshake_info().quic_version()` says v2 after the transfer;
Tern's server takes the same list. aioquic does compatible negotiation
in both roles: its client is given `original_version` v1 and
`supported_versions` [v2, v1], its server `supported_versions` [v2, v1],
and it moves to the first of the client's offered versions it supports.
quinn 0.11 has no QUIC v2 (it knows v1 and drafts 29 to 34) and no
version_information, so its peer answers `v2` with 127. The proxy reads
the server's Initial versions in the clear: every other case wants v1
only, `v2` wants v2 among them and nothing but v1 before it.

`chacha20` needs no key log: the ClientHello and the ServerHello are read
from the Initial packets, whose keys come from the connection ID (RFC 9001
§5.2). The check is that the client prefers ChaCha20-Poly1305 (it is the
first suite of the ClientHello, which is the value the runner's check
reads) and that the ServerHello selects it. A ClientHello of rustls 0.23.48
or later (Tern's, quinn's) also lists AES-128-GCM, last: rustls requires a
QUIC-capable AES-128-GCM in every QUIC provider, for Initial packets
(RFC 9001 §5.2), and offers every suite of its provider. A Tern client
held to ChaCha20-Poly1305 refuses a server that picks another suite.

`retry` needs no key log either: Retry packets and the Token field of
Initial packets are not encrypted (RFC 9000 §17.2.2, §17.2.5), so the
proxy reads them as they pass. The check is that the server sent a Retry,
that a client Initial after it carried the Retry's token, addressed to the
Retry's Source Connection ID (RFC 9000 §7.2), and, as the runner also
checks, that the client's Initials after the Retry (opened with keys from
its Source Connection ID, RFC 9001 §5.2) did not start their packet
numbers over (RFC 9000 §17.2.5.3). `TESTCASE=retry` tells each server to
send a Retry to every new client: Tern's with `RetryPolicy::Always`,
aioquic's with the `retry` option of its `QuicServer`, quinn's by calling
`Incoming::retry` for every attempt whose address is not validated yet, as
quinn's own interop server does.

## ECN over loopback

Over loopback, a batch sent with GSO reaches a socket that has UDP GRO on
(quinn-udp turns it on, in Tern, quinn and the proxy) as one aggregate,
and Linux reports no ECN codepoint for it, although each datagram's IP
header carries ECT(0). The proxy stands for the network, so it turns GRO
off on its own sockets and reads, counts and forwards every datagram with
its own codepoint; a proxy test sends a marked GSO batch through it. Before
that, a client whose first flight is two datagrams (a ClientHello with a
post-quantum key share) saw its marks bleached at once, failed ECN
validation during the handshake (RFC 9000 §13.4.2) and stopped marking, in
Tern and in quinn alike. Between two endpoints on loopback without the
proxy (`tern demo`), GSO batches still arrive unmarked for that reason.

## Handshake timeout under impairment

Tern closes a handshake not complete after `handshake_timeout`, 10 s by
default, so that a peer cannot hold a handshake open with PINGs. At 30%
loss each way (`handshakeloss`), PTO backoff stretches about one handshake
in 300 past 10 s: a rerun with the timeout failed one such handshake of
a Tern client in `tern → tern`. `tern-interop`
raises the limit to 60 s for `handshakeloss` and `handshakecorruption`
(whose endpoints the runner tells `multiconnect`), as an operator of such
a network would; the idle timeout still ends a handshake that makes no
progress.

Every run keeps its key logs and pcap captures under
`target/interop/runs/<case>/<client>-<server>/logs/`, so
`tshark -r pcap/server.pcap -o tls.keylog_file:keys-server.log` shows them,
and `decoded-checks.txt` beside them holds what the decoded checks found.

## Running it

```
cargo xtask interop                              # every case, tern against aioquic and quinn
cargo xtask interop --peers aioquic --cases handshake,transfer --no-docs
cargo xtask interop --json target/interop/results.json
cargo xtask interop --pairs quinn:quinn --cases rebind-port,rebind-addr
```

`--pairs CLIENT:SERVER,...` runs only the pairs named, for instance two
peers without Tern, to see a case's checks judge other implementations;
such a run does not rewrite this file.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn run(case: &'static str, client: &str, server: &str, outcome: Outcome) -> RunResult {
        RunResult {
            client: client.into(),
            server: server.into(),
            case,
            outcome,
            seconds: 1.0,
            goodput_mbps: None,
        }
    }

    #[test]
    fn a_failure_known_to_be_the_peers_says_so_and_others_do_not() {
        let fail = || Outcome::Fail("decoded: no challenge".into());
        let notes = notes(&[
            run("connectionmigration", "tern", "quinn", fail()),
            run("connectionmigration", "quinn", "tern", fail()),
            run("connectionmigration", "tern", "tern", fail()),
            run("transfer", "tern", "quinn", fail()),
        ]);
        let lines: Vec<&str> = notes.lines().filter(|l| l.starts_with("- ")).collect();
        assert_eq!(lines.len(), 4, "{notes}");
        assert!(lines[0].contains("quinn 0.11's server answers the probe"));
        assert!(lines[1].contains("quinn 0.11's client does not move"));
        assert!(!lines[2].contains("The peer's limit"), "tern's own failure");
        assert!(!lines[3].contains("The peer's limit"), "another case");
    }

    #[test]
    fn a_known_failure_is_named_only_with_its_reason() {
        let notes = notes(&[
            run(
                "handshakecorruption",
                "tern",
                "aioquic",
                Outcome::Fail("expected 50 handshake(s), the proxy counted 51".into()),
            ),
            run(
                "handshakecorruption",
                "tern",
                "aioquic",
                Outcome::Fail("the client failed".into()),
            ),
        ]);
        let lines: Vec<&str> = notes.lines().filter(|l| l.starts_with("- ")).collect();
        assert!(
            lines[0].contains("aioquic's server makes a connection"),
            "{notes}"
        );
        assert!(!lines[1].contains("The peer's limit"), "{notes}");
    }
}
