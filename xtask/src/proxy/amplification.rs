//! The server's anti-amplification limit, checked the way the interop
//! runner checks it: at the server's side of the link, in the order the
//! server sees datagrams.

use super::Amplification;

/// Running state of the check.
#[derive(Debug, Default)]
pub(crate) struct AmplificationCheck {
    allowed: u64,
    tolerance: u64,
    done: bool,
    report: Amplification,
}

impl AmplificationCheck {
    /// A datagram was delivered to the server.
    pub(crate) fn client_datagram(&mut self, len: usize, initial: bool, handshake: bool) {
        if self.done {
            return;
        }
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        if initial {
            self.report.client_bytes = self.report.client_bytes.saturating_add(len);
            // RFC 9000 §8.1: before validation a server sends at most three
            // times what it received; the runner tolerates up to four.
            self.allowed = self.allowed.saturating_add(len.saturating_mul(3));
            self.tolerance = self.tolerance.saturating_add(len.saturating_mul(4));
        }
        if handshake {
            // RFC 9000 §8.1: a Handshake packet from the client validates its address.
            self.report
                .log
                .push("client Handshake packet reached the server: address validated".into());
            self.report.verdict = Some(true);
            self.done = true;
        }
    }

    /// The server sent a datagram.
    pub(crate) fn server_datagram(&mut self, len: usize) {
        if self.done {
            return;
        }
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        self.report.server_bytes = self.report.server_bytes.saturating_add(len);
        if len >= self.tolerance {
            self.report.log.push(format!(
                "server sent {len} bytes with {} allowed ({} with tolerance): amplification limit violated",
                self.allowed, self.tolerance
            ));
            self.report.verdict = Some(false);
            self.done = true;
            return;
        }
        if len > self.allowed {
            self.report.log.push(format!(
                "server sent {len} bytes with {} allowed: within 3-4x tolerance",
                self.allowed
            ));
        }
        self.allowed = self.allowed.saturating_sub(len);
        self.tolerance = self.tolerance.saturating_sub(len);
    }

    /// The result so far.
    pub(crate) fn report(&self) -> Amplification {
        self.report.clone()
    }
}
