//! A resumed handshake: no certificates, and the server still frees its
//! TLS session, so that tickets come from sessions already freed.

use tern_proto::{EarlyData, Side};
use tern_sim::Seed;

use crate::{Server, configs, exchange, first_connection};

// The first server connection freed its session once its tickets were
// sent; the second resumes with one of them, exchanges no certificate
// (RFC 8446 §2.2), says `resumed` on both sides, and frees its own session
// too although resumption and 0-RTT are on.
#[test]
fn a_resumed_handshake_sends_no_certificate_and_the_server_frees_its_session() {
    Seed::range(0..4).run(|seed| {
        let (client, server_config) = configs();
        let mut pair = first_connection(seed, &client, server_config);
        let first = pair.view().server().expect("server").stats();
        assert!(
            !first.tls_state_retained,
            "the first server connection freed its session"
        );
        let view = pair.view();
        let info = view
            .client()
            .expect("client")
            .handshake_info()
            .expect("info")
            .clone();
        assert!(!info.resumed(), "the first handshake is a full one");
        assert!(!info.peer_certificates().is_empty());

        let mut server = Server::default();
        let exchange = exchange(&mut pair, &client, false, b"GET /", &mut server);
        assert_eq!(exchange.response, b"the response");
        let _ = pair.run_until(crate::DELAY * 10, |_| false);
        let view = pair.view();
        for side in [Side::Client, Side::Server] {
            let conn = view.connection(side).expect("connection");
            let info = conn.handshake_info().expect("handshake info");
            assert!(info.resumed(), "{side:?} resumed");
            assert_eq!(info.early_data(), EarlyData::NotAttempted, "{side:?}");
        }
        let client_info = view
            .client()
            .expect("client")
            .handshake_info()
            .expect("info");
        // rustls restores the certificates of the session resumed; the
        // server's flight had no CertificateVerify to read a scheme from.
        assert_eq!(
            client_info.peer_certificates(),
            info.peer_certificates(),
            "the resumed session's certificates"
        );
        assert_eq!(
            client_info.signature_scheme(),
            None,
            "a resumed handshake has no CertificateVerify"
        );
        let server = view.server().expect("server");
        assert!(
            !server.stats().tls_state_retained,
            "the server frees its session after a resumed handshake"
        );
        assert!(server.handshake_info().expect("info").resumed());
    });
}
