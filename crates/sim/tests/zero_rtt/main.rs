//! Resumption and 0-RTT between two `tern-proto` endpoints (RFC 9001 §4.6,
//! RFC 9000 §7.4.1): a first connection leaves the client a ticket, and a
//! second one resumes with it, sending its request in 0-RTT packets when
//! the application enables it.
//!
//! A failing seed is printed as `tern-sim: failing seed N`; run the test
//! again with `TERN_SIM_SEED=N` to replay exactly that run.

mod accepted;
mod early;
mod limits;
mod rejected;
mod replay;
mod resumed;
mod retry;

use std::time::Duration;

use bytes::Bytes;
use tern_proto::{
    Dir, StreamId,
    config::{ClientConfig, ServerConfig},
    connection::Connection,
};
use tern_sim::{
    LinkConfig,
    pair::{Pair, read_to_end},
};

/// Sim time a run may take.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);
/// One-way delay of the link: a 60 ms round trip.
pub(crate) const DELAY: Duration = Duration::from_millis(30);

pub(crate) fn link() -> LinkConfig {
    LinkConfig::default().delay(DELAY)
}

/// A first connection between fresh endpoints, run until the client holds
/// the server's tickets.
pub(crate) fn first_connection(seed: u64, client: &ClientConfig, server: ServerConfig) -> Pair {
    Pair::with_tickets(seed, link(), client, server, LIMIT)
}

/// The server application: answers each request with `response` as soon as
/// the request is in, before its handshake completes if the request came in
/// 0-RTT; records whether each request's data arrived in 0-RTT.
#[derive(Default)]
pub(crate) struct Server {
    reading: Vec<(StreamId, Vec<u8>)>,
    /// Per answered request: whether it came (in part) in 0-RTT.
    pub(crate) answered: Vec<bool>,
}

impl Server {
    pub(crate) fn serve(&mut self, conn: &mut Connection, response: &[u8]) {
        while let Some(id) = conn.accept_stream(Dir::Bi) {
            self.reading.push((id, Vec::new()));
        }
        let answered = &mut self.answered;
        self.reading.retain_mut(|(id, request)| {
            if !read_to_end(conn, *id, request) {
                return true;
            }
            answered.push(conn.stream_received_0rtt(*id));
            let len = response.len();
            assert_eq!(
                conn.write_stream(*id, Bytes::copy_from_slice(response)),
                Ok(len)
            );
            conn.finish_stream(*id).expect("finish the response");
            false
        });
    }
}

/// What a second connection's request saw.
pub(crate) struct Exchange {
    /// Sim time from the connection's start to the whole response read.
    pub(crate) elapsed: Duration,
    /// The response.
    pub(crate) response: Vec<u8>,
    /// Whether the client's connection took 0-RTT on.
    pub(crate) zero_rtt_enabled: bool,
}

/// Starts a second connection from `pair`'s client with `client`, enables
/// 0-RTT if `zero_rtt`, sends `request` on one stream as soon as a stream
/// can be opened, and runs until the response is read.
pub(crate) fn exchange(
    pair: &mut Pair,
    client: &ClientConfig,
    zero_rtt: bool,
    request: &[u8],
    server: &mut Server,
) -> Exchange {
    pair.reconnect(client);
    let start = pair.sim.elapsed();
    let zero_rtt_enabled = zero_rtt
        && pair
            .view()
            .client_mut()
            .is_some_and(Connection::enable_zero_rtt);
    let mut stream = None;
    let mut response = Vec::new();
    let mut done = false;
    let outcome = pair.run_until(LIMIT, |view| {
        if let Some(conn) = view.server_mut() {
            server.serve(conn, b"the response");
        }
        if let Some(conn) = view.client_mut() {
            if stream.is_none()
                && let Some(id) = conn.open_stream(Dir::Bi)
            {
                let len = request.len();
                assert_eq!(
                    conn.write_stream(id, Bytes::copy_from_slice(request)),
                    Ok(len)
                );
                conn.finish_stream(id).expect("finish the request");
                stream = Some(id);
            }
            if let Some(id) = stream {
                done = read_to_end(conn, id, &mut response);
            }
        }
        view.sim.settle().expect("the sim settles");
        done
    });
    assert!(outcome.is_satisfied(), "{outcome:?}: no response");
    Exchange {
        elapsed: pair.sim.elapsed() - start,
        response,
        zero_rtt_enabled,
    }
}

/// The 0-RTT-capable test configurations.
pub(crate) fn configs() -> (ClientConfig, ServerConfig) {
    tern_sim::resume::zero_rtt_configs()
}
