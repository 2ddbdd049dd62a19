//! Off-path attackers (RFC 9000 §9.3.1, §9.3.3, §21.5): a party that
//! sees the client's datagrams and sends copies to the server from an
//! address of its own, sooner than the originals arrive or later.

use std::{net::SocketAddr, time::Duration};

use tern_proto::{
    Dir,
    config::{EndpointConfig, TransportConfig},
};
use tern_sim::{
    LinkConfig, TraceEvent,
    pair::Pair,
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use crate::{read_some, write_some};

/// The attacker's address, where nobody answers.
const SPOOFED: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 9, 8, 7)),
    6666,
);

/// Bytes sent from `from` to `to` in the trace.
fn bytes_between(trace: &[TraceEvent], from: SocketAddr, to: SocketAddr) -> usize {
    trace
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Sent {
                from: f,
                to: t,
                data,
                ..
            } if *f == from && *t == to => Some(data.len()),
            _ => None,
        })
        .sum()
}

/// A connected pair whose client sends 300 kB on a stream to the server,
/// while an attacker copies each of the client's first `copies` datagrams
/// of the transfer to the server from [`SPOOFED`]: over a faster link when
/// `first`, so that each copy arrives before its original, else only
/// after. Returns the pair once the server read everything, and the bytes
/// the attacker sent.
fn transfer_under_copies(seed: u64, copies: usize, first: bool) -> (Pair, usize) {
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let mut pair = Pair::new(
        seed,
        link,
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    let copy_delay = if first { 1 } else { 60 };
    pair.sim.set_link(
        SPOOFED,
        SERVER_ADDR,
        LinkConfig::default().delay(Duration::from_millis(copy_delay)),
    );
    assert!(pair.connect(Duration::from_secs(5)));
    pair.sim.record_trace(true);
    let stream = pair
        .view()
        .client_mut()
        .expect("client")
        .open_stream(Dir::Uni)
        .expect("a stream");
    let mut left = bytes::Bytes::from(vec![3u8; 300_000]);
    let mut seen = 0;
    let mut copied = 0;
    let mut attacker_bytes = 0;
    let mut read = 0;
    let mut incoming = None;
    let outcome = pair.run_until(Duration::from_secs(30), |view| {
        let fresh: Vec<bytes::Bytes> = view.sim.trace()[seen..]
            .iter()
            .filter_map(|e| match e {
                TraceEvent::Sent { from, to, data, .. }
                    if *from == CLIENT_ADDR && *to == SERVER_ADDR =>
                {
                    Some(data.clone())
                }
                _ => None,
            })
            .collect();
        seen = view.sim.trace().len();
        write_some(view.client_mut().expect("client"), stream, &mut left);
        for data in fresh {
            if copied < copies {
                copied += 1;
                attacker_bytes += data.len();
                view.sim.inject(SPOOFED, SERVER_ADDR, None, data);
            }
        }
        read += read_some(view.server_mut().expect("server"), &mut incoming);
        read == 300_000 && copied == copies
    });
    assert!(
        outcome.is_satisfied(),
        "the transfer completed: read {read}, copied {copied}, {:?}",
        pair.view()
            .server()
            .map(|s| (s.stats(), s.remote_address()))
    );
    // Let every challenge and its timer run out.
    let _ = pair.run_until(Duration::from_secs(5), |_| false);
    (pair, attacker_bytes)
}

// RFC 9000 §9.3.3 (test): copies that arrive before their originals move
// the server to the attacker's address, but only until the client's next
// packet: the connection ends on the client's address, the transfer
// completes, and the server never sends the attacker more than three
// times what the attacker sent it (§9.3.1, §8.1).
#[test]
fn copies_that_arrive_first_cannot_keep_the_connection() {
    let (mut pair, attacker_bytes) = transfer_under_copies(31, 20, true);
    let to_attacker = bytes_between(pair.sim.trace(), SERVER_ADDR, SPOOFED);
    let view = pair.view();
    let server = view.server().expect("server");
    assert_eq!(server.remote_address(), CLIENT_ADDR);
    assert!(server.stats().migrations >= 2, "{:?}", server.stats());
    assert!(to_attacker > 0, "the server challenged the spoofed address");
    assert!(
        to_attacker <= 3 * attacker_bytes,
        "{to_attacker} bytes to the attacker for {attacker_bytes} from it"
    );
    assert!(!server.is_closed());
}

// RFC 9000 §9.3, §12.3 (test): copies replayed after their originals are
// duplicates: nothing moves, and nothing is sent to the attacker.
#[test]
fn replayed_copies_move_nothing_and_get_no_answer() {
    let (mut pair, attacker_bytes) = transfer_under_copies(32, 20, false);
    assert!(attacker_bytes > 0);
    let to_attacker = bytes_between(pair.sim.trace(), SERVER_ADDR, SPOOFED);
    let view = pair.view();
    let server = view.server().expect("server");
    assert_eq!(server.remote_address(), CLIENT_ADDR);
    assert_eq!(server.stats().migrations, 0);
    assert_eq!(to_attacker, 0);
}
