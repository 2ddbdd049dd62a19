//! Two `tern-proto` endpoints complete QUIC handshakes over the simulated
//! network, and both sides capture the handshake information.

use std::time::Duration;

use tern_sim::{LinkConfig, quic::HandshakeRun};

fn perfect() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(20))
}

#[test]
fn handshake_completes_on_a_perfect_link() {
    let report = HandshakeRun::new(1, perfect()).run();
    assert!(report.completed, "{report:#?}");
    assert_eq!(report.amplification_violation, None);
    assert_eq!(report.server_tls_retained, Some(false));
}
