//! The connection IDs we issue (RFC 9000 §5.1): the handshake's (sequence
//! number 0), then those announced with NEW_CONNECTION_ID once the
//! handshake is confirmed, each routed to the connection by its endpoint
//! until the peer retires it.
//!
//! The table keeps the peer supplied with min(its active_connection_id_limit,
//! our `issued_connection_ids`) IDs it may use: [`wanted`](LocalCids::wanted)
//! says how many are missing, the endpoint makes them (so that every ID is
//! routed before a frame carries it) and hands them over with
//! [`on_issued`](LocalCids::on_issued). A NEW_CONNECTION_ID is sent again
//! until acknowledged (RFC 9000 §13.3); only then is its reset token
//! forgotten, so an idle connection holds 32 bytes per ID. The peer's
//! RETIRE_CONNECTION_ID retires an ID: the endpoint takes it
//! ([`poll_unrouted`](LocalCids::poll_unrouted)) to stop routing it, and a
//! replacement is wanted. [`rotate`](LocalCids::rotate) asks the peer to
//! retire every ID issued so far, with Retire Prior To (§5.1.2).
//!
//! Bounds: at most the target of IDs the peer may use, plus, after a
//! rotation, at most that many it was asked to retire and has not yet; a
//! second rotation waits for those.

use crate::{ConnectionId, FrameType, TransportError, VarInt, frame::NewConnectionId};

#[cfg(test)]
mod tests;

/// One ID we issued, still routed.
#[derive(Debug, Clone, Copy)]
struct Issued {
    sequence: u64,
    id: ConnectionId,
    /// The peer retired it: the endpoint stops routing it when it takes it
    /// with [`LocalCids::poll_unrouted`], which removes the entry.
    retired: bool,
}

/// A NEW_CONNECTION_ID not yet acknowledged, with the reset token it
/// carries (forgotten once acknowledged: the endpoint can derive it again).
#[derive(Clone, Copy)]
struct Announcement {
    sequence: u64,
    reset_token: [u8; 16],
    /// Sent in a packet not yet acknowledged or declared lost.
    in_flight: bool,
}

impl std::fmt::Debug for Announcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Reset tokens let anyone end the connection; never log them.
        f.debug_struct("Announcement")
            .field("sequence", &self.sequence)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

/// The IDs we issued, as [the module](self) describes.
#[derive(Debug, Clone)]
pub(crate) struct LocalCids {
    /// Every ID still routed, by ascending sequence number.
    issued: Vec<Issued>,
    /// NEW_CONNECTION_ID frames to send or in flight; empty (and freed)
    /// once every one was acknowledged.
    announcements: Vec<Announcement>,
    /// The sequence number the next ID gets.
    next_sequence: u64,
    /// Our Retire Prior To: the peer is to retire every ID below it.
    retire_prior_to: u64,
    /// How many IDs the peer may use at once: 0 until issuing starts, and
    /// for ever with zero-length IDs.
    target: u8,
    /// Our `issued_connection_ids`, at least 2.
    configured: u8,
    /// Entries retired by the peer and not yet taken by the endpoint (up
    /// to twice the target, after a rotation).
    unrouted: u16,
}

impl LocalCids {
    /// The table of a connection whose handshake ID (sequence number 0,
    /// RFC 9000 §5.1.1) is `handshake_id`, to keep the peer supplied with
    /// up to `issued_connection_ids` IDs (at least 2) once issuing starts.
    pub(crate) fn new(handshake_id: ConnectionId, issued_connection_ids: u8) -> Self {
        Self {
            issued: vec![Issued {
                sequence: 0,
                id: handshake_id,
                retired: false,
            }],
            announcements: Vec::new(),
            next_sequence: 1,
            retire_prior_to: 0,
            target: 0,
            configured: issued_connection_ids.max(2),
            unrouted: 0,
        }
    }

    /// Files an ID the transport parameters carry rather than a frame (a
    /// server's preferred_address, RFC 9000 §5.1.1: sequence number 1),
    /// routed and retired like the others but never announced. The caller
    /// routes it first. Returns its sequence number.
    pub(crate) fn issue_in_params(&mut self, id: ConnectionId) -> u64 {
        self.file(id)
    }

    /// Files `id` under the next sequence number, which it returns.
    fn file(&mut self, id: ConnectionId) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.issued.push(Issued {
            sequence,
            id,
            retired: false,
        });
        sequence
    }

    /// Issuing starts, the handshake confirmed (RFC 9000 §5.1.1: IDs go in
    /// 1-RTT packets), with the peer's active_connection_id_limit.
    /// Zero-length IDs issue none (RFC 9000 §5.1.1): a peer cannot tell
    /// them apart.
    pub(crate) fn start(&mut self, peer_limit: u64) {
        if self.issued.first().is_some_and(|c| c.id.is_empty()) {
            return;
        }
        let peer = u8::try_from(peer_limit).unwrap_or(u8::MAX);
        self.target = self.configured.min(peer);
        let room = usize::from(self.target).saturating_sub(self.issued.len());
        self.issued.reserve_exact(room);
    }

    /// IDs the peer may use now: issued, not retired, not below our Retire
    /// Prior To.
    fn active(&self) -> usize {
        self.issued
            .iter()
            .filter(|c| !c.retired && c.sequence >= self.retire_prior_to)
            .count()
    }

    /// How many new IDs the peer should be given now (RFC 9000 §5.1.1: no
    /// more than its limit, counting the ones it may use).
    pub(crate) fn wanted(&self) -> usize {
        usize::from(self.target).saturating_sub(self.active())
    }

    /// Takes a new ID from the endpoint, which routes it to the connection
    /// and derived `reset_token` from it (RFC 9000 §10.3.2); it goes to the
    /// peer in a NEW_CONNECTION_ID frame.
    pub(crate) fn on_issued(&mut self, id: ConnectionId, reset_token: [u8; 16]) {
        let sequence = self.file(id);
        self.announcements.push(Announcement {
            sequence,
            reset_token,
            in_flight: false,
        });
    }

    /// Asks the peer to retire every ID issued so far (RFC 9000 §5.1.2):
    /// Retire Prior To moves past them, and as many new IDs are wanted.
    /// The old ones stay routed until the peer retires them. Refused
    /// (`false`) before issuing starts, with zero-length IDs, and while
    /// IDs of an earlier rotation wait for the peer's retirement: those
    /// bound what a rotation holds.
    pub(crate) fn rotate(&mut self) -> bool {
        let waiting = self
            .issued
            .iter()
            .any(|c| !c.retired && c.sequence < self.retire_prior_to);
        if self.target == 0 || waiting {
            return false;
        }
        self.retire_prior_to = self.next_sequence;
        self.issued.reserve_exact(usize::from(self.target));
        true
    }

    /// Processes RETIRE_CONNECTION_ID (RFC 9000 §19.16), in a packet sent
    /// to `dcid`. A sequence number retired already is ignored.
    ///
    /// # Errors
    /// PROTOCOL_VIOLATION for a sequence number we never issued, or for the
    /// ID the packet was sent to.
    pub(crate) fn on_retire(
        &mut self,
        sequence: VarInt,
        dcid: &ConnectionId,
    ) -> Result<(), TransportError> {
        let violation = |reason| {
            TransportError::protocol_violation(reason).in_frame(FrameType::RETIRE_CONNECTION_ID)
        };
        let sequence = sequence.into_inner();
        // RFC 9000 §19.16: a sequence number greater than any sent is
        // PROTOCOL_VIOLATION.
        if sequence >= self.next_sequence {
            return Err(violation("retired a connection id never issued"));
        }
        let Some(entry) = self
            .issued
            .iter_mut()
            .find(|c| c.sequence == sequence && !c.retired)
        else {
            return Ok(());
        };
        // RFC 9000 §19.16: retiring the ID the packet was sent to is
        // PROTOCOL_VIOLATION.
        if entry.id == *dcid {
            return Err(violation(
                "retired the connection id the packet was sent to",
            ));
        }
        entry.retired = true;
        self.unrouted += 1;
        // Its frame need not arrive any more.
        self.announcements.retain(|a| a.sequence != sequence);
        Ok(())
    }

    /// Whether an ID the peer retired is still routed.
    pub(crate) fn has_unrouted(&self) -> bool {
        self.unrouted > 0
    }

    /// Takes an ID the peer retired, for the endpoint to stop routing it;
    /// it is forgotten.
    pub(crate) fn poll_unrouted(&mut self) -> Option<ConnectionId> {
        let index = self.issued.iter().position(|c| c.retired)?;
        self.unrouted -= 1;
        let id = self.issued.remove(index).id;
        let rotated_gone = self
            .issued
            .first()
            .is_none_or(|c| c.sequence >= self.retire_prior_to);
        let keep = usize::from(self.target).max(self.issued.len());
        if rotated_gone && self.issued.capacity() > keep {
            // What a rotation reserved goes back once its IDs are retired.
            self.issued.shrink_to(keep);
        }
        Some(id)
    }

    /// The IDs routed to the connection: every one issued and not yet
    /// taken by [`poll_unrouted`](Self::poll_unrouted).
    pub(crate) fn routed(&self) -> impl Iterator<Item = &ConnectionId> {
        self.issued.iter().map(|c| &c.id)
    }

    /// The IDs the peer may use (issued, not retired, not below Retire
    /// Prior To), by ascending sequence number.
    pub(crate) fn usable(&self) -> impl Iterator<Item = (u64, &ConnectionId)> {
        self.issued
            .iter()
            .filter(|c| !c.retired && c.sequence >= self.retire_prior_to)
            .map(|c| (c.sequence, &c.id))
    }

    /// Whether a NEW_CONNECTION_ID waits to be sent.
    pub(crate) fn has_frames_to_send(&self) -> bool {
        self.announcements.iter().any(|a| !a.in_flight)
    }

    /// Writes the NEW_CONNECTION_ID frames waiting (RFC 9000 §19.15) that
    /// fit before `limit`, each with our current Retire Prior To, recording
    /// their sequence numbers in `sent` for the packet's acknowledgement or
    /// loss.
    pub(crate) fn write_frames(&mut self, buf: &mut Vec<u8>, limit: usize, sent: &mut Vec<u64>) {
        for announcement in self.announcements.iter_mut().filter(|a| !a.in_flight) {
            let Some(issued) = self
                .issued
                .iter()
                .find(|c| c.sequence == announcement.sequence)
            else {
                continue;
            };
            // RFC 9000 §19.15: Retire Prior To is at most the frame's
            // sequence number. An ID sent again after a rotation asked for
            // its retirement carries its own: the peer retires it on the
            // other frames' Retire Prior To, and tells us.
            let retire_prior_to = self.retire_prior_to.min(announcement.sequence);
            let frame = crate::Frame::NewConnectionId(NewConnectionId {
                sequence: VarInt::from_u64_bounded(announcement.sequence),
                retire_prior_to: VarInt::from_u64_bounded(retire_prior_to),
                id: issued.id,
                reset_token: announcement.reset_token,
            });
            if buf.len() + frame.encoded_len() > limit {
                break;
            }
            frame.encode(buf);
            announcement.in_flight = true;
            sent.push(announcement.sequence);
        }
    }

    /// The packet carrying these NEW_CONNECTION_ID frames was acknowledged:
    /// they are done, and their tokens forgotten.
    pub(crate) fn on_frames_acked(&mut self, sequences: &[u64]) {
        self.announcements
            .retain(|a| !sequences.contains(&a.sequence));
        if self.announcements.is_empty() {
            self.announcements = Vec::new();
        }
    }

    /// The packet carrying these NEW_CONNECTION_ID frames was lost: RFC 9000
    /// §13.3, they are sent again (with the Retire Prior To of the time).
    pub(crate) fn on_frames_lost(&mut self, sequences: &[u64]) {
        for announcement in &mut self.announcements {
            if sequences.contains(&announcement.sequence) {
                announcement.in_flight = false;
            }
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.issued.capacity() * size_of::<Issued>()
            + self.announcements.capacity() * size_of::<Announcement>()
    }
}
