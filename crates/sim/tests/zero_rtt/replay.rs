//! Anti-replay (RFC 8446 §8, RFC 9001 §9.2): an attacker who recorded a
//! client's first flight (its Initial with the ClientHello and its 0-RTT
//! request) replays it to the server once the real connection is gone. By
//! default a ticket resumes once, so the replayed ClientHello gets a full
//! handshake and its 0-RTT request is never opened.

use std::{cell::RefCell, net::SocketAddr, rc::Rc};

use bytes::Bytes;
use tern_proto::Dir;
use tern_sim::{
    Seed, TraceEvent,
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use crate::{DELAY, LIMIT, Server, configs, exchange, first_connection};

#[test]
fn a_replayed_0rtt_flight_is_refused() {
    Seed::range(0..4).run(|seed| {
        let (client, server_config) = configs();
        let mut pair = first_connection(seed, &client, server_config);
        // Record what the client sends from the second connection's start.
        let recorded: Rc<RefCell<Vec<Bytes>>> = Rc::default();
        let start = pair.sim.elapsed();
        let tap = recorded.clone();
        pair.sim.on_event(move |event| {
            if let TraceEvent::Sent {
                at, from, to, data, ..
            } = event
                && *from == CLIENT_ADDR
                && *to == SERVER_ADDR
                && *at == start
            {
                tap.borrow_mut().push(data.clone());
            }
        });
        let mut server = Server::default();
        let exchange = exchange(&mut pair, &client, true, b"GET /", &mut server);
        assert!(exchange.zero_rtt_enabled);
        assert_eq!(
            server.answered,
            vec![true],
            "the real request came in 0-RTT"
        );
        let flight = recorded.borrow().clone();
        assert!(!flight.is_empty(), "the first flight was recorded");

        // The real connections close and are forgotten.
        let now = pair.sim.now();
        let mut view = pair.view();
        view.client_mut().expect("client").close(
            now,
            tern_proto::VarInt::from_u32(0),
            Bytes::new(),
        );
        let outcome = pair.run_until(LIMIT, |view| view.server().is_none());
        assert!(
            outcome.is_satisfied(),
            "{outcome:?}: the server forgot the connection"
        );

        // The replay, from the attacker's own address.
        let attacker: SocketAddr = "10.0.0.66:4433".parse().expect("address");
        pair.state.server_conn = None;
        for datagram in flight {
            pair.sim.inject(attacker, SERVER_ADDR, None, datagram);
        }
        let _ = pair.run_until(DELAY * 20, |_| false);
        let mut view = pair.view();
        let replayed = view
            .server_mut()
            .expect("the replayed Initial makes a connection");
        assert_eq!(
            replayed.stats().zero_rtt_packets_received,
            0,
            "the replayed 0-RTT request is not opened"
        );
        assert_eq!(replayed.accept_stream(Dir::Bi), None, "no replayed request");
    });
}
