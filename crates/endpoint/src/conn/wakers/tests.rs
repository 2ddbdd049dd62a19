//! Wake-ups by purpose: an event wakes the tasks it concerns and no other.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Wake, Waker},
};

use tern_proto::{
    Dir, StreamId,
    connection::{ConnectionError, Event},
    streams::StreamEvent,
};

use super::{ConnWakers, Wait};

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    (count, waker)
}

fn wakes(count: &Count) -> usize {
    count.0.load(Ordering::SeqCst)
}

/// The `n`-th client-initiated bidirectional stream (RFC 9000 §2.1).
fn stream(n: u32) -> StreamId {
    StreamId::new(tern_proto::VarInt::from_u32(4 * n))
}

#[test]
fn a_readable_stream_wakes_its_reader_only() {
    let mut wakers = ConnWakers::default();
    let readers: Vec<_> = (0..100).map(|_| counted()).collect();
    for (n, (_, waker)) in readers.iter().enumerate() {
        wakers.register(Wait::Read(stream(u32::try_from(n).unwrap())), waker);
    }
    let (acceptor, acceptor_waker) = counted();
    wakers.register(Wait::Accept(Dir::Bi), &acceptor_waker);
    wakers.on_event(&Event::Stream(StreamEvent::Readable { id: stream(42) }));
    for (n, (count, _)) in readers.iter().enumerate() {
        assert_eq!(wakes(count), usize::from(n == 42), "reader {n}");
    }
    assert_eq!(wakes(&acceptor), 0);
    assert_eq!(wakers.waiting_streams(), 99);
    wakers.on_event(&Event::Stream(StreamEvent::Opened { dir: Dir::Bi }));
    assert_eq!(wakes(&acceptor), 1);
}

#[test]
fn a_waiter_registered_twice_is_woken_once_and_a_forgotten_stream_leaves_nothing() {
    let mut wakers = ConnWakers::default();
    let (count, waker) = counted();
    wakers.register(Wait::Write(stream(1)), &waker);
    wakers.register(Wait::Write(stream(1)), &waker);
    wakers.register(Wait::Read(stream(2)), &waker);
    wakers.forget_reader(stream(2));
    assert_eq!(wakers.waiting_streams(), 1);
    wakers.on_event(&Event::Stream(StreamEvent::Writable { id: stream(1) }));
    assert_eq!(wakes(&count), 1);
    assert_eq!(wakers.waiting_streams(), 0);
}

// A request written and finished, its SendStream dropped, while another
// task waits for the answer on the RecvStream: the reader is still woken.
#[test]
fn forgetting_one_half_keeps_the_other_halfs_waiter() {
    let mut wakers = ConnWakers::default();
    let (reader, reader_waker) = counted();
    let (writer, writer_waker) = counted();
    wakers.register(Wait::Read(stream(3)), &reader_waker);
    wakers.register(Wait::Write(stream(3)), &writer_waker);
    wakers.forget_writer(stream(3));
    wakers.on_event(&Event::Stream(StreamEvent::Readable { id: stream(3) }));
    assert_eq!(wakes(&reader), 1, "the reader is woken");
    wakers.register(Wait::Write(stream(4)), &writer_waker);
    wakers.forget_reader(stream(4));
    wakers.on_event(&Event::Stream(StreamEvent::Writable { id: stream(4) }));
    assert_eq!(wakes(&writer), 1, "the writer is woken");
}

#[test]
fn a_close_wakes_everyone() {
    let mut wakers = ConnWakers::default();
    let waiting: Vec<_> = (0..4).map(|_| counted()).collect();
    wakers.register(Wait::Read(stream(0)), &waiting[0].1);
    wakers.register(Wait::Open(Dir::Uni), &waiting[1].1);
    wakers.register(Wait::DatagramRecv, &waiting[2].1);
    wakers.register(Wait::Handshake, &waiting[3].1);
    wakers.on_event(&Event::Closed(ConnectionError::Reset));
    assert!(waiting.iter().all(|(count, _)| wakes(count) == 1));
}
