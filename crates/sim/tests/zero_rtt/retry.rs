//! 0-RTT through a Retry (RFC 9000 §17.2.5.3): the server dropped the
//! first 0-RTT packets with the first Initial, so the client sends what
//! they carried again, at once, to the ID the Retry gave, and the request
//! is answered one round trip after the Retry.

use tern_proto::{EarlyData, config::RetryPolicy};
use tern_sim::Seed;

use crate::{DELAY, Server, configs, exchange, first_connection};

#[test]
fn zero_rtt_data_sent_before_a_retry_is_sent_again_after_it() {
    Seed::range(0..4).run(|seed| {
        let (client, mut server_config) = configs();
        server_config.retry = RetryPolicy::Always;
        let mut pair = first_connection(seed, &client, server_config);
        // Without a NEW_TOKEN token the second connection gets a Retry too;
        // its ticket is in the TLS configuration, which the clone shares.
        let client = client.token_store(None);
        let mut server = Server::default();
        let exchange = exchange(&mut pair, &client, true, b"GET /", &mut server);
        assert!(exchange.zero_rtt_enabled);
        assert_eq!(exchange.response, b"the response");
        assert_eq!(server.answered, vec![true], "the request came in 0-RTT");
        let rtt = DELAY * 2;
        assert!(
            exchange.elapsed <= rtt * 2 + rtt / 10,
            "the Retry costs one round trip, not a loss timer: {:?}",
            exchange.elapsed
        );
        let _ = pair.run_until(DELAY * 10, |_| false);
        let view = pair.view();
        let conn = view.client().expect("client");
        let info = conn.handshake_info().expect("info");
        assert!(info.retry_used());
        assert!(info.resumed());
        assert_eq!(info.early_data(), EarlyData::Accepted);
        assert!(
            conn.stats().zero_rtt_packets_resent > 0,
            "the first 0-RTT packets went again"
        );
    });
}
