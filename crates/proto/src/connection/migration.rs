//! Path validation (RFC 9000 §8.2) and migration (§9).
//!
//! A connection sends on one path, its active [`Path`]. When a packet
//! that is not only probing and carries the largest packet number so far
//! arrives at a server from a new client address, the server moves there
//! (§9.3): the new path starts unvalidated, under the anti-amplification
//! limit (§8.1, §9.3.1), and the first datagram sent on it carries a
//! PATH_CHALLENGE padded to 1200 bytes where that limit allows (§8.2.1).
//! Congestion control, pacing, path MTU and the RTT estimate start again
//! unless only the port changed, as after a NAT rebinding (§9.4). The path
//! left behind, if it was validated, is kept to go back to: when the new
//! path's validation fails (§9.3.2), or when the peer's packets come from
//! it again, since a packet copied by an off-path attacker can move the
//! connection only until the peer's next packet (§9.3.3). It is challenged
//! too (§9.3.3), and forgotten when that challenge goes unanswered.
//!
//! A path is a peer address and one of our IPs: a server reached at a
//! second address of its own (its preferred address, §9.6) moves its side
//! of the path there when the client's non-probing packets arrive there.
//!
//! A client never follows a server to an address it did not choose (§9:
//! it drops such packets). It moves itself when its endpoint's socket is
//! rebound ([`Endpoint::rebind`](crate::endpoint::Endpoint::rebind)): it
//! sends from the new address at once, and the server validates it. It
//! also opens a candidate path, validates it and only then moves, to the
//! server's preferred address or from another local IP
//! ([`Connection::migrate`]); see `candidate.rs`.
//!
//! Challenges carry 8 bytes the peer cannot predict (§8.2.1), drawn from a
//! ChaCha stream keyed by a secret the endpoint's RNG gave the connection.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use bytes::BufMut;
use rand::{RngCore, SeedableRng, rngs::StdRng};

mod candidate;

pub(super) use self::candidate::Candidate;
pub use self::candidate::MigrateError;
use super::{Connection, MIN_INITIAL_SIZE, path::Path};
use crate::{ConnectionId, SpaceId, Transmit, recovery::RttEstimator};

/// Challenge data remembered per validation: a response to any of them
/// validates the path (RFC 9000 §8.2.3 lets a lost challenge be followed
/// by another before the first's response arrives).
const REMEMBERED_CHALLENGES: usize = 4;

/// The smallest datagram a path validation packet goes out in: below this
/// the anti-amplification limit leaves no room for one, and it waits for
/// more bytes from the peer.
const MIN_PATH_DATAGRAM: u64 = 64;

/// A PATH_CHALLENGE frame's type (RFC 9000 §19.17).
const PATH_CHALLENGE: u8 = 0x1a;

/// A path validation in progress (RFC 9000 §8.2).
#[derive(Debug)]
pub(super) struct Validation {
    /// The data of the challenges sent, `sent_count` of them, the oldest
    /// overwritten first.
    sent: [[u8; 8]; REMEMBERED_CHALLENGES],
    sent_count: usize,
    /// A PATH_CHALLENGE is due.
    due: bool,
    /// When another challenge goes out if no response came.
    resend_at: Option<Instant>,
    /// When the validation fails (RFC 9000 §8.2.4).
    give_up_at: Instant,
}

impl Validation {
    pub(super) fn new(give_up_at: Instant) -> Box<Self> {
        Box::new(Self {
            sent: [[0; 8]; REMEMBERED_CHALLENGES],
            sent_count: 0,
            due: true,
            resend_at: None,
            give_up_at,
        })
    }

    pub(super) fn record(&mut self, data: [u8; 8], resend_at: Instant) {
        self.sent[self.sent_count % REMEMBERED_CHALLENGES] = data;
        self.sent_count += 1;
        self.due = false;
        self.resend_at = Some(resend_at);
    }

    pub(super) fn answers(&self, data: &[u8; 8]) -> bool {
        self.sent[..self.sent_count.min(REMEMBERED_CHALLENGES)]
            .iter()
            .any(|sent| sent.iter().zip(data).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0)
    }

    /// Runs the timer at `now`: another challenge is due one PTO after
    /// the last; returns whether the validation ran out of time (RFC 9000
    /// §8.2.4).
    pub(super) fn on_timeout(&mut self, now: Instant) -> bool {
        if now >= self.give_up_at {
            return true;
        }
        if self.resend_at.is_some_and(|at| now >= at) {
            self.due = true;
            self.resend_at = None;
        }
        false
    }

    pub(super) fn deadline(&self) -> Instant {
        self.resend_at
            .map_or(self.give_up_at, |at| at.min(self.give_up_at))
    }
}

/// The last validated path, kept while the connection tries another
/// (RFC 9000 §9.3.2), with the RTT estimate it had when the connection
/// left it (`None` when it is the same estimate: only the port changed).
#[derive(Debug)]
pub(super) struct Fallback {
    path: Path,
    rtt: Option<RttEstimator>,
}

/// What a datagram's packets showed about its path, gathered while they
/// were processed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin {
    /// Where the datagram came from.
    pub(super) remote: SocketAddr,
    /// Our IP it was sent to, when known.
    pub(super) local_ip: Option<IpAddr>,
    /// Its size, for the anti-amplification limit of a new path.
    pub(super) len: u64,
    /// Whether it came from the active path's peer address.
    pub(super) active: bool,
    /// Whether one of its 1-RTT packets carried a non-probing frame (RFC
    /// 9000 §9.1) and the largest packet number received so far (§9.3).
    pub(super) moves: bool,
}

impl Connection {
    /// Whether a datagram from `remote`, which is not the active path's
    /// peer address, is processed at all.
    ///
    /// RFC 9000 §9: a client drops packets from a server address it did not
    /// connect to, and a peer must not migrate before the handshake is
    /// confirmed, so a server drops such datagrams until then.
    pub(super) fn accepts_datagram_from(&self, remote: SocketAddr) -> bool {
        remote == self.path.remote
            || self
                .previous_path
                .as_ref()
                .is_some_and(|f| f.path.remote == remote)
            || self
                .candidate
                .as_ref()
                .is_some_and(|c| c.path.remote == remote)
            || (self.side.is_server() && self.handshake_confirmed && !self.is_closed())
    }

    /// Counts a datagram's bytes towards the budget of the path it came on.
    pub(super) fn count_received(&mut self, remote: SocketAddr, len: u64) {
        if remote == self.path.remote {
            self.path.amplification_received = self.path.amplification_received.saturating_add(len);
        } else if let Some(fallback) = self
            .previous_path
            .as_mut()
            .filter(|f| f.path.remote == remote)
        {
            fallback.path.amplification_received =
                fallback.path.amplification_received.saturating_add(len);
        }
    }

    /// After a datagram's packets were processed: moves to its address if
    /// one of them asked for it (RFC 9000 §9.3).
    pub(super) fn after_datagram(&mut self, now: Instant, origin: &Origin) {
        if origin.active || !origin.moves || self.is_closed() || self.side.is_client() {
            return;
        }
        if origin.remote == self.path.remote {
            self.follow_to_local_ip(now, origin.local_ip);
        } else {
            self.follow_peer(now, origin.remote, origin.local_ip, origin.len);
        }
    }

    /// The client's packets now reach us at another of our IPs, its
    /// address unchanged: it moved to our preferred address (RFC 9000
    /// §9.6). Its address needs no new validation, but the path is new:
    /// congestion control and RTT start again (§9.4).
    fn follow_to_local_ip(&mut self, now: Instant, local_ip: Option<IpAddr>) {
        tracing::debug!(from = ?self.path.local_ip, to = ?local_ip, "peer moved to our other address");
        self.stats.migrations += 1;
        let mut next = self.new_path(now, self.path.remote, local_ip, self.path.validated);
        std::mem::swap(&mut next.ecn, &mut self.path.ecn);
        self.recovery
            .replace_rtt(RttEstimator::new(self.config.initial_rtt));
        self.path = next;
        self.previous_path = None;
    }

    /// RFC 9000 §9.3: the peer moved to `remote`, reaching us at
    /// `local_ip`; the datagram that showed it was `len` bytes.
    fn follow_peer(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        len: u64,
    ) {
        self.stats.migrations += 1;
        if self
            .previous_path
            .as_ref()
            .is_some_and(|f| f.path.remote == remote)
        {
            // RFC 9000 §9.3.3: back to the validated path it came from,
            // which needs no new validation; the path it leaves was never
            // validated and is dropped.
            tracing::debug!(%remote, "peer back on its previous path");
            if let Some(fallback) = self.previous_path.take() {
                self.restore(*fallback);
            }
            return;
        }
        tracing::debug!(from = %self.path.remote, to = %remote, "peer migrated");
        let port_only = remote.ip() == self.path.remote.ip();
        let local_ip = local_ip.or(self.path.local_ip);
        let mut next = self.new_path(now, remote, local_ip, false);
        next.amplification_received = len;
        // RFC 9000 §9.4: a port-only change is most likely a NAT rebinding,
        // and the path's state stays; otherwise it starts again.
        let rtt = if port_only {
            next.take_state_of(&mut self.path);
            None
        } else {
            let fresh = RttEstimator::new(self.config.initial_rtt);
            Some(self.recovery.replace_rtt(fresh))
        };
        // The ECN counts are per packet number space, and go on in ACKs
        // whatever the path (RFC 9000 §13.4.1).
        std::mem::swap(&mut next.ecn, &mut self.path.ecn);
        let give_up_at = now + self.validation_timeout();
        next.validation = Some(Validation::new(give_up_at));
        let mut left = std::mem::replace(&mut self.path, next);
        if left.validated {
            // RFC 9000 §9.3.3: the path left is challenged too: if the
            // move was an attacker's copy, the peer's answer from there
            // brings the connection back.
            left.validation = Some(Validation::new(give_up_at));
            self.previous_path = Some(Box::new(Fallback { path: left, rtt }));
        }
        // Otherwise the last validated path, if any, stays the fallback.
        // RFC 9000 §9.5: a fresh connection ID of the peer's for the new
        // destination, when the peer gave us a spare (a NAT rebinding may
        // keep the old one, but the peer may have moved on purpose).
        if let Some(next) = self.remote_cids.switch_to_unused() {
            self.remote_cid = next.id;
        }
    }

    /// Goes back to `fallback`, the last validated path.
    fn restore(&mut self, fallback: Fallback) {
        let Fallback { mut path, rtt } = fallback;
        path.validation = None;
        if let Some(rtt) = rtt {
            self.recovery.replace_rtt(rtt);
        } else {
            // Only the port had changed: the state went with the move.
            path.take_state_of(&mut self.path);
        }
        std::mem::swap(&mut path.ecn, &mut self.path.ecn);
        self.path = path;
    }

    /// A path to `remote` with fresh state.
    pub(super) fn new_path(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        validated: bool,
    ) -> Path {
        self.paths_made = self.paths_made.wrapping_add(1);
        let mut path = Path::new(now, &self.config, remote, local_ip, validated);
        path.id = self.paths_made;
        path
    }

    /// RFC 9000 §8.2.4: a validation is abandoned after three times the
    /// larger of the current PTO and the PTO of a new path (with the
    /// initial RTT).
    pub(super) fn validation_timeout(&self) -> Duration {
        let pto = self.recovery.pto_duration(&self.path_state());
        let initial = self.config.initial_rtt * 3 + self.peer_max_ack_delay();
        pto.max(initial) * 3
    }

    /// A PATH_RESPONSE arrived (RFC 9000 §8.2.3): it validates the path
    /// whose challenge it echoes, whatever path it came on (§8.2.2).
    pub(super) fn on_path_response(&mut self, data: &[u8; 8]) {
        if self
            .path
            .validation
            .as_ref()
            .is_some_and(|v| v.answers(data))
        {
            tracing::debug!(remote = %self.path.remote, "path validated");
            self.path.validation = None;
            self.path.validated = true;
            self.stats.paths_validated += 1;
            // The path left behind is no longer needed to fall back to.
            self.previous_path = None;
            return;
        }
        if self.on_candidate_response(data) {
            return;
        }
        if let Some(fallback) = self.previous_path.as_mut()
            && fallback
                .path
                .validation
                .as_ref()
                .is_some_and(|v| v.answers(data))
        {
            // Still reachable: keep it, and stop challenging it.
            fallback.path.validation = None;
        }
    }

    /// The endpoint's socket moved to `local` (see
    /// [`Endpoint::rebind`](crate::endpoint::Endpoint::rebind)): our
    /// packets now leave from a new address. RFC 9000 §9.2: sending a
    /// non-probing packet from there migrates the connection, so a PING
    /// goes out at once; §9.5: it goes to a connection ID of the peer's
    /// not used before, when one is held; §9.4: congestion control and the
    /// RTT estimate start again unless only the port changed.
    pub(crate) fn on_local_rebind(&mut self, now: Instant, local: Option<SocketAddr>) {
        let port_only = matches!((self.local, local), (Some(a), Some(b)) if a.ip() == b.ip());
        self.local = local.filter(|addr| !addr.ip().is_unspecified());
        // The socket picks the source address until the peer's datagrams
        // say which one it reaches.
        let local_ip = self.local.map(|addr| addr.ip());
        if self.is_closed() {
            self.path.local_ip = local_ip;
            return;
        }
        self.stats.migrations += 1;
        let remote = self.path.remote;
        let validated = self.path.validated;
        let mut next = self.new_path(now, remote, local_ip, validated);
        if port_only {
            next.take_state_of(&mut self.path);
        } else {
            let fresh = RttEstimator::new(self.config.initial_rtt);
            self.recovery.replace_rtt(fresh);
        }
        std::mem::swap(&mut next.ecn, &mut self.path.ecn);
        next.amplification_received = self.path.amplification_received;
        next.amplification_sent = self.path.amplification_sent;
        self.path = next;
        // Our old address is gone with its socket: nothing to go back to.
        self.previous_path = None;
        // RFC 9000 §9.5: a fresh connection ID on the new path, so that the
        // two cannot be linked, when the peer gave us one to spare.
        if let Some(next) = self.remote_cids.switch_to_unused() {
            self.remote_cid = next.id;
        }
        // RFC 9000 §9: no move before the handshake is confirmed; but the
        // old socket is gone: once the client's handshake is
        // complete (its Finished sent), a PING from the new address lets a
        // server that processed the Finished follow; the HANDSHAKE_DONE it
        // keeps resending to the old address would otherwise never come.
        if self.handshake_complete {
            self.keep_alive_pending = true;
        }
    }

    /// The earliest path validation deadline.
    pub(super) fn path_timeout(&self) -> Option<Instant> {
        let active = self.path.validation.as_ref().map(|v| v.deadline());
        let previous = self
            .previous_path
            .as_ref()
            .and_then(|f| f.path.validation.as_ref())
            .map(|v| v.deadline());
        let candidate = self
            .candidate
            .as_ref()
            .and_then(|c| c.path.validation.as_ref())
            .map(|v| v.deadline());
        active.into_iter().chain(previous).chain(candidate).min()
    }

    /// Runs the path validation timers due by `now`: challenges are sent
    /// again one PTO after the last, and a validation that ran out of time
    /// fails (RFC 9000 §8.2.4).
    pub(super) fn on_path_timeout(&mut self, now: Instant) {
        if self
            .path
            .validation
            .as_mut()
            .is_some_and(|v| v.on_timeout(now))
        {
            tracing::debug!(remote = %self.path.remote, "path validation failed");
            self.path.validation = None;
            self.stats.path_validations_failed += 1;
            // RFC 9000 §9.3.2: back to the last validated path, if any.
            if let Some(fallback) = self.previous_path.take() {
                self.restore(*fallback);
            }
        }
        if self
            .previous_path
            .as_mut()
            .and_then(|f| f.path.validation.as_mut())
            .is_some_and(|v| v.on_timeout(now))
        {
            // The path left behind does not answer: nothing to go back to.
            self.previous_path = None;
        }
        self.on_candidate_timeout(now);
    }

    /// Challenge data no one can predict (RFC 9000 §8.2.1).
    pub(super) fn next_challenge(&mut self) -> [u8; 8] {
        let mut seed = [0; 32];
        seed[..16].copy_from_slice(&self.challenge_key);
        seed[16..24].copy_from_slice(&self.challenges_made.to_le_bytes());
        self.challenges_made += 1;
        StdRng::from_seed(seed).next_u64().to_le_bytes()
    }

    /// Whether a path datagram (a challenge, or a response owed elsewhere
    /// than the active path) is due.
    pub(super) fn path_datagram_due(&self) -> bool {
        self.path.validation.as_ref().is_some_and(|v| v.due)
            || self
                .previous_path
                .as_ref()
                .and_then(|f| f.path.validation.as_ref())
                .is_some_and(|v| v.due)
            || self.candidate_challenge_due()
            || self
                .path_responses
                .off_path(self.path.remote, self.path.local_ip)
                .is_some()
    }

    /// Sends the datagram of path validation due first, if any: a
    /// response owed on another path than the active one, a challenge on
    /// the path left behind, or the active path's challenge (ahead of
    /// anything else sent there: RFC 9000 §8.2.1, §9.3).
    pub(super) fn poll_path_datagram(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        if !self.handshake_complete || !self.may_seal_one_rtt() {
            return None;
        }
        let min = MIN_INITIAL_SIZE as u64;
        if let Some((remote, local_ip, budget)) = self
            .path_responses
            .off_path(self.path.remote, self.path.local_ip)
        {
            // RFC 9000 §8.2.2: the response goes back where the challenge
            // came from, padded to 1200 bytes if three times what came from
            // there allows it (§8.1). A candidate path of ours was
            // validated already by our own challenge on it, or will be.
            let validated = self
                .candidate
                .as_ref()
                .is_some_and(|c| c.path.carries(remote, local_ip));
            let size = if validated { min } else { budget.min(min) };
            if size < MIN_PATH_DATAGRAM {
                // No room to answer; forget the response rather than block.
                let mut sink = Vec::new();
                self.path_responses
                    .write_for(&mut sink, usize::MAX, remote, local_ip);
                return None;
            }
            // The first datagram we send on a path the peer probes also
            // challenges it (RFC 9000 §8.2: either side may validate a
            // path; the peer's move there is validated again anyway), so
            // that every new path starts with a PATH_CHALLENGE of ours.
            let challenge = (!validated).then(|| self.next_challenge());
            let frames = PathFrames {
                challenge,
                responses_to: (remote, local_ip),
                ack: false,
                dcid: None,
            };
            return self.send_path_datagram(now, buf, size, frames);
        }
        if let Some(transmit) = self.poll_candidate_datagram(now, buf) {
            return Some(transmit);
        }
        let pto = self.recovery.pto_duration(&self.path_state());
        if self
            .previous_path
            .as_ref()
            .and_then(|f| f.path.validation.as_ref())
            .is_some_and(|v| v.due)
        {
            let data = self.next_challenge();
            let remote = self.previous_path.as_ref().map(|f| f.path.remote)?;
            if let Some(v) = self
                .previous_path
                .as_mut()
                .and_then(|f| f.path.validation.as_mut())
            {
                v.record(data, now + pto);
            }
            let local_ip = self.previous_path.as_ref().and_then(|f| f.path.local_ip);
            let frames = PathFrames {
                challenge: Some(data),
                responses_to: (remote, local_ip),
                ack: false,
                dcid: None,
            };
            return self.send_path_datagram(now, buf, min, frames);
        }
        if self.path.validation.as_ref().is_some_and(|v| v.due) {
            // RFC 9000 §8.2.1: padded to 1200 bytes unless the
            // anti-amplification limit forbids it.
            let size = self.amplification_budget().min(min);
            if size < MIN_PATH_DATAGRAM {
                return None;
            }
            let data = self.next_challenge();
            if let Some(v) = self.path.validation.as_mut() {
                v.record(data, now + pto);
            }
            let frames = PathFrames {
                challenge: Some(data),
                responses_to: (self.path.remote, self.path.local_ip),
                ack: true,
                dcid: None,
            };
            let transmit = self.send_path_datagram(now, buf, size, frames)?;
            self.path.amplification_sent = self
                .path
                .amplification_sent
                .saturating_add(transmit.size as u64);
            return Some(transmit);
        }
        None
    }

    /// Writes one datagram of one 1-RTT packet on the path
    /// `frames.responses_to` names, `size` bytes with padding, carrying
    /// `frames`.
    pub(super) fn send_path_datagram(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        size: u64,
        frames: PathFrames,
    ) -> Option<Transmit> {
        let base = buf.len();
        let size = usize::try_from(size).unwrap_or(MIN_INITIAL_SIZE);
        let (remote, local_ip) = frames.responses_to;
        // Only the active path's packets feed its congestion controller.
        let path_id = if self.path.carries(remote, local_ip) {
            self.path.id
        } else if let Some(candidate) = self
            .candidate
            .as_ref()
            .filter(|c| c.path.carries(remote, local_ip))
        {
            candidate.path.id
        } else {
            self.previous_path
                .as_ref()
                .filter(|f| f.path.carries(remote, local_ip))
                .map_or(u32::MAX, |f| f.path.id)
        };
        self.write_path_packet(now, buf, base + size, frames, path_id)?;
        let size = buf.len() - base;
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += size as u64;
        Some(Transmit {
            destination: remote,
            ecn: None,
            size,
            segment_size: None,
            src_ip: self.local.map(|addr| addr.ip()).or(local_ip),
        })
    }

    /// Writes a path validation packet's frames: the ACK if asked, the
    /// challenge, and the responses owed to `responses_to`; returns whether
    /// any of them elicits an acknowledgment.
    pub(super) fn write_path_frames(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: PathFrames,
        path_response: &mut bool,
    ) -> bool {
        if frames.ack {
            self.write_ack(now, SpaceId::Data, buf, limit);
        }
        let mut eliciting = false;
        if let Some(data) = frames.challenge
            && buf.len() + 9 <= limit
        {
            buf.put_u8(PATH_CHALLENGE);
            buf.put_slice(&data);
            eliciting = true;
        }
        let (remote, local_ip) = frames.responses_to;
        *path_response = self.path_responses.write_for(buf, limit, remote, local_ip);
        eliciting | *path_response
    }
}

/// What a path validation packet carries.
#[derive(Debug, Clone, Copy)]
pub(super) struct PathFrames {
    /// A PATH_CHALLENGE with this data.
    pub(super) challenge: Option<[u8; 8]>,
    /// The path the packet goes on, a peer address and our IP, and whose
    /// owed PATH_RESPONSE frames it carries.
    pub(super) responses_to: (SocketAddr, Option<IpAddr>),
    /// Whether an ACK rides along (on the active path only).
    pub(super) ack: bool,
    /// The peer's connection ID the packet goes to, when not the one in
    /// use (a candidate path's, RFC 9000 §9.5).
    pub(super) dcid: Option<ConnectionId>,
}
