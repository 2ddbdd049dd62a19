//! Who waits on a connection, by purpose: a protocol event wakes only the
//! tasks it concerns (the reader of the stream that became readable, the
//! acceptors of the direction the peer opened), so a connection with a
//! thousand streams does not wake a thousand tasks per packet.

use std::{collections::HashMap, task::Waker};

use tern_proto::{Dir, StreamId, connection::Event, streams::StreamEvent};

/// What a task waits for on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wait {
    /// The handshake to complete (or fail).
    Handshake,
    /// The connection to close.
    Closed,
    /// The peer to open a stream of this direction.
    Accept(Dir),
    /// Room under the peer's stream limit for this direction.
    Open(Dir),
    /// Data, the end, or a reset on this stream.
    Read(StreamId),
    /// Send credit or buffer space on this stream, or its end.
    Write(StreamId),
    /// A datagram from the peer.
    DatagramRecv,
    /// Room in the outgoing datagram queue.
    DatagramSend,
}

/// Tasks waiting for one thing; one waiter costs no allocation.
#[derive(Debug, Default)]
pub(crate) struct WakerSet {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakerSet {
    /// Adds `waker` unless it (or one that wakes the same task) is there.
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(first) if first.will_wake(waker) => {}
            Some(_) => {
                if !self.rest.iter().any(|w| w.will_wake(waker)) {
                    self.rest.push(waker.clone());
                }
            }
        }
    }

    /// Wakes and forgets every waiter.
    pub(crate) fn wake(&mut self) {
        if let Some(first) = self.first.take() {
            first.wake();
        }
        for waker in self.rest.drain(..) {
            waker.wake();
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

/// Every waiter of one connection, by purpose.
#[derive(Debug, Default)]
pub(crate) struct ConnWakers {
    handshake: WakerSet,
    closed: WakerSet,
    accept: [WakerSet; 2],
    open: [WakerSet; 2],
    read: HashMap<StreamId, WakerSet>,
    write: HashMap<StreamId, WakerSet>,
    datagram_recv: WakerSet,
    datagram_send: WakerSet,
}

impl ConnWakers {
    /// Registers `waker` for `wait`.
    pub(crate) fn register(&mut self, wait: Wait, waker: &Waker) {
        match wait {
            Wait::Handshake => self.handshake.register(waker),
            Wait::Closed => self.closed.register(waker),
            Wait::Accept(dir) => self.accept[dir_index(dir)].register(waker),
            Wait::Open(dir) => self.open[dir_index(dir)].register(waker),
            Wait::Read(id) => self.read.entry(id).or_default().register(waker),
            Wait::Write(id) => self.write.entry(id).or_default().register(waker),
            Wait::DatagramRecv => self.datagram_recv.register(waker),
            Wait::DatagramSend => self.datagram_send.register(waker),
        }
    }

    /// Wakes the tasks `event` concerns.
    pub(crate) fn on_event(&mut self, event: &Event) {
        match event {
            Event::Connected(_) => {
                // The peer's transport parameters came with the handshake:
                // stream limits and the datagram size are known now.
                self.handshake.wake();
                self.open.iter_mut().for_each(WakerSet::wake);
                self.datagram_send.wake();
            }
            Event::DatagramReceived => self.datagram_recv.wake(),
            Event::DatagramsUnblocked => self.datagram_send.wake(),
            Event::Stream(stream) => self.on_stream_event(stream),
            // Closed, and any event added later: everyone checks again.
            _ => self.wake_all(),
        }
    }

    fn on_stream_event(&mut self, event: &StreamEvent) {
        let wake_stream = |map: &mut HashMap<StreamId, WakerSet>, id: &StreamId| {
            if let Some(mut set) = map.remove(id) {
                set.wake();
            }
        };
        match event {
            StreamEvent::Opened { dir } => self.accept[dir_index(*dir)].wake(),
            StreamEvent::Available { dir } => self.open[dir_index(*dir)].wake(),
            StreamEvent::Readable { id } | StreamEvent::Reset { id, .. } => {
                wake_stream(&mut self.read, id);
            }
            StreamEvent::Writable { id }
            | StreamEvent::Finished { id }
            | StreamEvent::Stopped { id, .. } => wake_stream(&mut self.write, id),
        }
    }

    /// Forgets the readers of a stream whose receiving handle is gone; a
    /// task waiting to write on its sending half stays.
    pub(crate) fn forget_reader(&mut self, id: StreamId) {
        self.read.remove(&id);
    }

    /// Forgets the writers of a stream whose sending handle is gone; a
    /// task waiting to read its receiving half stays (a request sent and
    /// finished, its `SendStream` dropped while its answer is awaited).
    pub(crate) fn forget_writer(&mut self, id: StreamId) {
        self.write.remove(&id);
    }

    /// Wakes every waiter: the connection closed, drained, or its driver
    /// is gone.
    pub(crate) fn wake_all(&mut self) {
        self.handshake.wake();
        self.closed.wake();
        self.accept.iter_mut().for_each(WakerSet::wake);
        self.open.iter_mut().for_each(WakerSet::wake);
        for (_, mut set) in self.read.drain() {
            set.wake();
        }
        for (_, mut set) in self.write.drain() {
            set.wake();
        }
        self.datagram_recv.wake();
        self.datagram_send.wake();
    }

    /// Tasks waiting, counted by purpose set; for tests.
    #[cfg(test)]
    pub(crate) fn waiting_streams(&self) -> usize {
        self.read.values().filter(|s| !s.is_empty()).count()
            + self.write.values().filter(|s| !s.is_empty()).count()
    }
}

#[cfg(test)]
mod tests;
