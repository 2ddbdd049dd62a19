//! Subscriber queues: replay, lag marks, the close that is never dropped.

use tern_proto::connection::{ConnectionError, Event};

use super::{Lagged, Next, Subscribers};

fn next(subs: &mut Subscribers, id: u64) -> Next {
    subs.poll(id, futures::task::noop_waker_ref())
}

fn is_datagram(next: &Next) -> bool {
    matches!(next, Next::Item(Ok(Event::DatagramReceived)))
}

#[test]
fn every_subscriber_gets_every_event() {
    let mut subs = Subscribers::default();
    let a = subs.subscribe(8, &[]);
    let b = subs.subscribe(8, &[]);
    subs.push(&Event::DatagramReceived);
    assert!(is_datagram(&next(&mut subs, a)));
    assert!(is_datagram(&next(&mut subs, b)));
    assert!(matches!(next(&mut subs, a), Next::Pending));
}

#[test]
fn a_slow_subscriber_is_told_how_many_it_missed_and_goes_on() {
    let mut subs = Subscribers::default();
    let slow = subs.subscribe(2, &[]);
    for _ in 0..7 {
        subs.push(&Event::DatagramReceived);
    }
    assert!(is_datagram(&next(&mut subs, slow)));
    assert!(is_datagram(&next(&mut subs, slow)));
    assert!(matches!(next(&mut subs, slow), Next::Item(Err(Lagged(5)))));
    subs.push(&Event::DatagramReceived);
    assert!(is_datagram(&next(&mut subs, slow)));
}

#[test]
fn the_close_is_delivered_even_to_a_full_queue_and_ends_the_stream() {
    let mut subs = Subscribers::default();
    let id = subs.subscribe(1, &[]);
    subs.push(&Event::DatagramReceived);
    subs.push(&Event::DatagramReceived);
    subs.push(&Event::Closed(ConnectionError::Reset));
    subs.push(&Event::DatagramReceived);
    assert!(is_datagram(&next(&mut subs, id)));
    assert!(matches!(next(&mut subs, id), Next::Item(Err(Lagged(1)))));
    assert!(matches!(
        next(&mut subs, id),
        Next::Item(Ok(Event::Closed(ConnectionError::Reset)))
    ));
    assert!(matches!(next(&mut subs, id), Next::End));
}

#[test]
fn a_late_subscriber_starts_with_the_replayed_events() {
    let mut subs = Subscribers::default();
    let id = subs.subscribe(4, &[Event::Closed(ConnectionError::Reset)]);
    assert!(matches!(
        next(&mut subs, id),
        Next::Item(Ok(Event::Closed(_)))
    ));
    assert!(matches!(next(&mut subs, id), Next::End));
}
