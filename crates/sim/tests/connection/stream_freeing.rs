//! Streams a server answers and stops reading are freed, and their freeing
//! raises the client's stream limit (RFC 9000 §3, §3.5, §4.6).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bytes::Bytes;
use tern_proto::{
    Dir, StreamId, VarInt,
    config::{EndpointConfig, TransportConfig},
    connection::{Connection, Event},
    streams::{ReadError, StreamEvent, StreamsConfig, WriteError},
};

use crate::{LIMIT, connected};

/// The server's bidirectional stream limit: far below the streams opened.
const MAX_BIDI: u64 = 100;
/// How long after its request a `FinLater` stream's FIN leaves, at the
/// earliest: half the link's one-way delay. The client acts at the next
/// instant after that (the request's arrival at the server at the latest),
/// so the FIN leaves after the request and before the server's STOP_SENDING
/// comes back.
const FIN_DELAY: Duration = Duration::from_millis(10);

fn transport() -> TransportConfig {
    TransportConfig {
        streams: StreamsConfig {
            max_concurrent_bidi_streams: MAX_BIDI,
            ..StreamsConfig::default()
        },
        ..TransportConfig::default()
    }
}

fn request(id: StreamId) -> Bytes {
    Bytes::from(format!(
        "request {} and some more bytes nobody reads",
        id.index()
    ))
}

fn response(id: StreamId) -> Bytes {
    Bytes::from(format!("response {}", id.index()))
}

/// The server's side: it takes each new stream, reads only its first
/// bytes, answers with data and a FIN, and stops reading (STOP_SENDING
/// when the client's FIN has not arrived yet).
#[derive(Default)]
struct Server {
    waiting: Vec<StreamId>,
    answered: u64,
}

impl Server {
    fn serve(&mut self, conn: &mut Connection) {
        while let Some(id) = conn.accept_stream(Dir::Bi) {
            self.waiting.push(id);
        }
        self.waiting
            .retain(|&id| match conn.read_stream(id, 7, true) {
                Ok(Some(chunk)) => {
                    assert_eq!(&chunk.bytes[..], &b"request"[..chunk.bytes.len()]);
                    let answer = response(id);
                    assert_eq!(conn.write_stream(id, answer.clone()), Ok(answer.len()));
                    conn.finish_stream(id)
                        .expect("the server finishes its answer");
                    conn.stop_stream(id, VarInt::from_u32(0))
                        .expect("the server stops reading");
                    self.answered += 1;
                    false
                }
                Err(ReadError::Blocked) => true,
                other => panic!("server read on {id}: {other:?}"),
            });
    }
}

/// How the client ends its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Request and FIN at once.
    FinAtOnce,
    /// The request now, the FIN half a one-way delay later: the server's
    /// STOP_SENDING is on its way when the FIN leaves.
    FinLater,
    /// The request and no FIN: the client answers the server's
    /// STOP_SENDING with RESET_STREAM.
    NoFin,
}

/// The client's side: it opens streams as the limit allows, sends a
/// request on each, and reads each answer to its end.
struct Client {
    total: u64,
    opened: u64,
    ending: fn(u64) -> Ending,
    /// Open streams: the answer so far, and when the FIN is due if it is.
    active: HashMap<StreamId, (Vec<u8>, Option<Instant>)>,
    done: u64,
    /// Streams whose late FIN was refused because the STOP_SENDING came first.
    fin_refused: u64,
    /// STOP_SENDING frames that reached the client (its `Stopped` events).
    stopped: usize,
}

impl Client {
    fn new(total: u64, ending: fn(u64) -> Ending) -> Self {
        Self {
            total,
            opened: 0,
            ending,
            active: HashMap::new(),
            done: 0,
            fin_refused: 0,
            stopped: 0,
        }
    }

    fn drive(&mut self, now: Instant, conn: &mut Connection) {
        for (&id, (_, fin_due)) in &mut self.active {
            if fin_due.is_some_and(|due| now >= due) {
                *fin_due = None;
                match conn.finish_stream(id) {
                    Ok(()) => {}
                    Err(WriteError::Stopped { code }) => {
                        assert_eq!(code, VarInt::from_u32(0));
                        self.fin_refused += 1;
                    }
                    Err(other) => panic!("late fin on {id}: {other:?}"),
                }
            }
        }
        while self.opened < self.total {
            let Some(id) = conn.open_stream(Dir::Bi) else {
                break;
            };
            let ending = (self.ending)(self.opened);
            self.opened += 1;
            let data = request(id);
            assert_eq!(conn.write_stream(id, data.clone()), Ok(data.len()));
            if ending == Ending::FinAtOnce {
                conn.finish_stream(id).expect("finish");
            }
            let fin_due = (ending == Ending::FinLater).then(|| now + FIN_DELAY);
            self.active.insert(id, (Vec::new(), fin_due));
        }
        let mut finished = Vec::new();
        for (&id, (answer, _)) in &mut self.active {
            loop {
                match conn.read_stream(id, usize::MAX, true) {
                    Ok(Some(chunk)) => answer.extend_from_slice(&chunk.bytes),
                    Ok(None) => {
                        assert_eq!(answer[..], response(id)[..]);
                        finished.push(id);
                        break;
                    }
                    Err(ReadError::Blocked) => break,
                    Err(other) => panic!("client read on {id}: {other:?}"),
                }
            }
        }
        for id in finished {
            self.active.remove(&id);
            self.done += 1;
        }
    }
}

/// Runs `total` request streams through a connection whose server allows
/// `MAX_BIDI` at once; returns the client, once every stream is freed on
/// both sides.
fn run(seed: u64, total: u64, ending: fn(u64) -> Ending) -> Client {
    let mut pair = connected(seed, transport(), EndpointConfig::default());
    let mut server = Server::default();
    let mut client = Client::new(total, ending);
    let outcome = pair.run_until(LIMIT, |view| {
        if let Some(conn) = view.server_mut() {
            server.serve(conn);
        }
        let now = view.sim.now();
        if let Some(conn) = view.client_mut() {
            client.drive(now, conn);
        }
        // Send what the two just queued at this instant, as an event loop
        // woken by the application would.
        view.sim.settle().expect("the sim settles");
        client.done == total
    });
    assert!(
        outcome.is_satisfied(),
        "{outcome:?}: {} of {total} streams done, {} answered",
        client.done,
        server.answered
    );
    // The last acknowledgements free the last streams.
    let outcome = pair.run_until(LIMIT, |view| {
        view.client().is_some_and(|c| c.stream_count() == 0)
            && view.server().is_some_and(|c| c.stream_count() == 0)
    });
    let view = pair.view();
    assert!(
        outcome.is_satisfied(),
        "streams left: client {:?}, server {:?}",
        view.client().map(Connection::stream_count),
        view.server().map(Connection::stream_count)
    );
    let server_conn = view.server().expect("server");
    assert!(!server_conn.is_closed(), "{:?}", server_conn.close_reason());
    assert_eq!(server.answered, total);
    client.stopped = pair
        .state
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::Stream(StreamEvent::Stopped { .. })))
        .count();
    client
}

#[test]
fn a_server_that_answers_and_stops_reading_frees_each_stream_and_raises_the_limit() {
    // RFC 9000 §4.6 (test): 1000 streams through a limit of 100 finish
    // only if each stream answered and stopped is freed and MAX_STREAMS
    // raised.
    let client = run(31, 1000, |_| Ending::FinAtOnce);
    assert_eq!(client.done, 1000);
    assert_eq!(client.fin_refused, 0);
    assert_eq!(client.stopped, 0, "all data was in: no STOP_SENDING needed");
}

#[test]
fn a_stream_stopped_before_the_clients_fin_is_freed_when_the_fin_or_the_reset_arrives() {
    // RFC 9000 §3.5 (test): after STOP_SENDING the receiving half waits for
    // the FIN (a sender already in Data Sent need not reset) or for the
    // RESET_STREAM; either ends it, and frames arriving after it was freed
    // bring nothing back.
    let client = run(32, 400, |i| {
        if i % 2 == 0 {
            Ending::FinLater
        } else {
            Ending::NoFin
        }
    });
    assert_eq!(client.done, 400);
    assert_eq!(
        client.stopped, 400,
        "every stream was stopped before its end"
    );
    assert_eq!(
        client.fin_refused, 0,
        "each late FIN left before the STOP_SENDING arrived"
    );
}

#[test]
fn finishing_a_stream_the_peer_stopped_reports_the_stop() {
    let mut pair = connected(33, transport(), EndpointConfig::default());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    let id = client.open_stream(Dir::Bi).expect("a stream");
    client
        .write_stream(id, Bytes::from_static(b"request"))
        .expect("written");
    let code = VarInt::from_u32(7);
    let outcome = pair.run_until(LIMIT, |view| {
        if let Some(server) = view.server_mut()
            && let Some(accepted) = server.accept_stream(Dir::Bi)
        {
            assert_eq!(accepted, id);
            server.stop_stream(id, code).expect("stopped");
            view.sim.settle().expect("the sim settles");
        }
        view.state.client_events.iter().any(|e| {
            matches!(e, Event::Stream(StreamEvent::Stopped { id: stopped, code: c }) if *stopped == id && *c == code)
        })
    });
    assert!(outcome.is_satisfied());
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    assert_eq!(client.finish_stream(id), Err(WriteError::Stopped { code }));
    assert_eq!(
        client.write_stream(id, Bytes::from_static(b"more")),
        Err(WriteError::Stopped { code })
    );
    // Still so once the reset it answered with is acknowledged.
    let _ = pair.run_until(Duration::from_secs(1), |_| false);
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    assert_eq!(client.finish_stream(id), Err(WriteError::Stopped { code }));
    assert!(!client.is_closed());
}
