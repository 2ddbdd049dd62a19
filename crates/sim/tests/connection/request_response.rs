//! Sequential request/response over one connection costs one datagram per
//! request each way: ACKs and credit updates ride with the data
//! (RFC 9000 §4.6, §13.2.1, §13.2.2).

use std::{cell::RefCell, rc::Rc};

use bytes::Bytes;
use tern_proto::{
    Dir, StreamId,
    config::{EndpointConfig, TransportConfig},
    connection::Connection,
    streams::StreamsConfig,
};
use tern_sim::{
    LinkConfig, Seed, TraceEvent,
    pair::{Pair, read_to_end},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use crate::{LIMIT, link};

/// Requests sent one after the other.
const REQUESTS: u64 = 1000;
/// Bytes of each request and of each response.
const MESSAGE: usize = 64;
/// The most datagrams per request each way the test accepts.
const BOUND: f64 = 1.1;

/// Datagrams put on the network by each side.
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    client: u64,
    server: u64,
}

/// Counts every datagram each side sends from now on.
fn count_datagrams(pair: &mut Pair) -> Rc<RefCell<Sent>> {
    let sent = Rc::new(RefCell::new(Sent::default()));
    let counter = sent.clone();
    pair.sim.on_event(move |event| {
        if let TraceEvent::Sent { from, .. } = event {
            let mut sent = counter.borrow_mut();
            if *from == CLIENT_ADDR {
                sent.client += 1;
            } else if *from == SERVER_ADDR {
                sent.server += 1;
            }
        }
    });
    sent
}

/// The client: one request at a time, the next as soon as the answer is in.
#[derive(Default)]
struct Client {
    active: Option<(StreamId, Vec<u8>)>,
    done: u64,
}

impl Client {
    fn drive(&mut self, conn: &mut Connection) {
        if let Some((id, answer)) = &mut self.active {
            if !read_to_end(conn, *id, answer) {
                return;
            }
            assert_eq!(answer.len(), MESSAGE, "the whole response");
            self.active = None;
            self.done += 1;
        }
        if self.done == REQUESTS {
            return;
        }
        let id = conn.open_stream(Dir::Bi).expect("a stream is available");
        let request = Bytes::from(vec![b'q'; MESSAGE]);
        assert_eq!(conn.write_stream(id, request), Ok(MESSAGE));
        conn.finish_stream(id).expect("finish the request");
        self.active = Some((id, Vec::new()));
    }
}

/// The server: reads each request to its end, then answers it.
#[derive(Default)]
struct Server {
    reading: Vec<(StreamId, Vec<u8>)>,
}

impl Server {
    fn serve(&mut self, conn: &mut Connection) {
        while let Some(id) = conn.accept_stream(Dir::Bi) {
            self.reading.push((id, Vec::new()));
        }
        self.reading.retain_mut(|(id, request)| {
            if !read_to_end(conn, *id, request) {
                return true;
            }
            assert_eq!(request.len(), MESSAGE, "the whole request");
            let response = Bytes::from(vec![b'r'; MESSAGE]);
            assert_eq!(conn.write_stream(*id, response), Ok(MESSAGE));
            conn.finish_stream(*id).expect("finish the response");
            false
        });
    }
}

/// Runs `REQUESTS` sequential requests over `link`; returns the datagrams
/// each side sent from the first request to the last response. The client
/// finds a stream available for every request.
fn run(seed: u64, link: LinkConfig, transport: TransportConfig) -> Sent {
    let mut pair = Pair::new(seed, link, transport, EndpointConfig::default());
    assert!(pair.connect(LIMIT), "the handshake completes");
    let sent = count_datagrams(&mut pair);
    let (mut client, mut server) = (Client::default(), Server::default());
    let outcome = pair.run_until(LIMIT * 10, |view| {
        if let Some(conn) = view.server_mut() {
            server.serve(conn);
        }
        if let Some(conn) = view.client_mut() {
            client.drive(conn);
        }
        // Send what the application queued at this instant, as an event
        // loop woken by the application would.
        view.sim.settle().expect("the sim settles");
        client.done == REQUESTS
    });
    assert!(
        outcome.is_satisfied(),
        "{outcome:?}: {} of {REQUESTS} requests done",
        client.done
    );
    let view = pair.view();
    let client_conn = view.client().expect("client");
    assert!(!client_conn.is_closed(), "{:?}", client_conn.close_reason());
    *sent.borrow()
}

fn per_request(count: u64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "datagram counts are far below 2^52"
    )]
    let ratio = count as f64 / REQUESTS as f64;
    ratio
}

// ACKs and MAX_STREAMS ride with the response and the next request instead
// of going out alone; every ack-eliciting packet is still acknowledged
// within max_ack_delay, here at once by the data that answers it.
#[test]
fn a_sequential_rpc_costs_at_most_1_1_datagrams_per_request_each_way() {
    let sent = run(41, link(), TransportConfig::default());
    let (up, down) = (per_request(sent.client), per_request(sent.server));
    println!(
        "{REQUESTS} requests of {MESSAGE} bytes: client {} datagrams ({up:.3} per request), server {} ({down:.3} per request)",
        sent.client, sent.server
    );
    assert!(up <= BOUND, "client sent {up:.3} datagrams per request");
    assert!(down <= BOUND, "server sent {down:.3} datagrams per request");
}

// Stream credit that waits for a packet going anyway still reaches the peer
// before it needs it, lost or not: with room for four streams, 1,000
// requests in a row never find the limit reached.
#[test]
fn a_sequential_rpc_through_four_streams_never_waits_for_credit_under_loss() {
    let transport = TransportConfig {
        streams: StreamsConfig {
            max_concurrent_bidi_streams: 4,
            ..StreamsConfig::default()
        },
        ..TransportConfig::default()
    };
    Seed::range(0..8).run(|seed| {
        let link = link()
            .loss(0.05)
            .jitter(std::time::Duration::from_millis(2));
        let sent = run(seed, link, transport.clone());
        assert!(sent.client >= REQUESTS && sent.server >= REQUESTS);
    });
}
