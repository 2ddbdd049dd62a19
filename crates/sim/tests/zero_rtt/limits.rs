//! RFC 9000 §7.4.1: in 0-RTT the client keeps to the transport parameters
//! remembered with its ticket: no more streams than the server allowed,
//! no more data than its windows.

use std::sync::Arc;

use bytes::Bytes;
use tern_proto::{
    Dir,
    config::TransportConfig,
    streams::{StreamsConfig, WriteError},
};
use tern_sim::Seed;

use crate::{DELAY, LIMIT, configs, first_connection};

const STREAMS: u64 = 2;
const WINDOW: u64 = 4000;
/// Bytes written to each stream: three windows.
const WRITE: usize = 12_000;

#[test]
fn a_0rtt_client_keeps_to_the_remembered_stream_limits() {
    Seed::range(0..4).run(|seed| {
        let (client, mut server_config) = configs();
        server_config.transport = Arc::new(TransportConfig {
            streams: StreamsConfig {
                max_concurrent_bidi_streams: STREAMS,
                stream_receive_window: WINDOW,
                max_stream_receive_window: WINDOW,
                ..StreamsConfig::default()
            },
            ..TransportConfig::default()
        });
        let mut pair = first_connection(seed, &client, server_config);
        pair.reconnect(&client);
        let mut view = pair.view();
        let conn = view.client_mut().expect("client");
        assert!(conn.enable_zero_rtt());
        let mut opened = Vec::new();
        while let Some(id) = conn.open_stream(Dir::Bi) {
            opened.push(id);
            assert!(opened.len() <= 16, "the stream limit holds");
        }
        assert_eq!(opened.len() as u64, STREAMS, "the remembered stream limit");
        for &id in &opened {
            let taken = conn
                .write_stream(id, Bytes::from(vec![7; WRITE]))
                .expect("some of it fits");
            assert_eq!(taken as u64, WINDOW, "the remembered stream window");
            assert_eq!(
                conn.write_stream(id, Bytes::from_static(b"more")),
                Err(WriteError::Blocked)
            );
        }
        // The server accepts the early data without a stream or flow
        // control error.
        let outcome = pair.run_until(LIMIT, |view| {
            view.server()
                .is_some_and(|s| s.stats().zero_rtt_packets_received > 0)
                && view.client().is_some_and(|c| !c.is_handshaking())
        });
        assert!(outcome.is_satisfied(), "{outcome:?}");
        let _ = pair.run_until(DELAY * 10, |_| false);
        let view = pair.view();
        for conn in [view.client(), view.server()] {
            let conn = conn.expect("connection");
            assert!(!conn.is_closed(), "{:?}", conn.close_reason());
        }
    });
}
