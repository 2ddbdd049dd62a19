//! Retry as the path sees it: the tokens of the server's Retry packets and
//! the client's Initials that carry one back (RFC 9000 §8.1.2, §17.2.5).
//! Both travel in the clear, so the proxy reads them from the headers.

use super::{
    RetryReport,
    quic::{LongPacket, LongType, hex},
};

/// The most Retries whose token and Source Connection ID are kept: a
/// conforming server sends one per connection attempt, a client follows
/// at most one (RFC 9000 §17.2.5.2), and a case starts few connections.
const MAX_RETRIES_KEPT: usize = 64;

/// Running state of the Retry observations.
#[derive(Debug, Default)]
pub(crate) struct RetryCheck {
    /// (Source Connection ID, token) of each Retry kept, in order.
    retries: Vec<(Vec<u8>, Vec<u8>)>,
    report: RetryReport,
}

impl RetryCheck {
    /// A packet from the server entered the proxy.
    pub(crate) fn server_packet(&mut self, packet: &LongPacket) {
        if packet.ty != Some(LongType::Retry) {
            return;
        }
        self.report.retries = self.report.retries.saturating_add(1);
        if self.retries.len() < MAX_RETRIES_KEPT {
            self.report.tokens.push(hex(&packet.token));
            self.retries
                .push((packet.scid.clone(), packet.token.clone()));
        }
    }

    /// A packet from the client entered the proxy; only Initials sent
    /// after a Retry count.
    pub(crate) fn client_packet(&mut self, packet: &LongPacket) {
        if packet.ty != Some(LongType::Initial) || self.retries.is_empty() {
            return;
        }
        let report = &mut self.report;
        report.initials_after_retry = report.initials_after_retry.saturating_add(1);
        if packet.token.is_empty() {
            return;
        }
        let Some((scid, _)) = self
            .retries
            .iter()
            .rev()
            .find(|(_, token)| *token == packet.token)
        else {
            report.initials_with_other_token = report.initials_with_other_token.saturating_add(1);
            return;
        };
        report.initials_with_retry_token = report.initials_with_retry_token.saturating_add(1);
        // RFC 9000 §7.2: after a Retry the client addresses its Initials to
        // the Retry's Source Connection ID.
        if packet.dcid == *scid {
            report.initials_with_retry_token_to_retry_scid = report
                .initials_with_retry_token_to_retry_scid
                .saturating_add(1);
        }
    }

    /// The result so far.
    pub(crate) fn report(&self) -> RetryReport {
        self.report.clone()
    }
}
