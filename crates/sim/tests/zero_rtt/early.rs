//! 0-RTT that overtakes its Initial (RFC 9001 §4.6.1, §5.7): the client's
//! 0-RTT datagrams reach the server before the Initial that opens the
//! connection. The endpoint holds them, bounded, and hands them to the
//! connection the Initial makes, which opens them once it has read the
//! ClientHello: the request is still answered from 0-RTT.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use bytes::Bytes;
use tern_proto::{Dir, EarlyData};
use tern_sim::{
    Seed,
    pair::{SERVER, read_to_end},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

use crate::{DELAY, LIMIT, Server, configs, first_connection};

/// A request large enough to fill 0-RTT datagrams of its own, after the
/// ones that carry the ClientHello.
const REQUEST: usize = 6000;

/// Whether `datagram` starts with a QUIC v1 Initial packet (RFC 9000
/// §17.2.2: long header, type 0).
fn starts_with_initial(datagram: &[u8]) -> bool {
    datagram
        .first()
        .is_some_and(|b| b & 0x80 != 0 && b & 0x30 == 0)
}

#[test]
fn zero_rtt_that_overtakes_its_initial_is_held_and_answered() {
    Seed::range(0..4).run(|seed| {
        let (client, server_config) = configs();
        let mut pair = first_connection(seed, &client, server_config);
        // The network holds back the new connection's Initials.
        let held: Rc<RefCell<Vec<Bytes>>> = Rc::default();
        let holding = Rc::new(Cell::new(true));
        let (hold, on) = (held.clone(), holding.clone());
        pair.sim.drop_if(CLIENT_ADDR, SERVER_ADDR, move |data| {
            if on.get() && starts_with_initial(data) {
                hold.borrow_mut().push(Bytes::copy_from_slice(data));
                return true;
            }
            false
        });
        pair.reconnect(&client);
        let mut view = pair.view();
        let conn = view.client_mut().expect("client");
        assert!(conn.enable_zero_rtt());
        let id = conn.open_stream(Dir::Bi).expect("a stream in 0-RTT");
        assert_eq!(
            conn.write_stream(id, Bytes::from(vec![b'q'; REQUEST])),
            Ok(REQUEST)
        );
        conn.finish_stream(id).expect("finish");

        // The 0-RTT datagrams arrive first, and wait at the endpoint.
        let _ = pair.run_until(DELAY * 2, |_| false);
        let stats = pair.sim.node(SERVER).stats();
        assert!(stats.early_zero_rtt_buffered > 0, "{stats:?}");
        assert!(
            pair.view().server().is_none(),
            "no connection without its Initial"
        );
        holding.set(false);
        for datagram in held.borrow_mut().drain(..) {
            pair.sim.inject(CLIENT_ADDR, SERVER_ADDR, None, datagram);
        }

        let mut server = Server::default();
        let mut response = Vec::new();
        let outcome = pair.run_until(LIMIT, |view| {
            if let Some(conn) = view.server_mut() {
                server.serve(conn, b"the response");
            }
            view.sim.settle().expect("the sim settles");
            view.client_mut()
                .is_some_and(|conn| read_to_end(conn, id, &mut response))
        });
        assert!(outcome.is_satisfied(), "{outcome:?}");
        assert_eq!(response, b"the response");
        assert_eq!(server.answered, vec![true], "the request came in 0-RTT");
        let stats = pair.sim.node(SERVER).stats();
        assert!(stats.early_zero_rtt_delivered > 0, "{stats:?}");
        let _ = pair.run_until(DELAY * 10, |_| false);
        let view = pair.view();
        let info = view
            .client()
            .expect("client")
            .handshake_info()
            .expect("info");
        assert_eq!(info.early_data(), EarlyData::Accepted);
        assert_eq!(
            view.client()
                .expect("client")
                .stats()
                .zero_rtt_packets_resent,
            0
        );
    });
}
