//! A client's candidate paths (RFC 9000 §8.2, §9.2, §9.6): a path it opens
//! and validates before moving to it. Two reasons open one: the server's
//! preferred address once the handshake is confirmed (§9.6.1), and
//! [`Connection::migrate`], from another local IP to the same server.
//!
//! The candidate is challenged in full-size datagrams (§8.2.1) to a
//! connection ID of the server's used on no other path (§9.5). A
//! PATH_RESPONSE echoing its challenge validates it; the client then moves
//! there, with congestion control and RTT started again (§9.4), and sends
//! a PING at once: a non-probing packet is what moves the server (§9.2,
//! §9.3). A candidate whose validation times out is dropped, and the
//! connection stays where it was.

use std::{
    net::{IpAddr, SocketAddr},
    time::Instant,
};

use super::{PathFrames, Validation};
use crate::{
    Transmit,
    connection::{Connection, MIN_INITIAL_SIZE, cids::RemoteCid, path::Path},
    recovery::RttEstimator,
};

/// A path a client validates before moving to it.
#[derive(Debug)]
pub(in crate::connection) struct Candidate {
    /// The path, with its validation.
    pub(in crate::connection) path: Path,
    /// The server's connection ID its packets go to.
    cid: RemoteCid,
}

/// Why [`Connection::migrate`] did not open a new path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// Only a client moves to a new path of its own choosing (RFC 9000 §9).
    #[error("only a client migrates")]
    NotClient,
    /// RFC 9000 §9: no migration before the handshake is confirmed.
    #[error("the handshake is not confirmed yet (RFC 9000 §9)")]
    HandshakeNotConfirmed,
    /// The server sent disable_active_migration (RFC 9000 §18.2).
    #[error("the server asked its clients not to migrate (disable_active_migration)")]
    DisabledByPeer,
    /// RFC 9000 §9.5: a new path needs a connection ID of the server's
    /// not used before; none is held yet.
    #[error("no unused connection id of the server's for a new path (RFC 9000 §9.5)")]
    NoConnectionId,
    /// Another candidate path is being validated.
    #[error("a new path is being validated already")]
    InProgress,
    /// The connection is closing or closed.
    #[error("the connection is closed")]
    Closed,
    /// The endpoint's socket is bound to one address, so no other local IP
    /// can be sent from; rebind the endpoint instead.
    #[error("the endpoint is bound to a single address; use Endpoint::rebind to move it")]
    BoundToOneAddress,
    /// The path asked for is the one in use.
    #[error("the connection already uses that path")]
    SamePath,
}

impl Connection {
    /// Files the connection ID of the server's preferred address, which
    /// the endpoint routes (RFC 9000 §5.1.1: sequence number 1).
    pub(crate) fn issue_preferred_cid(&mut self, cid: crate::ConnectionId) {
        self.local_cids.issue_in_params(cid);
    }

    /// Opens a path to the same server from `local_ip`, another address of
    /// this host, validates it (RFC 9000 §8.2), and moves the connection
    /// there once the server answered (§9.2); until then it stays where it
    /// is. The endpoint's socket must be bound to a wildcard address, so
    /// that datagrams can leave from `local_ip`. Watch
    /// [`ConnectionStats::migrations`](crate::connection::ConnectionStats)
    /// and [`remote_address`](Self::remote_address) for the outcome; a
    /// path that never answers is dropped after three PTOs and counted in
    /// `path_validations_failed`.
    ///
    /// # Errors
    /// [`MigrateError`] says why no path was opened.
    pub fn migrate(&mut self, now: Instant, local_ip: IpAddr) -> Result<(), MigrateError> {
        if self.side.is_server() {
            return Err(MigrateError::NotClient);
        }
        if self.is_closed() {
            return Err(MigrateError::Closed);
        }
        if !self.handshake_confirmed {
            return Err(MigrateError::HandshakeNotConfirmed);
        }
        // RFC 9000 §9: a peer that sent disable_active_migration is not
        // moved from the address it was reached at.
        if self
            .peer_params
            .as_ref()
            .is_some_and(|p| p.disable_active_migration)
        {
            return Err(MigrateError::DisabledByPeer);
        }
        if self.local.is_some() {
            return Err(MigrateError::BoundToOneAddress);
        }
        if self.path.local_ip == Some(local_ip) {
            return Err(MigrateError::SamePath);
        }
        if self.candidate.is_some() {
            return Err(MigrateError::InProgress);
        }
        let cid = self
            .fresh_remote_cid()
            .ok_or(MigrateError::NoConnectionId)?;
        self.open_candidate(now, self.path.remote, Some(local_ip), cid);
        Ok(())
    }

    /// RFC 9000 §9.6.1: once the handshake is confirmed, a client that
    /// follows preferred addresses (`TransportConfig::follow_preferred_address`)
    /// validates the server's preferred address of the family it uses,
    /// with the connection ID that came with it (sequence number 1), and
    /// moves there. The peer's disable_active_migration does not apply
    /// (§9.6).
    pub(in crate::connection) fn probe_preferred_address(&mut self, now: Instant) {
        if self.side.is_server() || !self.config.follow_preferred_address || self.is_closed() {
            return;
        }
        let Some(preferred) = self.peer_params.as_ref().and_then(|p| p.preferred_address) else {
            return;
        };
        let remote = match self.path.remote {
            SocketAddr::V4(_) => preferred.ipv4.map(SocketAddr::V4),
            SocketAddr::V6(_) => preferred.ipv6.map(SocketAddr::V6),
        };
        let Some(remote) = remote.filter(|r| *r != self.path.remote) else {
            return;
        };
        let Some(cid) = self
            .remote_cids
            .unused()
            .find(|c| c.id == preferred.connection_id)
            .copied()
        else {
            return;
        };
        tracing::debug!(%remote, "validating the server's preferred address");
        self.open_candidate(now, remote, self.path.local_ip, cid);
    }

    /// A peer connection ID for a new path: one not used before (RFC 9000
    /// §9.5), or the zero-length one a peer with zero-length IDs uses on
    /// every path.
    fn fresh_remote_cid(&self) -> Option<RemoteCid> {
        let in_use = self.remote_cids.in_use().copied();
        if in_use.is_some_and(|c| c.id.is_empty()) {
            return in_use;
        }
        self.remote_cids.unused().next().copied()
    }

    fn open_candidate(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        cid: RemoteCid,
    ) {
        let give_up_at = now + self.validation_timeout();
        // The server's address is not validated on this path yet; we send
        // there only our probes, which RFC 9000 §8.2.1 pads in full.
        let mut path = self.new_path(now, remote, local_ip, true);
        path.validation = Some(Validation::new(give_up_at));
        self.candidate = Some(Box::new(Candidate { path, cid }));
    }

    /// Whether the candidate path's challenge is due.
    pub(in crate::connection) fn candidate_challenge_due(&self) -> bool {
        self.candidate
            .as_ref()
            .and_then(|c| c.path.validation.as_ref())
            .is_some_and(|v| v.due)
    }

    /// Sends the candidate path's challenge when due, in a full-size
    /// datagram (RFC 9000 §8.2.1).
    pub(in crate::connection) fn poll_candidate_datagram(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        if !self.candidate_challenge_due() {
            return None;
        }
        let pto = self.recovery.pto_duration(&self.path_state());
        let data = self.next_challenge();
        let candidate = self.candidate.as_mut()?;
        if let Some(v) = candidate.path.validation.as_mut() {
            v.record(data, now + pto);
        }
        let frames = PathFrames {
            challenge: Some(data),
            responses_to: (candidate.path.remote, candidate.path.local_ip),
            ack: false,
            dcid: Some(candidate.cid.id),
        };
        self.send_path_datagram(now, buf, MIN_INITIAL_SIZE as u64, frames)
    }

    /// A PATH_RESPONSE with `data`: when it answers the candidate's
    /// challenge, the client moves there. Returns whether it did.
    pub(in crate::connection) fn on_candidate_response(&mut self, data: &[u8; 8]) -> bool {
        let answers = self
            .candidate
            .as_ref()
            .and_then(|c| c.path.validation.as_ref())
            .is_some_and(|v| v.answers(data));
        if !answers {
            return false;
        }
        let Some(candidate) = self.candidate.take() else {
            return false;
        };
        let Candidate { mut path, cid } = *candidate;
        tracing::debug!(remote = %path.remote, local = ?path.local_ip, "candidate path validated: moving");
        path.validation = None;
        path.validated = true;
        // RFC 9000 §9.4: a new path's congestion control and RTT start
        // again; ECN counts go on (§13.4.1).
        std::mem::swap(&mut path.ecn, &mut self.path.ecn);
        self.recovery
            .replace_rtt(RttEstimator::new(self.config.initial_rtt));
        self.path = path;
        self.previous_path = None;
        // RFC 9000 §9.5: the new path's packets go to its own ID.
        if !cid.id.is_empty() && self.remote_cids.switch_to(cid.sequence).is_some() {
            self.remote_cid = cid.id;
        }
        self.stats.migrations += 1;
        self.stats.paths_validated += 1;
        // RFC 9000 §9.2: a non-probing packet from the new path moves the
        // server.
        self.keep_alive_pending = true;
        true
    }

    /// Drops a candidate whose validation ran out of time (RFC 9000
    /// §8.2.4), and sends its challenge again one PTO after the last.
    pub(in crate::connection) fn on_candidate_timeout(&mut self, now: Instant) {
        if self
            .candidate
            .as_mut()
            .and_then(|c| c.path.validation.as_mut())
            .is_some_and(|v| v.on_timeout(now))
        {
            tracing::debug!("candidate path validation failed");
            self.candidate = None;
            self.stats.path_validations_failed += 1;
        }
    }
}
