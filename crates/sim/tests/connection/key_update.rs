//! 1-RTT key updates (RFC 9001 §6): started by either side, followed by the
//! other, with packets of the old phase still arriving after the switch.

use std::time::Duration;

use bytes::Bytes;
use tern_proto::config::{EndpointConfig, TransportConfig};
use tern_sim::{LinkConfig, pair::Pair};

use crate::{LIMIT, link};

/// Sends `rounds` datagrams each way and waits until the server got them.
fn exchange(pair: &mut Pair, rounds: u8) -> usize {
    let mut received = 0;
    for round in 0..rounds {
        let mut view = pair.view();
        view.client_mut()
            .expect("client")
            .send_datagram(Bytes::from(vec![round; 200]))
            .expect("queued");
        view.server_mut()
            .expect("server")
            .send_datagram(Bytes::from(vec![round; 200]))
            .expect("queued");
        let _ = pair.run_until(Duration::from_secs(5), |view| {
            while view.server_mut().and_then(|c| c.recv_datagram()).is_some() {
                received += 1;
            }
            while view.client_mut().and_then(|c| c.recv_datagram()).is_some() {}
            received > usize::from(round)
        });
    }
    received
}

fn connected(seed: u64, link: LinkConfig) -> Pair {
    let mut pair = Pair::new(
        seed,
        link,
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    assert!(pair.connect(LIMIT));
    pair
}

fn key_updates(pair: &mut Pair) -> (u64, u64) {
    let view = pair.view();
    (
        view.client().expect("client").stats().key_updates,
        view.server().expect("server").stats().key_updates,
    )
}

fn initiate(pair: &mut Pair, client: bool) -> bool {
    let now = pair.sim.now();
    let mut view = pair.view();
    let conn = if client {
        view.client_mut()
    } else {
        view.server_mut()
    };
    conn.expect("connection").initiate_key_update(now)
}

// RFC 9001 §6.2 (test): the peer of an update follows it, and data keeps
// flowing in the new phase, whichever side starts it.
#[test]
fn both_sides_follow_updates_started_by_either() {
    let mut pair = connected(40, link());
    assert_eq!(exchange(&mut pair, 5), 5);
    assert!(
        initiate(&mut pair, true),
        "the client may update once confirmed"
    );
    assert_eq!(exchange(&mut pair, 5), 5);
    assert_eq!(key_updates(&mut pair), (1, 1));
    assert!(initiate(&mut pair, false), "the server may update next");
    assert_eq!(exchange(&mut pair, 5), 5);
    assert_eq!(key_updates(&mut pair), (2, 2));
    assert!(initiate(&mut pair, true), "and the client again");
    assert_eq!(exchange(&mut pair, 5), 5);
    assert_eq!(key_updates(&mut pair), (3, 3));
}

// RFC 9001 §6.1 (test): no second update before a packet of the current
// phase is acknowledged.
#[test]
fn a_second_update_waits_for_an_acknowledgement() {
    let mut pair = connected(41, link());
    assert_eq!(exchange(&mut pair, 2), 2);
    assert!(initiate(&mut pair, true));
    assert!(
        !initiate(&mut pair, true),
        "nothing of the new phase is acknowledged yet"
    );
    assert_eq!(exchange(&mut pair, 3), 3);
    assert!(initiate(&mut pair, true));
}

// RFC 9001 §6.3 (test): packets of the old phase that arrive after the
// switch still open, with the previous keys.
#[test]
fn reordered_packets_of_the_old_phase_still_open() {
    let link = link().reorder(0.5, Duration::from_millis(15));
    let mut pair = connected(42, link);
    // Something of the first phase is acknowledged before the first update.
    assert_eq!(exchange(&mut pair, 2), 2);
    let mut sent = 0;
    let mut received = 0;
    let mut updates = 0;
    for round in 0..10_u8 {
        // Half the burst leaves in the old phase, half in the new one, and
        // the link delivers some of the first half after the second.
        for half in 0..2 {
            for _ in 0..5 {
                pair.view()
                    .client_mut()
                    .expect("client")
                    .send_datagram(Bytes::from(vec![round; 200]))
                    .expect("queued");
                sent += 1;
            }
            let _ = pair.run_until(Duration::from_millis(2), |_| false);
            if half == 0 && initiate(&mut pair, true) {
                updates += 1;
            }
        }
        let _ = pair.run_until(Duration::from_secs(5), |view| {
            while view.server_mut().and_then(|c| c.recv_datagram()).is_some() {
                received += 1;
            }
            received == sent
        });
        // Let the acknowledgements of the new phase come back.
        let _ = pair.run_until(Duration::from_millis(100), |_| false);
    }
    assert_eq!(received, sent, "no datagram of either phase was lost");
    assert_eq!(updates, 10, "an update every round");
    assert_eq!(key_updates(&mut pair), (updates, updates));
}

#[test]
fn no_update_before_the_handshake_is_confirmed() {
    let mut pair = Pair::new(
        43,
        link(),
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    assert!(!initiate(&mut pair, true));
}
