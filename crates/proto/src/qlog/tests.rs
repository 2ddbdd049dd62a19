use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;

use super::{Metrics, PacketKind, QlogStream};
use crate::{ConnectionId, Side};

#[expect(clippy::disallowed_methods, reason = "tests need one base instant")]
fn epoch() -> Instant {
    Instant::now()
}

/// A writer into a shared buffer, to read the trace back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer that always fails.
struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
}

fn records(bytes: &[u8]) -> Vec<serde_json::Value> {
    bytes
        .split(|&b| b == 0x1e)
        .skip(1)
        .map(|r| {
            assert_eq!(r.last(), Some(&b'\n'));
            serde_json::from_slice(r).unwrap()
        })
        .collect()
}

#[test]
fn trace_is_json_seq_with_the_header_first() {
    let out = Shared::default();
    let start = epoch();
    let odcid = ConnectionId::new(&[0xab, 0xcd]).unwrap();
    let mut qlog = QlogStream::new(start, Side::Server, &odcid, Box::new(out.clone()));
    // PING then two bytes of PADDING.
    let payload = Bytes::from_static(&[0x01, 0x00, 0x00]);
    qlog.packet_sent(
        start + Duration::from_micros(1500),
        PacketKind::OneRtt,
        7,
        40,
        payload,
    );
    qlog.state_updated(start + Duration::from_millis(2), "handshake_complete");
    drop(qlog);
    let bytes = out.0.lock().unwrap().clone();
    assert_eq!(bytes.first(), Some(&0x1e));
    let records = records(&bytes);
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["qlog_version"], "0.3");
    assert_eq!(records[0]["qlog_format"], "JSON-SEQ");
    assert_eq!(records[0]["trace"]["vantage_point"]["type"], "server");
    assert_eq!(records[0]["trace"]["common_fields"]["ODCID"], "abcd");
    assert_eq!(records[1]["name"], "quic:packet_sent");
    assert_eq!(records[1]["time"], 1.5);
    assert_eq!(records[1]["data"]["header"]["packet_type"], "1RTT");
    assert_eq!(records[1]["data"]["header"]["packet_number"], 7);
    assert_eq!(records[1]["data"]["raw"]["length"], 40);
    assert_eq!(records[1]["data"]["frames"][0]["frame_type"], "ping");
    assert_eq!(records[1]["data"]["frames"][1]["frame_type"], "padding");
    assert_eq!(records[2]["data"]["new"], "handshake_complete");
}

#[test]
fn metrics_report_only_what_changed() {
    let out = Shared::default();
    let now = epoch();
    let odcid = ConnectionId::new(&[1; 8]).unwrap();
    let mut qlog = QlogStream::new(now, Side::Client, &odcid, Box::new(out.clone()));
    let mut metrics = Metrics {
        congestion_window: 12_000,
        smoothed_rtt: Duration::from_millis(333),
        ..Metrics::default()
    };
    qlog.metrics_updated(now, metrics);
    qlog.metrics_updated(now, metrics);
    metrics.bytes_in_flight = 1200;
    qlog.metrics_updated(now, metrics);
    drop(qlog);
    let records = records(&out.0.lock().unwrap());
    assert_eq!(records.len(), 3, "the unchanged update is not written");
    assert_eq!(records[1]["data"]["smoothed_rtt"], 333.0);
    // No RTT sample yet: no min or latest RTT.
    assert!(records[1]["data"].get("min_rtt").is_none());
    assert_eq!(records[1]["data"]["congestion_window"], 12_000);
    let second = records[2]["data"].as_object().unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second["bytes_in_flight"], 1200);
}

#[test]
fn a_broken_writer_is_ignored() {
    let now = epoch();
    let odcid = ConnectionId::new(&[1; 8]).unwrap();
    let mut qlog = QlogStream::new(now, Side::Client, &odcid, Box::new(Broken));
    qlog.state_updated(now, "closed");
    assert!(qlog.failed);
}

#[test]
fn a_followed_retry_is_a_received_packet_without_its_token() {
    let out = Shared::default();
    let start = epoch();
    let odcid = ConnectionId::new(&[1, 2]).unwrap();
    let mut qlog = QlogStream::new(start, Side::Client, &odcid, Box::new(out.clone()));
    let scid = ConnectionId::new(&[0xee, 0xff]).unwrap();
    qlog.retry_received(start + Duration::from_millis(3), &scid, 60, 24);
    drop(qlog);
    let records = records(&out.0.lock().unwrap());
    let event = &records[1];
    assert_eq!(event["name"], "quic:packet_received");
    assert_eq!(event["data"]["header"]["packet_type"], "retry");
    assert_eq!(event["data"]["header"]["scid"], "eeff");
    assert_eq!(event["data"]["raw"]["length"], 60);
    assert_eq!(event["data"]["token"]["length"], 24);
    assert!(event["data"]["token"].get("data").is_none());
}
