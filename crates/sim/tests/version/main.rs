//! QUIC version 2 (RFC 9369) between two `tern-proto` endpoints: its
//! Initial salt, key labels and packet types, end to end.

use std::time::Duration;

use tern_proto::{
    Side,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    packet::Version,
};
use tern_sim::{LinkConfig, pair::Pair};

// A client that starts on v2 with a server that supports it: both
// snapshots say v2.
#[test]
fn a_v2_connection_completes_and_both_snapshots_say_v2() {
    let endpoint = EndpointConfig {
        supported_versions: vec![Version::V2, Version::V1],
        ..EndpointConfig::default()
    };
    let (client_tls, server_tls) = tern_sim::certs::test_configs(&[b"hq-interop"]);
    let mut client = ClientConfig::new(client_tls).expect("client");
    client.version = Version::V2;
    let server = ServerConfig::new(server_tls).expect("server");
    let mut pair = Pair::with_configs(
        1,
        LinkConfig::default().delay(Duration::from_millis(10)),
        client,
        server,
        endpoint,
    );
    assert!(
        pair.connect(Duration::from_secs(5)),
        "the v2 handshake completes"
    );
    let view = pair.view();
    for side in [Side::Client, Side::Server] {
        let info = view
            .connection(side)
            .expect("conn")
            .handshake_info()
            .expect("info");
        assert_eq!(info.quic_version(), tern_proto::QUIC_V2, "{side:?}");
    }
}
