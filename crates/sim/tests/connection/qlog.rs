//! qlog traces (tern-proto's `qlog` feature): a handshake and a transfer
//! over a lossy link, traced on both sides into memory, come out as
//! well-formed JSON-SEQ with the events an interop runner expects.

use std::{
    collections::HashSet,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use tern_proto::{
    ConnectionId, Side,
    config::{EndpointConfig, TransportConfig},
    qlog::QlogFactory,
};
use tern_sim::{
    LinkConfig,
    pair::Pair,
    quic::{CLIENT_ADDR, SERVER_ADDR},
    transfer::TransferRun,
};

/// A writer into a buffer the test reads afterwards.
#[derive(Debug, Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hands every connection a buffer and remembers them all.
#[derive(Debug, Default)]
struct MemoryQlog {
    traces: Mutex<Vec<(Side, ConnectionId, SharedBuf)>>,
}

impl QlogFactory for MemoryQlog {
    fn create(&self, side: Side, odcid: &ConnectionId) -> Option<Box<dyn Write + Send>> {
        let buf = SharedBuf::default();
        self.traces
            .lock()
            .expect("not poisoned")
            .push((side, *odcid, buf.clone()));
        Some(Box::new(buf))
    }
}

/// Splits a JSON-SEQ trace into its records, checking the framing.
fn records(bytes: &[u8]) -> Vec<Value> {
    assert_eq!(bytes.first(), Some(&0x1e), "every record starts with RS");
    bytes
        .split(|&b| b == 0x1e)
        .skip(1)
        .map(|record| {
            assert_eq!(record.last(), Some(&b'\n'), "every record ends with LF");
            serde_json::from_slice(record).expect("every record is JSON")
        })
        .collect()
}

fn packet_types(events: &[Value], name: &str) -> HashSet<String> {
    events
        .iter()
        .filter(|e| e["name"] == name)
        .filter_map(|e| e["data"]["header"]["packet_type"].as_str())
        .map(str::to_owned)
        .collect()
}

#[test]
fn qlog_traces_a_handshake_and_transfer_on_both_sides() {
    let factory = Arc::new(MemoryQlog::default());
    let link = LinkConfig::default()
        .delay(Duration::from_millis(20))
        .loss(0.05);
    let mut run = TransferRun::new(3, link, 100_000, 2);
    run.transport = TransportConfig {
        qlog: Some(factory.clone()),
        ..TransportConfig::default()
    };
    let report = run.run();
    assert!(report.completed && report.intact, "{report:?}");
    drop(run);

    let traces = factory.traces.lock().expect("not poisoned");
    let sides: Vec<Side> = traces.iter().map(|(side, _, _)| *side).collect();
    assert_eq!(sides.len(), 2, "one trace per connection: {sides:?}");
    assert!(sides.contains(&Side::Client) && sides.contains(&Side::Server));
    assert_eq!(traces[0].1, traces[1].1, "both sides name the same ODCID");

    let mut lost = 0;
    for (side, odcid, buf) in traces.iter() {
        let records = records(&buf.0.lock().expect("not poisoned"));
        let (header, events) = records.split_first().expect("a header");
        assert_eq!(header["qlog_version"], "0.3");
        assert_eq!(header["qlog_format"], "JSON-SEQ");
        let vantage = if side.is_client() { "client" } else { "server" };
        assert_eq!(header["trace"]["vantage_point"]["type"], vantage);
        assert_eq!(header["trace"]["common_fields"]["ODCID"], odcid.to_string());

        let times: Vec<f64> = events
            .iter()
            .map(|e| e["time"].as_f64().expect("a time in ms"))
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{vantage}: times go back"
        );

        for name in ["quic:packet_sent", "quic:packet_received"] {
            let types = packet_types(events, name);
            for ty in ["initial", "handshake", "1RTT"] {
                assert!(
                    types.contains(ty),
                    "{vantage}: no {ty} in {name}: {types:?}"
                );
            }
        }
        let sent = events.iter().filter(|e| e["name"] == "quic:packet_sent");
        for event in sent {
            assert!(
                event["data"]["raw"]["length"]
                    .as_u64()
                    .is_some_and(|l| l > 0)
            );
            let frames = event["data"]["frames"].as_array().expect("frames");
            assert!(!frames.is_empty() && frames.iter().all(|f| f["frame_type"].is_string()));
        }
        let has_stream = events
            .iter()
            .filter_map(|e| e["data"]["frames"].as_array())
            .flatten()
            .any(|f| f["frame_type"] == "stream");
        assert!(has_stream, "{vantage}: no stream frame");
        assert!(
            events
                .iter()
                .any(|e| e["name"] == "recovery:metrics_updated"
                    && e["data"]["smoothed_rtt"].is_number()),
            "{vantage}: no smoothed_rtt update"
        );
        let states: Vec<&str> = events
            .iter()
            .filter(|e| e["name"] == "quic:connection_state_updated")
            .filter_map(|e| e["data"]["new"].as_str())
            .collect();
        assert!(
            states.starts_with(&["handshake_complete", "handshake_confirmed"]),
            "{vantage}: states {states:?}"
        );
        lost += events
            .iter()
            .filter(|e| e["name"] == "recovery:packet_lost")
            .count();
    }
    let stats = [report.client_stats, report.server_stats];
    let counted: u64 = stats.iter().flatten().map(|s| s.packets_lost).sum();
    assert!(counted > 0, "the lossy link made recovery declare losses");
    assert_eq!(
        lost as u64, counted,
        "one packet_lost event per lost packet"
    );
}

/// Runs `run` with qlog on both sides, checks the transfer completed
/// intact, and returns the client's trace records.
fn client_records(mut run: TransferRun) -> Vec<Value> {
    let factory = Arc::new(MemoryQlog::default());
    run.transport = TransportConfig {
        qlog: Some(factory.clone()),
        ..TransportConfig::default()
    };
    let report = run.run();
    assert!(report.completed && report.intact, "{report:?}");
    drop(run);
    let traces = factory.traces.lock().expect("not poisoned");
    let (_, _, client) = traces
        .iter()
        .find(|(side, _, _)| side.is_client())
        .expect("a client trace");
    records(&client.0.lock().expect("not poisoned"))
}

// RFC 9000 §17.2.2 (test): whichever client Initial reaches the server first
// carries the ClientHello, even when the first flight and the first pair of
// probes are lost (a server may drop an opening Initial without CRYPTO).
#[test]
fn every_client_initial_probe_carries_the_client_hello() {
    let link = LinkConfig::default()
        .delay(Duration::from_millis(20))
        .blackout(Duration::ZERO..Duration::from_millis(2500));
    let records = client_records(TransferRun::new(5, link, 1_000, 1));
    let first_received = records
        .iter()
        .position(|e| e["name"] == "quic:packet_received")
        .expect("the client heard back");
    let initials: Vec<&Value> = records[..first_received]
        .iter()
        .filter(|e| e["name"] == "quic:packet_sent")
        .filter(|e| e["data"]["header"]["packet_type"] == "initial")
        .collect();
    assert!(
        initials.len() >= 5,
        "first flight and two probe pairs, got {}",
        initials.len()
    );
    for initial in initials {
        let frames = initial["data"]["frames"].as_array().expect("frames");
        assert!(
            frames.iter().any(|f| f["frame_type"] == "crypto"),
            "an Initial without CRYPTO: {initial}"
        );
    }
}

// RFC 9002 §6.2.4 (test): with nothing new to send, a probe carries the
// lost stream data again instead of a bare PING, so data lost in a
// blackout arrives with the first probe that gets through.
#[test]
fn the_first_probe_after_a_blackout_carries_the_lost_stream_data() {
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut run = TransferRun::new(6, link, 1_000, 1);
    run.blackout = Some((Duration::ZERO, Duration::from_millis(700)));
    let records = client_records(run);
    let carries_stream = |e: &Value| {
        e["data"]["frames"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["frame_type"] == "stream"))
    };
    let sent: Vec<&Value> = records
        .iter()
        .filter(|e| e["name"] == "quic:packet_sent")
        .filter(|e| e["data"]["header"]["packet_type"] == "1RTT")
        .collect();
    let first_data = sent
        .iter()
        .find(|e| carries_stream(e))
        .and_then(|e| e["time"].as_f64())
        .expect("the data went out");
    // The blackout starts with the transfer and lasts 700 ms.
    let after = sent
        .iter()
        .find(|e| e["time"].as_f64().is_some_and(|t| t > first_data + 700.0))
        .expect("something was sent after the blackout");
    assert!(
        carries_stream(after),
        "the first packet after the blackout is a bare probe: {after}"
    );
}

// RFC 9000 §13.2.1 (test): a sender bundles its ACK state with the frames
// it sends. A client whose acknowledgment of the server's first flight was
// lost sends it again with its probes, Initial and Handshake, so a server
// that only answers with ACK-only packets (as quinn does while its
// ServerHello is lost) still learns what arrived and repeats what did not.
#[test]
fn a_clients_probes_carry_its_ack_state() {
    // The server's first full datagram alone (a part of its Initial
    // flight), or its first two (Initial and Handshake packets): nothing the
    // client sends after its ClientHello arrives.
    let mut checked = 0;
    for server_datagrams in [1, 2] {
        for (space, frames) in client_long_header_packets(server_datagrams) {
            checked += 1;
            assert!(
                frames.iter().any(|f| f == "ack"),
                "a {space} probe without ACK (server datagrams: {server_datagrams}): {frames:?}"
            );
        }
    }
    // With the default provider's X25519MLKEM768 the ServerHello spans two
    // Initial packets, so after the first datagram the client probes in the
    // Initial space; with ring's X25519 it fits one, and the client's
    // packets are Handshake ones from the start.
    assert!(checked >= 2, "the client probed: {checked} probes");
}

/// The space and frames of every ack-eliciting Initial and Handshake
/// packet the client sends in a space where it has received a packet,
/// when only the server's first `server_datagrams` full-sized datagrams
/// arrive (and any ACK-only ones) and none of the client's after its
/// ClientHello.
fn client_long_header_packets(server_datagrams: usize) -> Vec<(String, Vec<String>)> {
    let factory = Arc::new(MemoryQlog::default());
    let transport = TransportConfig {
        qlog: Some(factory.clone()),
        ..TransportConfig::default()
    };
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::new(8, link, transport, EndpointConfig::default());
    // Counted among the server's full-sized datagrams only: whether it
    // acknowledges the client's first Initial on its own first (a small
    // ACK-only datagram, let through) depends on when the two halves of
    // the ClientHello are read.
    let mut server_sent = 0;
    pair.sim.drop_if(SERVER_ADDR, CLIENT_ADDR, move |datagram| {
        if datagram.len() < 1200 {
            return false;
        }
        server_sent += 1;
        server_sent > server_datagrams
    });
    let mut client_sent = 0;
    pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, move |_| {
        client_sent += 1;
        client_sent > 2
    });
    let _ = pair.run_until(Duration::from_secs(3), |_| false);
    drop(pair);
    let traces = factory.traces.lock().expect("not poisoned");
    let (_, _, client) = traces
        .iter()
        .find(|(side, _, _)| side.is_client())
        .expect("a client trace");
    let mut received: HashSet<String> = HashSet::new();
    let mut packets = Vec::new();
    for e in records(&client.0.lock().expect("not poisoned")) {
        let space = e["data"]["header"]["packet_type"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if e["name"] == "quic:packet_received" {
            received.insert(space);
            continue;
        }
        if e["name"] != "quic:packet_sent"
            || !matches!(space.as_str(), "initial" | "handshake")
            || !received.contains(&space)
        {
            continue;
        }
        let frames: Vec<String> = e["data"]["frames"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|f| f["frame_type"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if frames.iter().any(|f| f != "ack" && f != "padding") {
            packets.push((space, frames));
        }
    }
    packets
}
