//! 0-RTT accepted: the request goes in 0-RTT packets, the server answers
//! before its handshake completes, and the response arrives a round trip
//! sooner than over a resumed connection without 0-RTT.

use tern_proto::{EarlyData, Side};
use tern_sim::Seed;

use crate::{DELAY, Server, configs, exchange, first_connection};

#[test]
fn an_accepted_0rtt_request_is_answered_a_round_trip_sooner() {
    Seed::range(0..4).run(|seed| {
        let rtt = DELAY * 2;
        let mut elapsed = Vec::new();
        for zero_rtt in [false, true] {
            let (client, server_config) = configs();
            let mut pair = first_connection(seed, &client, server_config);
            let mut server = Server::default();
            let exchange = exchange(
                &mut pair,
                &client,
                zero_rtt,
                b"GET /index.html",
                &mut server,
            );
            assert_eq!(exchange.response, b"the response");
            assert_eq!(exchange.zero_rtt_enabled, zero_rtt, "a ticket allows 0-RTT");
            assert_eq!(server.answered, vec![zero_rtt], "the request came in 0-RTT");
            let _ = pair.run_until(DELAY * 10, |_| false);
            let view = pair.view();
            let client_conn = view.client().expect("client");
            let server_conn = view.server().expect("server");
            let expected = if zero_rtt {
                EarlyData::Accepted
            } else {
                EarlyData::NotAttempted
            };
            for side in [Side::Client, Side::Server] {
                let conn = view.connection(side).expect("connection");
                let info = conn.handshake_info().expect("the handshake completed");
                assert!(info.resumed(), "{side:?}");
                assert_eq!(info.early_data(), expected, "{side:?}");
            }
            if zero_rtt {
                assert!(client_conn.stats().zero_rtt_packets_sent > 0);
                assert!(server_conn.stats().zero_rtt_packets_received > 0);
                assert_eq!(client_conn.stats().zero_rtt_packets_resent, 0);
            } else {
                assert_eq!(client_conn.stats().zero_rtt_packets_sent, 0);
            }
            assert!(
                !server_conn.stats().tls_state_retained,
                "the server frees its session with 0-RTT on"
            );
            elapsed.push(exchange.elapsed);
        }
        let (without, with) = (elapsed[0], elapsed[1]);
        println!("seed {seed}: response after {without:?} without 0-RTT, {with:?} with");
        assert!(
            with + rtt * 9 / 10 <= without,
            "0-RTT saves a round trip ({rtt:?}): {with:?} with, {without:?} without"
        );
    });
}

// 0-RTT enabled, but the first write comes after the handshake completed:
// nothing went in 0-RTT, so neither side reports an outcome for it.
#[test]
fn zero_rtt_enabled_but_unused_reports_not_attempted() {
    let (client, server_config) = configs();
    let mut pair = first_connection(7, &client, server_config);
    pair.reconnect(&client);
    let mut view = pair.view();
    assert!(view.client_mut().expect("client").enable_zero_rtt());
    let outcome = pair.run_until(crate::LIMIT, |view| {
        view.client().is_some_and(|c| c.is_handshake_confirmed())
            && view.server().is_some_and(|s| !s.is_handshaking())
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");
    let view = pair.view();
    for side in [Side::Client, Side::Server] {
        let conn = view.connection(side).expect("connection");
        let info = conn.handshake_info().expect("info");
        assert!(info.resumed(), "{side:?}");
        assert_eq!(info.early_data(), EarlyData::NotAttempted, "{side:?}");
    }
    assert_eq!(
        view.client().expect("client").stats().zero_rtt_packets_sent,
        0
    );
}
