use std::{sync::Arc, time::Duration};

use super::*;
use crate::{
    config::EndpointConfig,
    endpoint::{
        Endpoint,
        tests::{NOWHERE, configs, epoch},
    },
};

/// `n` fresh client connections (their first Initial not sent yet).
fn connections(n: usize) -> Vec<Connection> {
    let (client_config, _) = configs();
    let mut endpoint = Endpoint::new(Arc::new(EndpointConfig::default()), None, None, 3);
    (0..n)
        .map(|_| {
            let handle = endpoint
                .connect(epoch(), &client_config, NOWHERE, "localhost")
                .unwrap();
            endpoint.connections.remove(handle).unwrap()
        })
        .collect()
}

fn cid(byte: u8) -> ConnectionId {
    ConnectionId::new(&[byte; 8]).unwrap()
}

fn h(n: u64) -> ConnectionHandle {
    ConnectionHandle(n)
}

#[test]
fn a_connection_is_filed_under_its_deadline_once_refreshed() {
    let mut table = Connections::default();
    let conn = connections(1).pop().unwrap();
    let deadline = conn.poll_timeout();
    assert!(
        deadline.is_some(),
        "a client waits for its first flight's PTO"
    );
    let own = conn.local_cid();
    table.insert(h(0), conn, &[own]);
    assert_eq!(table.next_deadline(), None, "not filed before a refresh");
    table.refresh();
    assert_eq!(table.next_deadline(), deadline);
    let mut due = Vec::new();
    table.due(deadline.unwrap() - Duration::from_nanos(1), &mut due);
    assert!(due.is_empty());
    table.due(deadline.unwrap(), &mut due);
    assert_eq!(due, [h(0)]);
    table.assert_consistent();
}

#[test]
fn removing_a_connection_removes_exactly_its_routes_and_entries() {
    let mut table = Connections::default();
    let mut conns = connections(2).into_iter();
    let (first, second) = (conns.next().unwrap(), conns.next().unwrap());
    let (one, three) = (first.local_cid(), second.local_cid());
    table.insert(h(0), first, &[one, cid(2)]);
    // A client may choose the same original DCID twice: the newer
    // connection takes the route over.
    table.insert(h(1), second, &[three, cid(2)]);
    table.refresh();
    table.assert_consistent();
    assert_eq!(table.route(&cid(2)), Some(h(1)));

    assert!(table.remove(h(0)).is_some());
    assert_eq!(table.route(&one), None);
    assert_eq!(table.route(&cid(2)), Some(h(1)), "the other's route stays");
    assert_eq!(table.route(&three), Some(h(1)));
    assert_eq!(table.timers.len(), 1);
    assert!(!table.send_ready.contains(h(0)) && !table.event_ready.contains(h(0)));
    table.assert_consistent();

    assert!(table.remove(h(1)).is_some());
    assert!(table.routes.is_empty() && table.timers.is_empty());
    assert!(table.remove(h(1)).is_none(), "removed once");
}

#[test]
fn a_connection_that_sent_goes_to_the_back_and_one_that_did_not_leaves() {
    let mut table = Connections::default();
    for (n, conn) in (0..).zip(connections(3)) {
        table.insert(h(n), conn, &[cid(u8::try_from(n).unwrap())]);
    }
    table.transmitted(h(0), true);
    table.transmitted(h(1), false);
    assert_eq!(table.send_ready.pop(), Some(h(2)));
    assert_eq!(table.send_ready.pop(), Some(h(0)));
    assert_eq!(table.send_ready.pop(), None);
    table.events_taken(h(1));
    assert!(!table.event_ready.contains(h(1)));
    assert!(table.touch(h(1)).is_some());
    assert!(table.send_ready.contains(h(1)) && table.event_ready.contains(h(1)));
}

#[test]
fn reset_tokens_are_equal_by_value_and_hash_alike() {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    let a = ResetToken([5; 16]);
    let mut b = [5; 16];
    assert_eq!(a, ResetToken(b));
    assert_eq!(state.hash_one(a), state.hash_one(ResetToken(b)));
    b[15] = 6;
    assert_ne!(a, ResetToken(b));
    assert_eq!(format!("{a:?}"), "ResetToken(..)", "never logged");
}
