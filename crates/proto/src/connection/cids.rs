//! Connection IDs after the handshake (RFC 9000 §5.1): the IDs the peer
//! issues us with NEW_CONNECTION_ID, which of them our packets go to, and
//! the ones we retire with RETIRE_CONNECTION_ID; the IDs we issue
//! ([`LocalCids`], in `local`), with what the connection asks of its
//! endpoint for them ([`EndpointEvent`]); and the path challenges to
//! answer.
//!
//! The peer's IDs are bounded by our active_connection_id_limit: at most
//! that many IDs are held, and at most twice that many retirements wait for
//! their acknowledgement. The IDs not in use are kept, lowest sequence
//! number first, for migration to pick fresh ones from.

use std::net::{IpAddr, SocketAddr};

use bytes::BufMut;

use super::Connection;
use crate::{ConnectionId, FrameType, TransportError, VarInt, frame::NewConnectionId};

mod local;

pub(crate) use self::local::LocalCids;

#[cfg(test)]
mod tests;

/// One connection ID the peer issued and has not had us retire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RemoteCid {
    /// Its sequence number (RFC 9000 §5.1.1).
    pub(crate) sequence: u64,
    /// The ID.
    pub(crate) id: ConnectionId,
    /// The stateless reset token that came with it; none for the client's
    /// handshake ID, and none for a server that sent no
    /// stateless_reset_token parameter (RFC 9000 §10.3).
    pub(crate) reset_token: Option<[u8; 16]>,
}

impl std::fmt::Debug for RemoteCid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Reset tokens let anyone end the connection; never log them.
        f.debug_struct("RemoteCid")
            .field("sequence", &self.sequence)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A retirement not yet acknowledged: to send, or sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retirement {
    sequence: u64,
    /// Sent in a packet not yet acknowledged or declared lost.
    in_flight: bool,
}

/// The peer's connection IDs, as [the module](self) describes.
#[derive(Debug, Clone)]
pub(crate) struct RemoteCids {
    /// IDs issued and not retired, by ascending sequence number; at most
    /// `limit`, the ID in use among them.
    active: Vec<RemoteCid>,
    /// The sequence number of the ID our packets go to.
    in_use: u64,
    /// The largest Retire Prior To received: every ID below it is retired.
    retire_prior_to: u64,
    /// Retirements not yet acknowledged, at most `2 * limit`.
    retiring: Vec<Retirement>,
    /// Our active_connection_id_limit.
    limit: usize,
}

/// What a NEW_CONNECTION_ID changed that the connection must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing the connection sees: an ID stored, or a duplicate.
    None,
    /// The ID in use was retired: packets now go to this one.
    Switched(RemoteCid),
}

impl RemoteCids {
    /// The table of a connection whose packets go to `id` (the peer's
    /// handshake ID, sequence number 0) and that holds at most `limit` IDs.
    pub(crate) fn new(id: ConnectionId, limit: u8) -> Self {
        let limit = usize::from(limit.max(2));
        let mut active = Vec::with_capacity(limit);
        active.push(RemoteCid {
            sequence: 0,
            id,
            reset_token: None,
        });
        Self {
            active,
            in_use: 0,
            retire_prior_to: 0,
            retiring: Vec::new(),
            limit,
        }
    }

    /// Sets the handshake ID (sequence number 0) and its reset token, once
    /// the peer's transport parameters fixed them (RFC 9000 §5.1.1: the
    /// handshake ID has sequence number 0; a server's token is its
    /// stateless_reset_token parameter, RFC 9000 §18.2).
    pub(crate) fn set_handshake_id(&mut self, id: ConnectionId, reset_token: Option<[u8; 16]>) {
        if let Some(entry) = self.active.iter_mut().find(|c| c.sequence == 0) {
            entry.id = id;
            entry.reset_token = reset_token;
        }
    }

    /// The ID our packets go to.
    pub(crate) fn in_use(&self) -> Option<&RemoteCid> {
        self.active.iter().find(|c| c.sequence == self.in_use)
    }

    /// Every ID held, by ascending sequence number.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.active.iter().map(|c| c.id)
    }

    /// The reset token of the ID in use: RFC 9000 §10.3.1 has an endpoint
    /// check only the tokens of IDs it used and did not retire, and we use
    /// one at a time.
    pub(crate) fn reset_token(&self) -> Option<[u8; 16]> {
        self.in_use().and_then(|c| c.reset_token)
    }

    /// The IDs issued and not used yet, lowest sequence number first: what
    /// migration will take a fresh ID from (RFC 9000 §9.5). Every active ID
    /// but the one in use is unused, a lower one too: we leave an ID only
    /// by retiring it, and a NEW_CONNECTION_ID reordered behind a higher
    /// one arrives after the switch to it.
    pub(crate) fn unused(&self) -> impl Iterator<Item = &RemoteCid> {
        self.active.iter().filter(|c| c.sequence != self.in_use)
    }

    /// Moves our packets to the lowest unused ID, for a new path (RFC 9000
    /// §9.5: an endpoint uses a fresh ID on each new path, so the paths
    /// cannot be linked) and retires the one in use, which is never used
    /// again. Returns the ID now in use; `None`, changing nothing, when no
    /// unused ID is held, or when the retirements awaiting acknowledgement
    /// are at their bound (twice our limit, see
    /// [`on_new_cid`](Self::on_new_cid)), until some are acknowledged.
    ///
    /// The caller sends to the returned ID from now on, and checks its
    /// reset token rather than the old one's (RFC 9000 §10.3.1).
    pub(crate) fn switch_to_unused(&mut self) -> Option<RemoteCid> {
        let sequence = self.unused().next()?.sequence;
        self.switch_to(sequence)
    }

    /// Moves our packets to the unused ID `sequence`, which a new path was
    /// validated with, and retires the one in use, as
    /// [`switch_to_unused`](Self::switch_to_unused) does; `None`, changing
    /// nothing, when that ID is no longer held or the retirements are at
    /// their bound.
    pub(crate) fn switch_to(&mut self, sequence: u64) -> Option<RemoteCid> {
        let next = *self.unused().find(|c| c.sequence == sequence)?;
        if self.retiring.len() >= 2 * self.limit {
            return None;
        }
        let old = self.in_use;
        self.active.retain(|c| c.sequence != old);
        self.queue_retirement(old).ok()?;
        self.in_use = next.sequence;
        Some(next)
    }

    /// Processes a NEW_CONNECTION_ID frame (RFC 9000 §19.15).
    ///
    /// # Errors
    /// PROTOCOL_VIOLATION when the peer's IDs are zero-length or the frame
    /// contradicts an ID it issued before; CONNECTION_ID_LIMIT_ERROR when
    /// it leaves more IDs active than our limit, or more retirements
    /// waiting than twice that.
    pub(crate) fn on_new_cid(&mut self, frame: &NewConnectionId) -> Result<Change, TransportError> {
        let violation = |reason| {
            TransportError::protocol_violation(reason).in_frame(FrameType::NEW_CONNECTION_ID)
        };
        // RFC 9000 §19.15: a peer whose packets carry a zero-length ID
        // (ours to it is zero-length) must not issue any.
        if self.active.iter().any(|c| c.id.is_empty()) {
            return Err(violation(
                "new_connection_id to a zero-length connection id",
            ));
        }
        let sequence = frame.sequence.into_inner();
        let token = Some(frame.reset_token);
        // RFC 9000 §19.15: a sequence number used for another ID, or an ID
        // repeated with another sequence number or token, may be treated
        // as PROTOCOL_VIOLATION; we do, for the IDs we hold.
        if let Some(known) = self
            .active
            .iter()
            .find(|c| c.sequence == sequence || c.id == frame.id)
        {
            if known.sequence != sequence || known.id != frame.id {
                return Err(violation("connection id and sequence number disagree"));
            }
            // The handshake ID's token is the transport parameter's; a
            // NEW_CONNECTION_ID cannot carry sequence number 0 honestly.
            if known.reset_token.is_some() && known.reset_token != token {
                return Err(violation("stateless reset token changed"));
            }
        }
        let retire_prior_to = frame.retire_prior_to.into_inner();
        let already_held = self.active.iter().any(|c| c.sequence == sequence);
        if sequence < self.retire_prior_to {
            // RFC 9000 §19.15: an ID below a Retire Prior To already
            // received is retired at once, unless it already was.
            if !already_held {
                self.queue_retirement(sequence)?;
            }
        } else if !already_held {
            self.active.push(RemoteCid {
                sequence,
                id: frame.id,
                reset_token: token,
            });
            self.active.sort_unstable_by_key(|c| c.sequence);
        }
        let mut change = Change::None;
        if retire_prior_to > self.retire_prior_to {
            // RFC 9000 §5.1.2: every ID below Retire Prior To is retired,
            // each with a RETIRE_CONNECTION_ID.
            self.retire_prior_to = retire_prior_to;
            let mut i = 0;
            while let Some(c) = self.active.get(i) {
                if c.sequence < retire_prior_to {
                    let seq = c.sequence;
                    self.active.remove(i);
                    self.queue_retirement(seq)?;
                } else {
                    i += 1;
                }
            }
            if self.in_use < retire_prior_to {
                // RFC 9000 §5.1.2: the ID in use was retired; switch to an
                // unretired one. Retire Prior To is at most the frame's own
                // sequence number, so there is one.
                let Some(next) = self.active.first().copied() else {
                    return Err(violation("every connection id retired"));
                };
                self.in_use = next.sequence;
                change = Change::Switched(next);
            }
        }
        // RFC 9000 §5.1.1: more active IDs than our limit is
        // CONNECTION_ID_LIMIT_ERROR (checked after the retirements the frame
        // asked for, which may make room).
        if self.active.len() > self.limit {
            return Err(TransportError::connection_id_limit_error(
                "more connection ids than our limit",
            )
            .in_frame(FrameType::NEW_CONNECTION_ID));
        }
        Ok(change)
    }

    /// RFC 9000 §5.1.2: retirements waiting for acknowledgement are
    /// bounded; beyond twice our limit the peer is making us retire faster
    /// than it acknowledges, CONNECTION_ID_LIMIT_ERROR.
    fn queue_retirement(&mut self, sequence: u64) -> Result<(), TransportError> {
        if self.retiring.iter().any(|r| r.sequence == sequence) {
            return Ok(());
        }
        if self.retiring.len() >= 2 * self.limit {
            return Err(TransportError::connection_id_limit_error(
                "too many connection ids retired and not yet acknowledged",
            )
            .in_frame(FrameType::NEW_CONNECTION_ID));
        }
        self.retiring.push(Retirement {
            sequence,
            in_flight: false,
        });
        Ok(())
    }

    /// Whether a RETIRE_CONNECTION_ID is waiting to be sent.
    pub(crate) fn has_retirements_to_send(&self) -> bool {
        self.retiring.iter().any(|r| !r.in_flight)
    }

    /// Writes the RETIRE_CONNECTION_ID frames waiting (RFC 9000 §19.16)
    /// that fit before `limit`, recording their sequence numbers in `sent`
    /// for the packet's acknowledgement or loss.
    pub(crate) fn write_retirements(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut Vec<u64>,
    ) {
        for retirement in self.retiring.iter_mut().filter(|r| !r.in_flight) {
            let sequence = VarInt::from_u64_bounded(retirement.sequence);
            let frame = crate::Frame::RetireConnectionId(sequence);
            if buf.len() + frame.encoded_len() > limit {
                break;
            }
            frame.encode(buf);
            retirement.in_flight = true;
            sent.push(retirement.sequence);
        }
    }

    /// The packet carrying these retirements was acknowledged: they are
    /// done.
    pub(crate) fn on_retirements_acked(&mut self, sequences: &[u64]) {
        self.retiring.retain(|r| !sequences.contains(&r.sequence));
    }

    /// The packet carrying these retirements was lost: RFC 9000 §13.3,
    /// they are sent again.
    pub(crate) fn on_retirements_lost(&mut self, sequences: &[u64]) {
        for retirement in &mut self.retiring {
            if sequences.contains(&retirement.sequence) {
                retirement.in_flight = false;
            }
        }
    }

    /// Heap bytes held (both vectors are bounded by the limit).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.active.capacity() * std::mem::size_of::<RemoteCid>()
            + self.retiring.capacity() * std::mem::size_of::<Retirement>()
    }
}

/// What a connection asks of the endpoint that routes to it, in the spirit
/// of quinn's `EndpointEvent`: the endpoint owns the routes, the RNG that
/// makes IDs and the key that makes their reset tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointEvent {
    /// Make this many new connection IDs, route them to the connection and
    /// hand each over with [`Connection::on_cid_issued`].
    NeedIds(usize),
    /// Stop routing this ID: the peer retired it.
    Unroute(ConnectionId),
}

impl Connection {
    /// Whether [`poll_endpoint_event`](Self::poll_endpoint_event) has
    /// something: cheap enough to ask after every datagram.
    pub(crate) fn has_endpoint_events(&self) -> bool {
        self.local_cids.has_unrouted() || self.cids_wanted() > 0
    }

    /// The next thing the endpoint must do for this connection. Retired IDs
    /// come first: their routes go before their replacements' are added.
    pub(crate) fn poll_endpoint_event(&mut self) -> Option<EndpointEvent> {
        if let Some(id) = self.local_cids.poll_unrouted() {
            return Some(EndpointEvent::Unroute(id));
        }
        let wanted = self.cids_wanted();
        (wanted > 0).then_some(EndpointEvent::NeedIds(wanted))
    }

    /// New IDs the peer should get: none once closed, when nothing more
    /// would be sent.
    fn cids_wanted(&self) -> usize {
        if self.is_closed() {
            0
        } else {
            self.local_cids.wanted()
        }
    }

    /// Takes a connection ID the endpoint made and routed here, with its
    /// stateless reset token (RFC 9000 §10.3.2), to announce it to the peer
    /// in a NEW_CONNECTION_ID frame.
    pub(crate) fn on_cid_issued(&mut self, id: ConnectionId, reset_token: [u8; 16]) {
        self.local_cids.on_issued(id, reset_token);
    }

    /// The connection IDs the endpoint must route here, as of the last
    /// [`poll_endpoint_event`](Self::poll_endpoint_event): the handshake's
    /// and those issued since, until the peer retired them.
    pub(crate) fn routed_cids(&self) -> impl Iterator<Item = &ConnectionId> {
        self.local_cids.routed()
    }

    /// The connection IDs of ours the peer may address packets to, by
    /// ascending sequence number: the handshake's until the peer retires
    /// it, and, once the handshake is confirmed, those issued with
    /// NEW_CONNECTION_ID (RFC 9000 §5.1), up to the lower of the peer's
    /// active_connection_id_limit and
    /// [`TransportConfig::issued_connection_ids`](crate::config::TransportConfig::issued_connection_ids).
    /// IDs a [`rotate_cids`](Self::rotate_cids) asked the peer to retire
    /// are not listed, though they reach the connection until it does.
    pub fn local_cids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.local_cids.usable().map(|(_, id)| *id)
    }

    /// The peer's connection IDs we hold, by ascending sequence number: the
    /// one our packets go to ([`remote_cid`](Self::remote_cid)) and the
    /// unused ones the peer issued with NEW_CONNECTION_ID, at most our
    /// [`TransportConfig::active_connection_id_limit`](crate::config::TransportConfig::active_connection_id_limit).
    pub fn remote_cids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.remote_cids.ids()
    }

    /// Asks the peer to stop using every connection ID we issued so far
    /// and to use new ones (RFC 9000 §5.1.2, Retire Prior To): for
    /// privacy, or to move off IDs that carry stale routing information.
    /// As many new IDs as the peer may hold go out in NEW_CONNECTION_ID
    /// frames; the old ones keep reaching this connection until the peer
    /// retires them.
    ///
    /// Returns `false`, doing nothing, before the handshake is confirmed,
    /// when this side uses zero-length IDs (there is nothing to rotate),
    /// once the connection is closed, and while the peer has not yet
    /// retired every ID of the previous rotation.
    pub fn rotate_cids(&mut self) -> bool {
        !self.is_closed() && self.local_cids.rotate()
    }
}

/// A PATH_RESPONSE owed: the challenge's data, the address it came from,
/// which the response goes back to (RFC 9000 §8.2.2), and what the
/// anti-amplification limit lets us send there if it is not the active
/// path's: three times the datagram that carried it (§8.1, §9.3.1).
#[derive(Debug, Clone, Copy)]
struct OwedResponse {
    data: [u8; 8],
    remote: SocketAddr,
    /// Our IP the challenge was sent to, when known: the response leaves
    /// from it.
    local_ip: Option<IpAddr>,
    budget: u64,
}

impl OwedResponse {
    /// Whether it is owed on the path from `remote` to `local_ip`.
    fn on(&self, remote: SocketAddr, local_ip: Option<IpAddr>) -> bool {
        self.remote == remote && super::path::same_local_ip(self.local_ip, local_ip)
    }
}

/// PATH_RESPONSE frames owed (RFC 9000 §8.2.2), the latest challenges
/// first to go; at most a configured few, the oldest pushed out.
#[derive(Debug)]
pub(crate) struct PathResponses {
    pending: std::collections::VecDeque<OwedResponse>,
    max: usize,
}

impl PathResponses {
    /// Holds at most `max` responses.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            pending: std::collections::VecDeque::new(),
            max,
        }
    }

    /// A PATH_CHALLENGE arrived with `data` from `remote` to our
    /// `local_ip`, in a datagram of `len` bytes.
    pub(crate) fn on_challenge(
        &mut self,
        data: [u8; 8],
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        len: u64,
    ) {
        if self.max == 0 {
            return;
        }
        if self.pending.len() >= self.max {
            // A flood keeps only the latest challenges: memory stays fixed.
            self.pending.pop_front();
        }
        self.pending.push_back(OwedResponse {
            data,
            remote,
            local_ip,
            budget: len.saturating_mul(3),
        });
    }

    /// Whether a response waits on the path from `remote` to `local_ip`.
    pub(crate) fn has_pending_for(&self, remote: SocketAddr, local_ip: Option<IpAddr>) -> bool {
        self.pending.iter().any(|r| r.on(remote, local_ip))
    }

    /// The first path other than the active one (from `remote` to
    /// `local_ip`) a response waits on: the peer's address, our IP, and
    /// the bytes the anti-amplification limit lets us send there.
    pub(crate) fn off_path(
        &self,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
    ) -> Option<(SocketAddr, Option<IpAddr>, u64)> {
        self.pending
            .iter()
            .find(|r| !r.on(remote, local_ip))
            .map(|r| (r.remote, r.local_ip, r.budget))
    }

    /// Writes the PATH_RESPONSE frames owed to `remote` that fit before
    /// `limit`; returns whether any was written. RFC 9000 §13.3: a
    /// PATH_RESPONSE is never sent again, so the frames are forgotten once
    /// written.
    pub(crate) fn write_for(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
    ) -> bool {
        let mut written = false;
        let mut room = true;
        self.pending.retain(|r| {
            if !r.on(remote, local_ip) || !room {
                return true;
            }
            if buf.len() + 9 > limit {
                room = false;
                return true;
            }
            buf.put_u8(0x1b); // PATH_RESPONSE, RFC 9000 §19.18
            buf.put_slice(&r.data);
            written = true;
            false
        });
        written
    }

    /// Responses waiting.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by tests"))]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Heap bytes held (bounded by the configured maximum).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.pending.capacity() * std::mem::size_of::<OwedResponse>()
    }
}
