//! A first-in first-out set of connection handles: each handle is queued
//! at most once, keeps its place until it leaves, and can leave from
//! anywhere in the queue in O(1) amortized time.
//!
//! The endpoint keeps one for the connections that may have something to
//! send, one for those that may have events, and one for those whose
//! deadline may have changed; it visits only the handles queued there.

use std::collections::{VecDeque, hash_map::Entry};

use super::{ConnectionHandle, HandleMap};

/// Stale entries tolerated beyond twice the live ones before the order is
/// compacted.
const SLACK: usize = 64;

/// A FIFO set of handles with removal by handle.
///
/// Removal leaves the handle's entry in the order (lazy deletion); every
/// entry carries the ticket it was queued with, and only the entry whose
/// ticket is the handle's current one counts. The order is compacted when
/// stale entries outnumber live ones, so it holds at most about twice as
/// many entries as members.
#[derive(Debug, Default)]
pub(super) struct ReadyQueue {
    /// Handles in the order they were queued, with their tickets.
    order: VecDeque<(ConnectionHandle, u64)>,
    /// The members, with the ticket of their live entry in `order`.
    members: HandleMap<u64>,
    next_ticket: u64,
}

impl ReadyQueue {
    /// Queues `handle` at the back, unless it is queued already (then it
    /// keeps its place).
    pub(super) fn push(&mut self, handle: ConnectionHandle) {
        if let Entry::Vacant(entry) = self.members.entry(handle) {
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            entry.insert(ticket);
            self.order.push_back((handle, ticket));
        }
    }

    /// Whether `handle` is queued.
    #[cfg(test)]
    pub(super) fn contains(&self, handle: ConnectionHandle) -> bool {
        self.members.contains_key(&handle)
    }

    /// How many handles are queued.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// The handle at the front, left queued.
    pub(super) fn front(&mut self) -> Option<ConnectionHandle> {
        while let Some(&(handle, ticket)) = self.order.front() {
            if self.members.get(&handle) == Some(&ticket) {
                return Some(handle);
            }
            self.order.pop_front();
        }
        None
    }

    /// Takes the handle at the front.
    pub(super) fn pop(&mut self) -> Option<ConnectionHandle> {
        let handle = self.front()?;
        self.order.pop_front();
        self.members.remove(&handle);
        Some(handle)
    }

    /// Takes `handle` out wherever it is; nothing if it is not queued.
    pub(super) fn remove(&mut self, handle: ConnectionHandle) {
        if self.members.remove(&handle).is_none() {
            return;
        }
        if self.order.len() > 2 * self.members.len() + SLACK {
            let members = &self.members;
            self.order
                .retain(|(handle, ticket)| members.get(handle) == Some(ticket));
        }
    }

    /// Entries in the order, stale ones included (for tests of the bound).
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.order.len()
    }

    /// The queued handles, in no particular order.
    #[cfg(test)]
    pub(super) fn members(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.members.keys().copied()
    }
}

#[cfg(test)]
mod tests;
