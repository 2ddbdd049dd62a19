//! qlog traces of connections (feature `qlog`).
//!
//! With a [`QlogFactory`] in
//! [`TransportConfig::qlog`](crate::config::TransportConfig::qlog), each
//! connection asks the factory for a writer when it starts and, if it gets
//! one, writes a qlog trace to it: the main schema's JSON-SEQ serialization
//! (RFC 7464: every record is the byte 0x1E, a JSON text and a line feed),
//! `qlog_version` `"0.3"`, with the QUIC and recovery event names of the
//! qlog drafts. The first record is the header; each later one is an event:
//!
//! ```text
//! \x1e{"qlog_version":"0.3","qlog_format":"JSON-SEQ","title":"tern client 0a1b…",
//!      "trace":{"vantage_point":{"type":"client"},
//!               "common_fields":{"ODCID":"0a1b…","time_format":"relative","reference_time":0}}}
//! \x1e{"time":0.0,"name":"quic:packet_sent","data":{"header":{"packet_type":"initial",
//!      "packet_number":0},"raw":{"length":1200},"frames":[{"frame_type":"crypto",…}]}}
//! ```
//!
//! `time` is in milliseconds since the connection started, taken from the
//! `now` the caller passes in: the crate still reads no clock. Events:
//! `quic:packet_sent`, `quic:packet_received` (a Retry the client followed
//! too, with its token's length only), `recovery:packet_lost`,
//! `recovery:metrics_updated` (only the fields that changed),
//! `quic:connection_state_updated` and `quic:connection_closed`.
//!
//! Writing happens on the connection's own thread, as the events occur; a
//! writer that fails is logged once (at `debug`) and then ignored, so a
//! broken sink never breaks the connection. Give the factory a buffered
//! writer: each record is a separate `write_all`.

mod frames;
#[cfg(test)]
mod tests;

use std::{io::Write, time::Duration, time::Instant};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::{ConnectionId, EncryptionLevel, Side, connection::ConnectionError};

/// Makes the writer a connection's qlog trace goes to.
///
/// Held as an `Arc<dyn QlogFactory>` in
/// [`TransportConfig::qlog`](crate::config::TransportConfig::qlog); called
/// once per connection when it is created, on the thread that drives the
/// endpoint, so it should be quick (open a file, say).
pub trait QlogFactory: Send + Sync + std::fmt::Debug {
    /// A writer for the trace of the connection at `side` whose client
    /// chose `odcid` as its first Destination Connection ID; `None` leaves
    /// this connection untraced.
    fn create(&self, side: Side, odcid: &ConnectionId) -> Option<Box<dyn Write + Send>>;
}

/// The type of a packet as qlog names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketKind {
    Initial,
    Handshake,
    ZeroRtt,
    OneRtt,
}

impl PacketKind {
    pub(crate) const fn from_level(level: EncryptionLevel) -> Self {
        match level {
            EncryptionLevel::Initial => Self::Initial,
            EncryptionLevel::Handshake => Self::Handshake,
            EncryptionLevel::ZeroRtt => Self::ZeroRtt,
            EncryptionLevel::OneRtt => Self::OneRtt,
        }
    }

    pub(crate) const fn from_space(space: crate::SpaceId) -> Self {
        match space {
            crate::SpaceId::Initial => Self::Initial,
            crate::SpaceId::Handshake => Self::Handshake,
            crate::SpaceId::Data => Self::OneRtt,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Handshake => "handshake",
            Self::ZeroRtt => "0RTT",
            Self::OneRtt => "1RTT",
        }
    }

    pub(crate) const fn level(self) -> EncryptionLevel {
        match self {
            Self::Initial => EncryptionLevel::Initial,
            Self::Handshake => EncryptionLevel::Handshake,
            Self::ZeroRtt => EncryptionLevel::ZeroRtt,
            Self::OneRtt => EncryptionLevel::OneRtt,
        }
    }
}

/// The recovery state `recovery:metrics_updated` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Metrics {
    pub(crate) congestion_window: u64,
    pub(crate) bytes_in_flight: u64,
    pub(crate) smoothed_rtt: Duration,
    /// `None` before the first RTT sample.
    pub(crate) min_rtt: Option<Duration>,
    /// `None` before the first RTT sample.
    pub(crate) latest_rtt: Option<Duration>,
    pub(crate) rtt_variance: Duration,
}

/// One connection's qlog trace: formats events and writes them to the
/// factory's writer.
pub(crate) struct QlogStream {
    out: Box<dyn Write + Send>,
    start: Instant,
    /// Set once a write failed; nothing more is written.
    failed: bool,
    /// What the last `recovery:metrics_updated` reported.
    metrics: Option<Metrics>,
}

impl QlogStream {
    /// Starts a trace at `now` (time 0) and writes its header.
    pub(crate) fn new(
        now: Instant,
        side: Side,
        odcid: &ConnectionId,
        out: Box<dyn Write + Send>,
    ) -> Self {
        let mut stream = Self {
            out,
            start: now,
            failed: false,
            metrics: None,
        };
        let vantage = match side {
            Side::Client => "client",
            Side::Server => "server",
        };
        let header = json!({
            "qlog_version": "0.3",
            "qlog_format": "JSON-SEQ",
            "title": format!("tern {vantage} {odcid}"),
            "trace": {
                "vantage_point": { "type": vantage },
                "common_fields": {
                    "ODCID": odcid.to_string(),
                    "time_format": "relative",
                    "reference_time": 0,
                },
            },
        });
        stream.write_record(&header);
        stream
    }

    /// `quic:packet_sent`, with the frames of its plaintext `payload`.
    pub(crate) fn packet_sent(
        &mut self,
        now: Instant,
        kind: PacketKind,
        pn: u64,
        length: usize,
        payload: Bytes,
    ) {
        let data = packet_data(kind, pn, length, payload);
        self.event(now, "quic:packet_sent", data);
    }

    /// `quic:packet_received`, with the frames of its decrypted `payload`.
    pub(crate) fn packet_received(
        &mut self,
        now: Instant,
        kind: PacketKind,
        pn: u64,
        length: usize,
        payload: Bytes,
    ) {
        let data = packet_data(kind, pn, length, payload);
        self.event(now, "quic:packet_received", data);
    }

    /// `quic:packet_received` for a Retry packet the client followed: its
    /// Source Connection ID, length and token length (never the token,
    /// which is a credential).
    pub(crate) fn retry_received(
        &mut self,
        now: Instant,
        scid: &ConnectionId,
        length: usize,
        token_len: usize,
    ) {
        let data = json!({
            "header": { "packet_type": "retry", "scid": scid.to_string() },
            "raw": { "length": length },
            "token": { "type": "retry", "length": token_len },
        });
        self.event(now, "quic:packet_received", data);
    }

    /// `recovery:packet_lost`; `trigger` is `reordering_threshold` or
    /// `time_threshold`.
    pub(crate) fn packet_lost(&mut self, now: Instant, kind: PacketKind, pn: u64, trigger: &str) {
        let data = json!({
            "header": { "packet_type": kind.name(), "packet_number": pn },
            "trigger": trigger,
        });
        self.event(now, "recovery:packet_lost", data);
    }

    /// `recovery:metrics_updated` with the fields that changed since the
    /// last one; nothing when none did.
    pub(crate) fn metrics_updated(&mut self, now: Instant, metrics: Metrics) {
        let last = self.metrics.replace(metrics);
        if last == Some(metrics) {
            return;
        }
        let mut data = Map::new();
        let mut put = |name: &str, changed: bool, value: Value| {
            if changed {
                data.insert(name.to_owned(), value);
            }
        };
        let ms = |d: Duration| json!(d.as_secs_f64() * 1000.0);
        put(
            "congestion_window",
            last.is_none_or(|l| l.congestion_window != metrics.congestion_window),
            json!(metrics.congestion_window),
        );
        put(
            "bytes_in_flight",
            last.is_none_or(|l| l.bytes_in_flight != metrics.bytes_in_flight),
            json!(metrics.bytes_in_flight),
        );
        put(
            "smoothed_rtt",
            last.is_none_or(|l| l.smoothed_rtt != metrics.smoothed_rtt),
            ms(metrics.smoothed_rtt),
        );
        if let Some(min_rtt) = metrics.min_rtt {
            put(
                "min_rtt",
                last.is_none_or(|l| l.min_rtt != metrics.min_rtt),
                ms(min_rtt),
            );
        }
        if let Some(latest_rtt) = metrics.latest_rtt {
            put(
                "latest_rtt",
                last.is_none_or(|l| l.latest_rtt != metrics.latest_rtt),
                ms(latest_rtt),
            );
        }
        put(
            "rtt_variance",
            last.is_none_or(|l| l.rtt_variance != metrics.rtt_variance),
            ms(metrics.rtt_variance),
        );
        self.event(now, "recovery:metrics_updated", Value::Object(data));
    }

    /// `quic:connection_state_updated` to `new` (`handshake_complete`,
    /// `handshake_confirmed`, `closing`, `draining`, `closed`).
    pub(crate) fn state_updated(&mut self, now: Instant, new: &str) {
        self.event(now, "quic:connection_state_updated", json!({ "new": new }));
    }

    /// `quic:connection_closed` for the error that ended the connection.
    pub(crate) fn connection_closed(&mut self, now: Instant, error: &ConnectionError) {
        let data = closed_data(error);
        self.event(now, "quic:connection_closed", data);
    }

    fn event(&mut self, now: Instant, name: &str, data: Value) {
        if self.failed {
            return;
        }
        let time = now.saturating_duration_since(self.start).as_secs_f64() * 1000.0;
        let record = json!({ "time": time, "name": name, "data": data });
        self.write_record(&record);
    }

    /// Writes one JSON-SEQ record (RFC 7464 §2.2); a failure stops the trace.
    fn write_record(&mut self, value: &Value) {
        if self.failed {
            return;
        }
        let mut record = Vec::with_capacity(256);
        record.push(0x1e);
        if serde_json::to_writer(&mut record, value).is_err() {
            return;
        }
        record.push(b'\n');
        if let Err(error) = self.out.write_all(&record) {
            tracing::debug!(%error, "qlog writer failed; the trace stops here");
            self.failed = true;
        }
    }
}

impl Drop for QlogStream {
    fn drop(&mut self) {
        if !self.failed
            && let Err(error) = self.out.flush()
        {
            tracing::debug!(%error, "qlog writer failed to flush");
        }
    }
}

fn packet_data(kind: PacketKind, pn: u64, length: usize, payload: Bytes) -> Value {
    json!({
        "header": { "packet_type": kind.name(), "packet_number": pn },
        "raw": { "length": length },
        "frames": frames::frames(payload, kind.level()),
    })
}

fn closed_data(error: &ConnectionError) -> Value {
    let owner = |closer: &crate::connection::Closer| match closer {
        crate::connection::Closer::Local => "local",
        crate::connection::Closer::Peer => "remote",
    };
    match error {
        ConnectionError::Transport { error, closed_by } => json!({
            "owner": owner(closed_by),
            "connection_code": error.code.name().map_or_else(
                || json!(error.code.into_inner()),
                |name| json!(name.to_ascii_lowercase()),
            ),
            "reason": error.reason.to_string(),
            "trigger": "error",
        }),
        ConnectionError::Application {
            code,
            reason,
            closed_by,
        } => json!({
            "owner": owner(closed_by),
            "application_code": code.into_inner(),
            "reason": String::from_utf8_lossy(reason),
            "trigger": "application",
        }),
        ConnectionError::TimedOut(_) => json!({ "owner": "local", "trigger": "idle_timeout" }),
        ConnectionError::HandshakeTimedOut(_) => {
            json!({ "owner": "local", "trigger": "handshake_timeout" })
        }
        ConnectionError::VersionMismatch => {
            json!({ "owner": "local", "trigger": "version_mismatch" })
        }
        ConnectionError::Reset => json!({ "owner": "remote", "trigger": "stateless_reset" }),
        ConnectionError::LocallyClosed => json!({ "owner": "local", "trigger": "application" }),
        ConnectionError::EndpointStopped => json!({ "owner": "local", "trigger": "unspecified" }),
    }
}
