//! Subscribers of a connection's events: each has its own bounded queue,
//! starts with `Connected` (replayed from the snapshot when it subscribed
//! late), and is told how many events it missed when it fell behind.

use std::{collections::VecDeque, task::Waker};

use tern_proto::connection::Event;

/// The number of events a subscriber missed because its queue was full;
/// the stream goes on with the events after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl std::fmt::Display for Lagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "missed {} connection events: the subscriber read too slowly for its queue",
            self.0
        )
    }
}

impl std::error::Error for Lagged {}

/// One slot of a subscriber's queue.
#[derive(Debug)]
enum Slot {
    Event(Event),
    Lagged(u64),
}

/// One subscriber's queue.
#[derive(Debug)]
struct Subscriber {
    id: u64,
    queue: VecDeque<Slot>,
    /// Events (not lag marks) queued.
    events: usize,
    capacity: usize,
    waker: Option<Waker>,
    /// It has been given `Closed`: nothing follows.
    closed: bool,
}

impl Subscriber {
    fn push(&mut self, event: &Event) {
        if self.closed {
            return;
        }
        let closing = matches!(event, Event::Closed(_));
        // The close is never dropped: it ends the stream, and a subscriber
        // must learn why.
        if self.events >= self.capacity && !closing {
            match self.queue.back_mut() {
                Some(Slot::Lagged(n)) => *n += 1,
                _ => self.queue.push_back(Slot::Lagged(1)),
            }
        } else {
            self.queue.push_back(Slot::Event(event.clone()));
            self.events += 1;
        }
        self.closed = closing;
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// What [`Subscribers::poll`] found for one subscriber.
#[derive(Debug)]
pub(crate) enum Next {
    Item(Result<Event, Lagged>),
    /// Nothing yet; the waker is registered.
    Pending,
    /// The close was delivered and the queue is empty.
    End,
}

/// Every subscriber of one connection.
#[derive(Debug, Default)]
pub(crate) struct Subscribers {
    list: Vec<Subscriber>,
    next_id: u64,
}

impl Subscribers {
    /// Adds a subscriber whose queue holds `capacity` events, starting with
    /// `replay` (the connection's `Connected`, then `Closed`, when they
    /// already happened).
    pub(crate) fn subscribe(&mut self, capacity: usize, replay: &[Event]) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut subscriber = Subscriber {
            id,
            queue: VecDeque::new(),
            events: 0,
            capacity: capacity.max(1),
            waker: None,
            closed: false,
        };
        for event in replay {
            subscriber.push(event);
        }
        self.list.push(subscriber);
        id
    }

    /// Forgets a subscriber.
    pub(crate) fn unsubscribe(&mut self, id: u64) {
        self.list.retain(|s| s.id != id);
    }

    /// Queues `event` for every subscriber.
    pub(crate) fn push(&mut self, event: &Event) {
        for subscriber in &mut self.list {
            subscriber.push(event);
        }
    }

    /// The next item of subscriber `id`.
    pub(crate) fn poll(&mut self, id: u64, waker: &Waker) -> Next {
        let Some(subscriber) = self.list.iter_mut().find(|s| s.id == id) else {
            return Next::End;
        };
        match subscriber.queue.pop_front() {
            Some(Slot::Event(event)) => {
                subscriber.events -= 1;
                Next::Item(Ok(event))
            }
            Some(Slot::Lagged(n)) => Next::Item(Err(Lagged(n))),
            None if subscriber.closed => Next::End,
            None => {
                subscriber.waker = Some(waker.clone());
                Next::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests;
