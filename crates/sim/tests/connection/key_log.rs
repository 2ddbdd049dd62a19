//! `key_log` on the client and server configurations hands every TLS
//! secret of the QUIC handshake to the configured `rustls::KeyLog`.

use std::sync::{Arc, Mutex};

use tern_proto::config::{ClientConfig, EndpointConfig, ServerConfig};
use tern_sim::{certs, pair::Pair};

use super::{LIMIT, link};

/// Records the labels it is given (never the secrets themselves).
#[derive(Debug, Default)]
struct RecordingKeyLog {
    labels: Mutex<Vec<String>>,
}

impl RecordingKeyLog {
    fn labels(&self) -> Vec<String> {
        self.labels.lock().expect("not poisoned").clone()
    }
}

impl rustls::KeyLog for RecordingKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        assert_eq!(
            client_random.len(),
            32,
            "the client random identifies the session"
        );
        assert!(!secret.is_empty());
        self.labels
            .lock()
            .expect("not poisoned")
            .push(label.to_owned());
    }
}

#[test]
fn key_log_receives_the_handshake_and_traffic_secrets_on_both_sides() {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let client_log = Arc::new(RecordingKeyLog::default());
    let server_log = Arc::new(RecordingKeyLog::default());
    let client_config = ClientConfig::new(client_tls.clone())
        .expect("the test tls config runs quic")
        .key_log(client_log.clone());
    let server_config = ServerConfig::new(server_tls.clone())
        .expect("the test tls config runs quic")
        .key_log(server_log.clone());
    // The builder clones the TLS configuration; the original is untouched.
    assert!(!client_tls.key_log.will_log("CLIENT_TRAFFIC_SECRET_0"));
    assert!(!server_tls.key_log.will_log("CLIENT_TRAFFIC_SECRET_0"));

    let mut pair = Pair::with_configs(
        1,
        link(),
        client_config,
        server_config,
        EndpointConfig::default(),
    );
    assert!(pair.connect(LIMIT), "the handshake completes");

    for (side, log) in [("client", &client_log), ("server", &server_log)] {
        let labels = log.labels();
        for expected in [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        ] {
            assert!(
                labels.iter().any(|l| l == expected),
                "{side} logged {labels:?}, missing {expected}"
            );
        }
    }
}
