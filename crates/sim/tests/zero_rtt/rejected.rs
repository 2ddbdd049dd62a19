//! 0-RTT rejected: the server lost the session the ticket names (its
//! session cache was replaced, as when its ticket keys rotate), so it
//! makes a full handshake and drops the 0-RTT packets; the client sends the
//! request again in 1-RTT by itself (RFC 9001 §4.6.2).

use std::sync::Arc;

use rustls::server::ServerSessionMemoryCache;
use tern_proto::{EarlyData, Side, config::ServerConfig};
use tern_sim::Seed;

use crate::{DELAY, Server, configs, exchange, first_connection};

/// `config` with a fresh, empty session cache: every ticket issued before
/// is unknown to it.
fn with_new_session_cache(config: &ServerConfig) -> ServerConfig {
    let mut tls = (*config.tls).clone();
    tls.session_storage = ServerSessionMemoryCache::new(256);
    let mut config = config.clone();
    config.tls = Arc::new(tls);
    config
}

#[test]
fn a_rejected_0rtt_request_is_sent_again_in_1rtt() {
    Seed::range(0..4).run(|seed| {
        let (client, server_config) = configs();
        let rotated = with_new_session_cache(&server_config);
        let mut pair = first_connection(seed, &client, server_config);
        pair.set_server_config(rotated);
        let mut server = Server::default();
        let exchange = exchange(&mut pair, &client, true, b"GET /index.html", &mut server);
        assert!(exchange.zero_rtt_enabled, "the client holds a ticket");
        assert_eq!(exchange.response, b"the response");
        assert_eq!(server.answered, vec![false], "the request came in 1-RTT");
        let _ = pair.run_until(DELAY * 10, |_| false);
        let view = pair.view();
        let client_conn = view.client().expect("client");
        let stats = client_conn.stats();
        assert!(stats.zero_rtt_packets_sent > 0);
        assert!(stats.zero_rtt_packets_resent > 0);
        assert!(!client_conn.is_closed(), "{:?}", client_conn.close_reason());
        for side in [Side::Client, Side::Server] {
            let info = view
                .connection(side)
                .expect("conn")
                .handshake_info()
                .expect("info")
                .clone();
            assert!(!info.resumed(), "{side:?}: the ticket was unknown");
            assert_eq!(info.early_data(), EarlyData::Rejected, "{side:?}");
        }
        assert_eq!(
            view.server()
                .expect("server")
                .stats()
                .zero_rtt_packets_received,
            0
        );
    });
}
