//! A client's Finished lost on the way while its 1-RTT packets arrive: the
//! server keeps those packets unread until its handshake completes (RFC
//! 9001 §5.7) and asks the client for the Finished again.

use std::{cell::Cell, rc::Rc, time::Duration};

use bytes::Bytes;
use tern_proto::{
    Dir, StreamId,
    config::{EndpointConfig, TransportConfig},
    connection::{Connection, Event},
    streams::StreamEvent,
};
use tern_sim::{
    RunOutcome,
    pair::Pair,
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use crate::{LIMIT, link};

/// A pair whose client-to-server link drops long-header datagrams (the
/// client's Initial and Handshake packets) after the ClientHello while
/// `dropping` says so and `budget` lasts; 1-RTT datagrams always pass.
fn pair_dropping_handshake(seed: u64, dropping: Rc<Cell<bool>>, budget: u32) -> Pair {
    let mut pair = Pair::new(
        seed,
        link(),
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    let mut seen_client_hello = false;
    let mut left = budget;
    pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, move |datagram| {
        let long_header = datagram.first().is_some_and(|b| b & 0x80 != 0);
        if !long_header {
            return false;
        }
        if !seen_client_hello {
            seen_client_hello = true;
            return false;
        }
        if dropping.get() && left > 0 {
            left -= 1;
            return true;
        }
        false
    });
    pair
}

/// Where the Connected event is among `events`.
fn connected_at(events: &[Event]) -> Option<usize> {
    events.iter().position(|e| matches!(e, Event::Connected(_)))
}

/// The client opens a stream, writes a request and finishes it as soon as
/// its handshake completes, as an HTTP client would.
fn send_request_once_connected(pair: &mut Pair, request: &'static [u8]) {
    let outcome = pair.run_until(LIMIT, |view| {
        connected_at(&view.state.client_events).is_some()
    });
    assert!(outcome.is_satisfied(), "the client completes its handshake");
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    let id = client.open_stream(Dir::Bi).expect("a stream is available");
    client
        .write_stream(id, Bytes::from_static(request))
        .expect("written");
    client.finish_stream(id).expect("finished");
}

/// Reads what has arrived on the first stream the client opened (accepted
/// into `stream` on first sight); true once its end was read.
fn read_request(server: &mut Connection, stream: &mut Option<StreamId>, out: &mut Vec<u8>) -> bool {
    let Some(id) = stream.or_else(|| server.accept_stream(Dir::Bi)) else {
        return false;
    };
    *stream = Some(id);
    loop {
        match server.read_stream(id, usize::MAX, true) {
            Ok(Some(chunk)) if !chunk.bytes.is_empty() => out.extend_from_slice(&chunk.bytes),
            Ok(None) => return true,
            _ => return false,
        }
    }
}

#[test]
fn a_server_reads_no_1rtt_packet_before_the_clients_finished() {
    // Only the client's Finished (with its Initial ACK) is lost, so its
    // request overtakes it.
    let mut pair = pair_dropping_handshake(1, Rc::new(Cell::new(true)), 1);
    send_request_once_connected(&mut pair, b"GET /index.html\r\n");
    let mut request = Vec::new();
    let mut stream = None;
    let outcome = pair.run_until(LIMIT, |view| {
        view.server_mut()
            .is_some_and(|server| read_request(server, &mut stream, &mut request))
    });
    assert!(outcome.is_satisfied(), "the request arrives");
    assert_eq!(request, b"GET /index.html\r\n");
    let events = &pair.state.server_events;
    let connected = connected_at(events).expect("the server connected");
    let first_stream_event = events
        .iter()
        .position(|e| matches!(e, Event::Stream(StreamEvent::Opened { .. })))
        .expect("the server saw the stream");
    assert!(
        connected < first_stream_event,
        "stream data is read only after the handshake completes: {events:?}"
    );
    assert_eq!(
        pair.sim.stats().filtered,
        1,
        "exactly the Finished was lost"
    );
}

/// Runs in steps of 500 ms, the client sending a DATAGRAM frame (a 1-RTT
/// packet) at each, as a client probing in the application space does,
/// until the server's handshake completes or `until` of sim time; returns
/// whether it completed.
fn poke_until_connected_at(pair: &mut Pair, until: Duration) -> bool {
    while pair.sim.elapsed() < until {
        if connected_at(&pair.state.server_events).is_some() {
            return true;
        }
        let mut view = pair.view();
        let client = view.client_mut().expect("client");
        client
            .send_datagram(Bytes::from_static(b"still here"))
            .expect("queued");
        let outcome = pair.run_until(Duration::from_millis(500), |view| {
            connected_at(&view.state.server_events).is_some()
        });
        assert!(
            !matches!(outcome, RunOutcome::Stuck(_)),
            "the endpoints keep time moving: {outcome:?}"
        );
    }
    connected_at(&pair.state.server_events).is_some()
}

#[test]
fn a_server_asks_for_a_finished_it_never_got() {
    // Every Initial and Handshake datagram of the client after its
    // ClientHello is lost for 10 s, while its 1-RTT packets arrive. Once
    // the path heals, the server's request gets the Finished resent within
    // two round trips of the next 1-RTT packet, well before the client's
    // backed-off probe timer would (its next probe is due 5.3 s later).
    let dropping = Rc::new(Cell::new(true));
    let mut pair = pair_dropping_handshake(2, dropping.clone(), u32::MAX);
    send_request_once_connected(&mut pair, b"GET /\r\n");
    let heal_at = Duration::from_secs(10);
    assert!(
        !poke_until_connected_at(&mut pair, heal_at),
        "no Finished can arrive before the path heals"
    );
    dropping.set(false);
    let healed = pair.sim.elapsed();
    assert!(
        poke_until_connected_at(&mut pair, healed + Duration::from_secs(30)),
        "the server's handshake completes"
    );
    let waited = pair.sim.elapsed() - healed;
    assert!(
        waited < Duration::from_secs(1),
        "the Finished came {waited:?} after the path healed"
    );
}
