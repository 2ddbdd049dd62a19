//! A client that only opens unidirectional streams hears nothing from the
//! server but ACKs and the stream credit it needs: MAX_STREAMS waits for a
//! packet that goes out anyway only while the client has at least half of
//! its streams left (RFC 9000 §4.6).

use std::time::Duration;

use bytes::Bytes;
use tern_proto::{
    Dir, StreamId,
    config::{EndpointConfig, TransportConfig},
    connection::{Connection, Event},
    streams::{ReadError, StreamEvent, StreamsConfig},
};
use tern_sim::{LinkConfig, Seed, pair::Pair};

use crate::{LIMIT, link};

/// Streams the client sends.
const STREAMS: u64 = 500;
/// Unidirectional streams the server lets the client have open at once.
const MAX_UNI: u64 = 10;
/// Streams the client keeps unacknowledged at once: fewer than half of
/// `MAX_UNI`, so timely credit never leaves it at the limit.
const IN_FLIGHT: u64 = 4;

fn transport() -> TransportConfig {
    TransportConfig {
        streams: StreamsConfig {
            max_concurrent_uni_streams: MAX_UNI,
            ..StreamsConfig::default()
        },
        ..TransportConfig::default()
    }
}

/// The client: keeps up to `IN_FLIGHT` streams of 64 bytes and a FIN whose
/// data is not yet acknowledged.
#[derive(Default)]
struct Client {
    opened: u64,
}

impl Client {
    /// Opens streams while fewer than `IN_FLIGHT` of those opened are not
    /// `finished` (acknowledged).
    fn drive(&mut self, conn: &mut Connection, finished: u64) {
        while self.opened - finished < IN_FLIGHT && self.opened < STREAMS {
            let Some(id) = conn.open_stream(Dir::Uni) else {
                return;
            };
            self.opened += 1;
            assert_eq!(conn.write_stream(id, Bytes::from(vec![7; 64])), Ok(64));
            conn.finish_stream(id).expect("finish");
        }
    }
}

/// The server: reads every stream to its end and sends nothing itself.
#[derive(Default)]
struct Server {
    reading: Vec<StreamId>,
    done: u64,
}

impl Server {
    fn serve(&mut self, conn: &mut Connection) {
        while let Some(id) = conn.accept_stream(Dir::Uni) {
            self.reading.push(id);
        }
        let mut done = 0;
        self.reading.retain(|&id| {
            loop {
                match conn.read_stream(id, usize::MAX, true) {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        done += 1;
                        return false;
                    }
                    Err(ReadError::Blocked) => return true,
                    Err(other) => panic!("read on {id}: {other:?}"),
                }
            }
        });
        self.done += done;
    }
}

/// Sends `STREAMS` streams over `link`; returns how often the client found
/// the stream limit reached (its `Available` events).
fn run(seed: u64, link: LinkConfig) -> usize {
    let mut pair = Pair::new(seed, link, transport(), EndpointConfig::default());
    assert!(pair.connect(LIMIT), "the handshake completes");
    let (mut client, mut server) = (Client::default(), Server::default());
    let outcome = pair.run_until(LIMIT, |view| {
        if let Some(conn) = view.server_mut() {
            server.serve(conn);
        }
        let finished = view
            .state
            .client_events
            .iter()
            .filter(|e| matches!(e, Event::Stream(StreamEvent::Finished { .. })))
            .count();
        let finished = u64::try_from(finished).expect("a small count");
        if let Some(conn) = view.client_mut() {
            client.drive(conn, finished);
        }
        view.sim.settle().expect("the sim settles");
        server.done == STREAMS
    });
    assert!(
        outcome.is_satisfied(),
        "{outcome:?}: {} of {STREAMS} streams read",
        server.done
    );
    pair.state
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::Stream(StreamEvent::Available { .. })))
        .count()
}

#[test]
fn a_client_that_only_opens_streams_never_finds_the_limit_reached() {
    let blocked = run(51, link());
    assert_eq!(blocked, 0, "the credit came before the client needed it");
}

// Lost credit updates are sent again, and a client blocked by the limit
// gets the update at once, so the streams keep flowing.
#[test]
fn a_client_that_only_opens_streams_keeps_going_under_loss() {
    Seed::range(0..8).run(|seed| {
        let link = link().loss(0.05).jitter(Duration::from_millis(2));
        let _ = run(seed, link);
    });
}
