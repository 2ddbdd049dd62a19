//! The connection's qlog trace (feature `qlog`): recovery metrics and
//! state changes, read from the connection after each input.

use std::time::Instant;

use super::{CloseReason, Closer, Connection, ConnectionError, Event, State};
use crate::{
    ConnectionId, Side, SpaceId,
    config::TransportConfig,
    qlog::{Metrics, PacketKind, QlogStream},
    recovery::RecoveryConfig,
};

/// The connection states a trace has reported so far.
#[derive(Debug, Default)]
pub(super) struct Reported {
    complete: bool,
    confirmed: bool,
    closing: bool,
    draining: bool,
    closed: bool,
    close_error: bool,
}

/// The trace of a new connection, when the configuration asks for one and
/// the factory hands out a writer.
pub(super) fn start(
    now: Instant,
    config: &TransportConfig,
    side: Side,
    odcid: &ConnectionId,
) -> Option<(QlogStream, Reported)> {
    let out = config.qlog.as_ref()?.create(side, odcid)?;
    Some((QlogStream::new(now, side, odcid, out), Reported::default()))
}

impl Connection {
    /// `recovery:metrics_updated`, when any metric changed.
    pub(super) fn qlog_metrics(&mut self, now: Instant) {
        let Some((qlog, _)) = self.qlog.as_mut() else {
            return;
        };
        let rtt = self.recovery.rtt();
        qlog.metrics_updated(
            now,
            Metrics {
                congestion_window: self.path.congestion.window(),
                bytes_in_flight: self.recovery.bytes_in_flight(),
                smoothed_rtt: rtt.smoothed(),
                min_rtt: rtt.has_sample().then(|| rtt.min()),
                latest_rtt: rtt.has_sample().then(|| rtt.latest()),
                rtt_variance: rtt.rttvar(),
            },
        );
    }

    /// `recovery:packet_lost` for packet `pn` of `space`, which recovery
    /// declared lost.
    pub(super) fn qlog_packet_lost(&mut self, now: Instant, space: SpaceId, pn: u64) {
        let Some((qlog, _)) = self.qlog.as_mut() else {
            return;
        };
        // RFC 9002 §6.1: lost by the packet threshold when enough later
        // packets were acknowledged, otherwise by the time threshold.
        let threshold = RecoveryConfig::default().packet_threshold;
        let trigger = if self
            .recovery
            .largest_acked(space)
            .is_some_and(|largest| largest >= pn.saturating_add(threshold))
        {
            "reordering_threshold"
        } else {
            "time_threshold"
        };
        qlog.packet_lost(now, PacketKind::from_space(space), pn, trigger);
    }

    /// Reports the state changes since the last call:
    /// `quic:connection_state_updated` for each new state, and
    /// `quic:connection_closed` with the error from the `Closed` event,
    /// which is still queued since the input that caused it.
    pub(super) fn qlog_sync(&mut self, now: Instant) {
        let Some((qlog, reported)) = self.qlog.as_mut() else {
            return;
        };
        if self.handshake_complete && !reported.complete {
            reported.complete = true;
            qlog.state_updated(now, "handshake_complete");
        }
        if self.handshake_confirmed && !reported.confirmed {
            reported.confirmed = true;
            qlog.state_updated(now, "handshake_confirmed");
        }
        match self.state {
            State::Closing { .. } if !reported.closing => {
                reported.closing = true;
                qlog.state_updated(now, "closing");
            }
            State::Draining { .. } if !reported.draining => {
                reported.draining = true;
                qlog.state_updated(now, "draining");
            }
            State::Drained if !reported.closed => {
                reported.closed = true;
                qlog.state_updated(now, "closed");
            }
            _ => {}
        }
        if !reported.close_error {
            let error = self.events.iter().find_map(|event| match event {
                Event::Closed(error) => Some(error),
                _ => None,
            });
            if let Some(error) = error {
                reported.close_error = true;
                // The trace shows the code and reason an application close
                // sent, which the event itself does not carry.
                let local_app = match (error, &self.close) {
                    (
                        ConnectionError::LocallyClosed,
                        Some(CloseReason::Application { code, reason }),
                    ) => Some(ConnectionError::Application {
                        code: *code,
                        reason: reason.clone(),
                        closed_by: Closer::Local,
                    }),
                    _ => None,
                };
                qlog.connection_closed(now, local_app.as_ref().unwrap_or(error));
            }
        }
    }
}
