//! Migration (RFC 9000 §9) and path validation (§8.2) between real
//! endpoints on the simulated network: the connection IDs each side issues
//! (§5.1), NAT rebindings during transfers, what a move keeps and what it
//! starts again, off-path attackers that copy a client's packets from
//! another address, the server's preferred address, and a client's own
//! moves.

mod cids;
mod nat;
mod preferred;
mod probe;
mod rebind;
mod spoofing;

use std::time::Duration;

use bytes::Bytes;
use tern_proto::{Dir, StreamId, connection::Connection};
use tern_sim::{LinkConfig, pair::Pair};

/// How long a test waits for what it expects, in simulated time.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// A 10 ms path each way.
pub(crate) fn link() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(10))
}

/// Writes to `stream` what `conn` takes now of `left`, and finishes the
/// stream once all of it is written.
pub(crate) fn write_some(conn: &mut Connection, stream: StreamId, left: &mut Bytes) {
    while !left.is_empty() {
        match conn.write_stream(stream, left.clone()) {
            Ok(n) if n > 0 => drop(left.split_to(n)),
            _ => return,
        }
        if left.is_empty() {
            conn.finish_stream(stream).expect("finished");
        }
    }
}

/// Accepts the peer's first unidirectional stream into `incoming` and
/// reads what it has; returns the bytes read.
pub(crate) fn read_some(conn: &mut Connection, incoming: &mut Option<StreamId>) -> usize {
    if incoming.is_none() {
        *incoming = conn.accept_stream(Dir::Uni);
    }
    let mut read = 0;
    if let Some(id) = *incoming {
        while let Ok(Some(chunk)) = conn.read_stream(id, usize::MAX, true) {
            read += chunk.bytes.len();
        }
    }
    read
}

/// Runs until the server read `bytes` the client wrote on a new stream;
/// says whether it did within [`LIMIT`].
pub(crate) fn upload(pair: &mut Pair, bytes: usize) -> bool {
    let stream = pair
        .view()
        .client_mut()
        .expect("client")
        .open_stream(Dir::Uni)
        .expect("a stream");
    let mut left = Bytes::from(vec![5u8; bytes]);
    let mut incoming = None;
    let mut read = 0;
    pair.run_until(LIMIT, |view| {
        write_some(view.client_mut().expect("client"), stream, &mut left);
        read += read_some(view.server_mut().expect("server"), &mut incoming);
        read == bytes
    })
    .is_satisfied()
}
