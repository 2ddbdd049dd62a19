//! One rustls configuration per server configuration, its session store
//! wrapped only when it accepts 0-RTT.

use std::sync::Arc;

use super::ServerTls;
use crate::{
    config::ServerConfig,
    endpoint::tests::{Net, SERVER, server_config_with_early_data},
    packet::Version,
};

const ONE: &[Version] = &[Version::V1];
const BOTH: &[Version] = &[Version::V2, Version::V1];

fn server(early_data: bool) -> Arc<ServerConfig> {
    server_config_with_early_data(early_data)
}

fn wraps_its_store(tls: &rustls::ServerConfig) -> bool {
    format!("{:?}", tls.session_storage).starts_with("ZeroRttSessionStore")
}

#[test]
fn a_server_accepting_zero_rtt_gets_one_derived_config_with_its_store_wrapped() {
    let server = server(true);
    let mut cache = ServerTls::default();
    let first = cache.for_server(&server, Version::V1, ONE);
    assert!(
        !Arc::ptr_eq(&first, &server.tls),
        "a clone of the application's"
    );
    assert!(wraps_its_store(&first));
    assert!(
        !wraps_its_store(&server.tls),
        "the application's is untouched"
    );
    assert_eq!(first.alpn_protocols, server.tls.alpn_protocols);
    let second = cache.for_server(&server, Version::V1, ONE);
    assert!(
        Arc::ptr_eq(&first, &second),
        "derived once, not per handshake"
    );
}

#[test]
fn a_server_refusing_zero_rtt_runs_on_its_own_config() {
    let server = server(false);
    let mut cache = ServerTls::default();
    assert!(Arc::ptr_eq(
        &cache.for_server(&server, Version::V1, ONE),
        &server.tls
    ));
    assert!(cache.cached.is_none(), "nothing held for it");
}

#[test]
fn another_server_config_derives_again_and_a_replaced_one_is_let_go() {
    let (a, b) = (server(true), server(true));
    let mut cache = ServerTls::default();
    let from_a = cache.for_server(&a, Version::V1, ONE);
    let from_b = cache.for_server(&b, Version::V1, ONE);
    assert!(!Arc::ptr_eq(&from_a, &from_b));
    assert!(Arc::ptr_eq(
        &cache.for_server(&b, Version::V1, ONE),
        &from_b
    ));
    cache.retain(Some(&b));
    assert!(
        Arc::ptr_eq(&cache.for_server(&b, Version::V1, ONE), &from_b),
        "kept for b"
    );
    cache.retain(Some(&a));
    assert!(cache.cached.is_none(), "b was replaced: not kept alive");
    assert_eq!(Arc::strong_count(&b), 1);
}

#[test]
fn the_endpoint_accepts_with_the_derived_config() {
    let mut net = Net::new(7);
    let replacement = server(true);
    net.server.set_server_config(Some(replacement.clone()));
    assert!(net.server.server_tls.cached.is_none());
    net.connect(SERVER);
    assert!(net.run_until(std::time::Duration::from_secs(1), |net| {
        net.server.connection_count() == 1
    }));
    let (seen, derived) = net.server.server_tls.cached.as_ref().expect("derived");
    assert!(Arc::ptr_eq(seen, &replacement));
    assert_eq!(derived.len(), 1, "one version: one configuration");
    assert!(wraps_its_store(&derived[0].tls));
}

// RFC 9369 §5 (test): a server of two versions binds its tickets to each,
// 0-RTT or not: one wrapped configuration per version, derived once; one
// for connections moved to another version refuses early data.
#[test]
fn a_server_of_two_versions_gets_a_config_per_version() {
    for early_data in [true, false] {
        let server = server(early_data);
        let mut cache = ServerTls::default();
        let v1 = cache.for_server(&server, Version::V1, BOTH);
        let v2 = cache.for_server(&server, Version::V2, BOTH);
        assert!(wraps_its_store(&v1) && wraps_its_store(&v2));
        assert!(!Arc::ptr_eq(&v1, &v2));
        assert!(Arc::ptr_eq(
            &v2,
            &cache.for_server(&server, Version::V2, BOTH)
        ));
        let moved = cache.for_switch(&server, Version::V2);
        assert_eq!(moved.max_early_data_size, 0, "no 0-RTT after a move");
        assert_eq!(v2.max_early_data_size, server.tls.max_early_data_size);
        assert!(Arc::ptr_eq(&moved, &cache.for_switch(&server, Version::V2)));
    }
}
