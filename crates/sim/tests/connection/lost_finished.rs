//! A client's Finished lost on the way while its 1-RTT packets arrive: the
//! server keeps those packets unread until its handshake completes (RFC
//! 9001 §5.7) and keeps the handshake alive until the Finished comes.

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
/// client's Initial and Handshake packets) of at least `min_len` bytes
/// after the ClientHello while `dropping` says so and `budget` lasts;
/// 1-RTT datagrams always pass. The ClientHello is every datagram the
/// client sent before the server first answered: one, or two when the
/// post-quantum key share makes it longer than a packet.
fn pair_dropping_handshake(
    seed: u64,
    dropping: Rc<Cell<bool>>,
    budget: u32,
    min_len: usize,
) -> Pair {
    let mut pair = Pair::new(
        seed,
        link(),
        TransportConfig {
            // The Finished may be lost for longer than the default
            // handshake timeout of 10 s: these tests are about recovering
            // it, so only the idle timeout applies.
            handshake_timeout: None,
            ..TransportConfig::default()
        },
        EndpointConfig::default(),
    );
    let server_answered = Rc::new(Cell::new(false));
    let answered = server_answered.clone();
    pair.sim.drop_if(SERVER_ADDR, CLIENT_ADDR, move |_| {
        answered.set(true);
        false
    });
    let mut left = budget;
    pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, move |datagram| {
        let long_header = datagram.first().is_some_and(|b| b & 0x80 != 0);
        if !long_header || !server_answered.get() {
            return false;
        }
        if dropping.get() && left > 0 && datagram.len() >= min_len {
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
    let mut pair = pair_dropping_handshake(1, Rc::new(Cell::new(true)), 1, 0);
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

/// Client datagrams with a long header this long carry the Finished (its
/// Handshake packets of only an ACK are about 50 bytes).
const FINISHED_MIN_LEN: usize = 80;

#[test]
fn a_finished_lost_for_longer_than_the_idle_timeout_still_arrives() {
    // Every datagram carrying the client's Finished is lost for 40 s, while
    // its acknowledgments and 1-RTT packets arrive: the server's flight is
    // acknowledged and it has nothing left to send. Both sides' idle
    // timeout is 30 s. The server's Handshake PINGs, answering the 1-RTT
    // packets, keep the client's idle timer running, and the client's
    // acknowledgments keep the server's, until the client's backed-off
    // probe brings the Finished (at about 61 s). Without those PINGs both
    // sides time out.
    let dropping = Rc::new(Cell::new(true));
    let mut pair = pair_dropping_handshake(2, dropping.clone(), u32::MAX, FINISHED_MIN_LEN);
    send_request_once_connected(&mut pair, b"GET /\r\n");
    let heal_at = Duration::from_secs(40);
    assert!(
        !poke_until_connected_at(&mut pair, heal_at),
        "no Finished can arrive before the path heals"
    );
    dropping.set(false);
    assert!(
        poke_until_connected_at(&mut pair, Duration::from_secs(120)),
        "the server's handshake completes: server {:?}, client {:?}",
        pair.state.server_events,
        pair.state.client_events.last(),
    );
}
