//! The connections an endpoint holds, and the indexes that find the ones
//! with work without looking at the others: routes by connection ID, a
//! timer set ordered by deadline, queues of the connections that may have
//! something to send or events to report, and the peers' stateless reset
//! tokens.
//!
//! # Keeping the indexes true
//!
//! A connection's deadline, whether it has something to send and whether
//! it has events change only when something calls into it mutably. So
//! every such call goes through this table: [`touch`](Connections::touch)
//! for what the endpoint does to a connection (a datagram, a timeout) and
//! for what the owner may do through
//! [`Endpoint::connection_mut`](super::Endpoint::connection_mut), which
//! queues it to send, for events and to be refreshed;
//! [`transmitted`](Connections::transmitted) and
//! [`events_taken`](Connections::events_taken) after the endpoint polled it.
//! The endpoint cannot see when the owner's borrow ends, so a touched
//! connection's deadline and reset token are read again later, by
//! [`refresh`](Connections::refresh), which costs one look per connection
//! touched since the last one.
//!
//! # Routes follow the connection IDs
//!
//! A connection asks for new connection IDs, and says which ones its peer
//! retired, through its endpoint events; [`serve`](Connections::serve)
//! routes the new ones and forgets the retired ones. The endpoint serves a
//! connection right after handing it a datagram (which is how a handshake
//! completes and how the peer retires IDs) and before polling it for
//! transmits (which covers whatever the owner did through
//! `connection_mut`), so that an ID is always routed before a
//! NEW_CONNECTION_ID frame carrying it can leave, and idle connections are
//! not looked at.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    hash::{Hash, Hasher},
    net::{IpAddr, SocketAddr},
    time::Instant,
};

use super::{ConnectionHandle, HandleMap, ready::ReadyQueue};
use crate::{
    ConnectionId,
    connection::{Connection, EndpointEvent, constant_time_eq, reset_token_candidate},
};

/// Connection IDs drawn to find one that routes nowhere yet, before giving
/// up for now (a generator of very short IDs may run out): with the
/// default 8-byte random IDs a second draw is already astronomically rare.
pub(super) const UNIQUE_CID_ATTEMPTS: usize = 16;

/// A peer's stateless reset token.
///
/// RFC 9000 §10.3.1: tokens are compared without leaking their value:
/// equality runs in constant time, and the map that holds them hashes
/// with a random key (SipHash), so a lookup's timing says nothing of the
/// tokens held.
#[derive(Clone, Copy)]
struct ResetToken([u8; 16]);

impl PartialEq for ResetToken {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for ResetToken {}

impl Hash for ResetToken {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetToken(..)")
    }
}

/// RFC 9000 §10.3.1: a datagram is a stateless reset when it ends with a
/// token associated with the address it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ResetKey {
    remote: SocketAddr,
    token: ResetToken,
}

/// A connection and where the indexes file it. The connection is boxed:
/// it is several kilobytes, and the map's empty slots (up to half of them
/// after it grows) would otherwise each cost that much.
struct Slot {
    conn: Box<Connection>,
    /// The connection IDs routed to it that it does not hold itself: a
    /// server's client's original DCID. Its own (the handshake's and those
    /// it issued, see [`Connection::routed_cids`]) are not copied here.
    cids: Vec<ConnectionId>,
    /// The deadline `timers` holds for it, as of its last refresh.
    deadline: Option<Instant>,
    /// The reset token `reset_tokens` holds for it, as of its last refresh.
    reset: Option<ResetKey>,
    /// The client's IP address, while the connection counts as a server
    /// handshake in progress (see [`Handshakes`]).
    handshake_from: Option<IpAddr>,
}

/// The server handshakes in progress, in all and by client IP address: the
/// admission limits' counts. A connection counts from its insertion until
/// a refresh finds its handshake over (complete or failed) or it is
/// removed.
#[derive(Debug, Default)]
pub(super) struct Handshakes {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl Handshakes {
    /// Handshakes in progress.
    pub(super) const fn total(&self) -> usize {
        self.total
    }

    /// Handshakes in progress from `ip`.
    pub(super) fn from(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).copied().unwrap_or(0)
    }

    pub(super) fn add(&mut self, ip: IpAddr) {
        self.total += 1;
        *self.by_ip.entry(ip).or_default() += 1;
    }

    pub(super) fn remove(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(count) = self.by_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }
}

/// The connections of an endpoint, by handle, with their indexes.
#[derive(Default)]
pub(super) struct Connections {
    slots: HandleMap<Slot>,
    /// Connection IDs (ours, and a client's original DCID) to connections.
    routes: HashMap<ConnectionId, ConnectionHandle>,
    /// Each connection's deadline, earliest first.
    timers: BTreeSet<(Instant, ConnectionHandle)>,
    /// Connections that may have something to send: touched since their
    /// `poll_transmit` last returned `None`.
    send_ready: ReadyQueue,
    /// Connections that may have events: touched or polled for transmits
    /// since their `poll` last returned `None`.
    event_ready: ReadyQueue,
    /// Connections whose deadline or reset token may have changed since
    /// they were filed.
    dirty: ReadyQueue,
    /// The peers' stateless reset tokens, to the connections that learned
    /// them (more than one only if a peer reused a token).
    reset_tokens: HashMap<ResetKey, Vec<ConnectionHandle>>,
    /// Server handshakes in progress.
    handshakes: Handshakes,
    /// Calls into connections made to find work: polls for transmits and
    /// events, timeouts handled, deadlines read, reset checks.
    #[cfg(test)]
    pub(super) visits: u64,
}

impl Connections {
    /// How many connections there are.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Every connection's handle, in no particular order.
    pub(super) fn handles(&self) -> Vec<ConnectionHandle> {
        self.slots.keys().copied().collect()
    }

    /// A connection, to read.
    pub(super) fn get(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.slots.get(&handle).map(|slot| &*slot.conn)
    }

    /// A connection, to act on: it is queued to send, for events and to
    /// be refreshed, since whatever is done to it may change all three.
    pub(super) fn touch(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        let slot = self.slots.get_mut(&handle)?;
        self.send_ready.push(handle);
        self.event_ready.push(handle);
        self.dirty.push(handle);
        Some(&mut slot.conn)
    }

    /// A connection, to poll it: the caller reports what came of it with
    /// [`transmitted`](Self::transmitted) or
    /// [`events_taken`](Self::events_taken), or touches it.
    pub(super) fn visit(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        #[cfg(test)]
        {
            self.visits += 1;
        }
        self.slots.get_mut(&handle).map(|slot| &mut *slot.conn)
    }

    /// Adds a connection, routed by `cids`; it is touched. A server
    /// connection still in its handshake counts as a handshake in progress
    /// from its client's address.
    pub(super) fn insert(
        &mut self,
        handle: ConnectionHandle,
        conn: Connection,
        cids: &[ConnectionId],
    ) {
        for cid in cids {
            self.routes.insert(*cid, handle);
        }
        let handshake_from =
            (conn.side().is_server() && conn.is_handshaking()).then(|| conn.remote_address().ip());
        if let Some(ip) = handshake_from {
            self.handshakes.add(ip);
        }
        let foreign = cids
            .iter()
            .filter(|cid| !conn.routed_cids().any(|own| own == *cid))
            .copied()
            .collect();
        self.slots.insert(
            handle,
            Slot {
                conn: Box::new(conn),
                cids: foreign,
                deadline: None,
                reset: None,
                handshake_from,
            },
        );
        self.touch(handle);
    }

    /// The server handshakes in progress, as of the last
    /// [`refresh`](Self::refresh).
    pub(super) const fn handshakes(&self) -> &Handshakes {
        &self.handshakes
    }

    /// The connection a connection ID routes to.
    pub(super) fn route(&self, cid: &ConnectionId) -> Option<ConnectionHandle> {
        self.routes.get(cid).copied()
    }

    /// Does what connection `handle` asked of the endpoint (its
    /// [`EndpointEvent`]s): routes as many new connection IDs from `make`
    /// as it wants, each one that routes nowhere yet, and hands each to the
    /// connection with its reset token from `token`; stops routing the IDs
    /// its peer retired. Costs one lookup for a connection that asked
    /// nothing. Gives up for now on an ID when `make` returned only IDs
    /// already routed, [`UNIQUE_CID_ATTEMPTS`] times.
    pub(super) fn serve(
        &mut self,
        handle: ConnectionHandle,
        make: &mut dyn FnMut() -> ConnectionId,
        token: &dyn Fn(&ConnectionId) -> [u8; 16],
    ) {
        let Some(slot) = self.slots.get_mut(&handle) else {
            return;
        };
        if !slot.conn.has_endpoint_events() {
            return;
        }
        while let Some(event) = slot.conn.poll_endpoint_event() {
            match event {
                EndpointEvent::Unroute(cid) => {
                    if self.routes.get(&cid) == Some(&handle) {
                        self.routes.remove(&cid);
                    }
                }
                EndpointEvent::NeedIds(count) => {
                    for _ in 0..count {
                        let Some(cid) = (0..UNIQUE_CID_ATTEMPTS)
                            .map(|_| make())
                            .find(|cid| !self.routes.contains_key(cid))
                        else {
                            return;
                        };
                        self.routes.insert(cid, handle);
                        slot.conn.on_cid_issued(cid, token(&cid));
                    }
                }
            }
        }
    }

    /// Whether a connection ID routes to a connection.
    pub(super) fn is_routed(&self, cid: &ConnectionId) -> bool {
        self.routes.contains_key(cid)
    }

    /// Takes a connection out, with its routes and its place in every
    /// index: O(log n) for its timer, O(1) amortized for the rest.
    pub(super) fn remove(&mut self, handle: ConnectionHandle) -> Option<Connection> {
        let slot = self.slots.remove(&handle)?;
        for cid in slot.cids.iter().chain(slot.conn.routed_cids()) {
            // A connection ID routed to a newer connection since stays.
            if self.routes.get(cid) == Some(&handle) {
                self.routes.remove(cid);
            }
        }
        if let Some(deadline) = slot.deadline {
            self.timers.remove(&(deadline, handle));
        }
        if let Some(key) = slot.reset {
            self.forget_reset_token(key, handle);
        }
        if let Some(ip) = slot.handshake_from {
            self.handshakes.remove(ip);
        }
        self.send_ready.remove(handle);
        self.event_ready.remove(handle);
        self.dirty.remove(handle);
        Some(*slot.conn)
    }

    /// Files again every connection touched since the last refresh: its
    /// deadline in the timer set and its peer's reset token. Costs one
    /// look per such connection, O(log n) for each deadline that moved.
    pub(super) fn refresh(&mut self) {
        while let Some(handle) = self.dirty.pop() {
            let Some(slot) = self.slots.get_mut(&handle) else {
                continue;
            };
            #[cfg(test)]
            {
                self.visits += 1;
            }
            if let Some(ip) = slot.handshake_from
                && !slot.conn.is_handshaking()
            {
                slot.handshake_from = None;
                self.handshakes.remove(ip);
            }
            let deadline = slot.conn.poll_timeout();
            if deadline != slot.deadline {
                if let Some(old) = slot.deadline {
                    self.timers.remove(&(old, handle));
                }
                if let Some(new) = deadline {
                    self.timers.insert((new, handle));
                }
                slot.deadline = deadline;
            }
            let reset = slot.conn.peer_reset_token().map(|token| ResetKey {
                remote: slot.conn.remote_address(),
                token: ResetToken(token),
            });
            if reset != slot.reset {
                let old = std::mem::replace(&mut slot.reset, reset);
                if let Some(old) = old {
                    self.forget_reset_token(old, handle);
                }
                if let Some(new) = reset {
                    self.reset_tokens.entry(new).or_default().push(handle);
                }
            }
        }
    }

    fn forget_reset_token(&mut self, key: ResetKey, handle: ConnectionHandle) {
        if let Some(handles) = self.reset_tokens.get_mut(&key) {
            handles.retain(|h| *h != handle);
            if handles.is_empty() {
                self.reset_tokens.remove(&key);
            }
        }
    }

    /// The earliest deadline of any connection, as of the last
    /// [`refresh`](Self::refresh).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(deadline, _)| *deadline)
    }

    /// Appends to `due` the connections whose deadline is at or before
    /// `now`, as of the last [`refresh`](Self::refresh), earliest first.
    pub(super) fn due(&self, now: Instant, due: &mut Vec<ConnectionHandle>) {
        let last = (now, ConnectionHandle(u64::MAX));
        due.extend(self.timers.range(..=last).map(|(_, handle)| *handle));
    }

    /// Takes the next connection that may have something to send.
    pub(super) fn next_send_ready(&mut self) -> Option<ConnectionHandle> {
        self.send_ready.pop()
    }

    /// The next connection that may have events, left queued: it stays
    /// first until [`events_taken`](Self::events_taken), so that its
    /// events come out together.
    pub(super) fn next_event_ready(&mut self) -> Option<ConnectionHandle> {
        self.event_ready.front()
    }

    /// A connection was polled for a transmit: if it sent one it stays
    /// queued to send, at the back (round robin); if not, it leaves the
    /// queue until touched again. Either way its deadline may have moved
    /// and it may have events.
    pub(super) fn transmitted(&mut self, handle: ConnectionHandle, sent: bool) {
        self.send_ready.remove(handle);
        if sent {
            self.send_ready.push(handle);
        }
        self.event_ready.push(handle);
        self.dirty.push(handle);
    }

    /// A connection's `poll` returned `None`: it leaves the event queue
    /// until touched again.
    pub(super) fn events_taken(&mut self, handle: ConnectionHandle) {
        self.event_ready.remove(handle);
    }

    /// RFC 9000 §10.3.1: whether a datagram that routes to no connection
    /// is the stateless reset of a connection to `remote`, which then
    /// drains. The datagram's last 16 bytes are looked up among the tokens
    /// of the peers at `remote`; only the connections filed under that
    /// token check it, in constant time. Costs a refresh, one hash lookup
    /// and, when the token matches, one call per connection filed under it.
    pub(super) fn stateless_reset(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        // A token learned since the last refresh must be found too.
        self.refresh();
        let Some(token) = reset_token_candidate(datagram) else {
            return false;
        };
        let key = ResetKey {
            remote,
            token: ResetToken(token),
        };
        let Some(handles) = self.reset_tokens.get(&key) else {
            return false;
        };
        for &handle in handles {
            let Some(slot) = self.slots.get_mut(&handle) else {
                continue;
            };
            #[cfg(test)]
            {
                self.visits += 1;
            }
            if slot.conn.handle_unroutable(now, remote, datagram) {
                self.send_ready.push(handle);
                self.event_ready.push(handle);
                self.dirty.push(handle);
                return true;
            }
        }
        false
    }

    /// Checks every index against the connections: what a refresh would
    /// file is filed, and nothing else.
    ///
    /// # Panics
    /// When an index disagrees.
    #[cfg(test)]
    pub(super) fn assert_consistent(&self) {
        let mut timers = BTreeSet::new();
        for (&handle, slot) in &self.slots {
            if !self.dirty.contains(handle) {
                assert_eq!(
                    slot.deadline,
                    slot.conn.poll_timeout(),
                    "{handle:?}'s deadline"
                );
                let token = slot.conn.peer_reset_token().map(ResetToken);
                assert_eq!(slot.reset.map(|key| key.token), token, "{handle:?}'s token");
            }
            if let Some(deadline) = slot.deadline {
                timers.insert((deadline, handle));
            }
            if let Some(key) = slot.reset {
                assert!(self.reset_tokens[&key].contains(&handle));
            }
        }
        assert_eq!(
            timers, self.timers,
            "the timer set holds each filed deadline once"
        );
        // No route but to an ID the connection holds or was inserted with
        // (so none to an ID it retired, once it was served).
        for (cid, handle) in &self.routes {
            let slot = &self.slots[handle];
            assert!(
                slot.cids.contains(cid)
                    || slot.conn.routed_cids().any(|own| own == cid)
                    || slot.conn.has_endpoint_events(),
                "{cid} routes to {handle:?}"
            );
        }
        // Every ID a connection holds routes to it, always: it was routed
        // before the connection had it, and stays until the connection
        // gives it up.
        for (&handle, slot) in &self.slots {
            for cid in slot.conn.routed_cids() {
                assert_eq!(self.routes.get(cid), Some(&handle), "{cid} of {handle:?}");
            }
        }
        for (key, handles) in &self.reset_tokens {
            assert!(!handles.is_empty());
            for handle in handles {
                assert_eq!(self.slots[handle].reset, Some(*key));
            }
        }
        let handshaking: Vec<IpAddr> = self
            .slots
            .values()
            .filter_map(|s| s.handshake_from)
            .collect();
        assert_eq!(
            self.handshakes.total,
            handshaking.len(),
            "handshakes counted"
        );
        for ip in &handshaking {
            let from = handshaking.iter().filter(|other| *other == ip).count();
            assert_eq!(self.handshakes.from(*ip), from, "handshakes from {ip}");
        }
        for queue in [&self.send_ready, &self.event_ready, &self.dirty] {
            assert!(queue.members().all(|h| self.slots.contains_key(&h)));
        }
    }
}

#[cfg(test)]
mod tests;
