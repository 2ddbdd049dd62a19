//! One rustls configuration per server configuration, its session store
//! wrapped only when it accepts 0-RTT.

use std::sync::Arc;

use super::ServerTls;
use crate::{
    config::ServerConfig,
    endpoint::tests::{Net, SERVER, server_config_with_early_data},
};

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
    let first = cache.for_server(&server);
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
    let second = cache.for_server(&server);
    assert!(
        Arc::ptr_eq(&first, &second),
        "derived once, not per handshake"
    );
}

#[test]
fn a_server_refusing_zero_rtt_runs_on_its_own_config() {
    let server = server(false);
    let mut cache = ServerTls::default();
    assert!(Arc::ptr_eq(&cache.for_server(&server), &server.tls));
    assert!(cache.cached.is_none(), "nothing held for it");
}

#[test]
fn another_server_config_derives_again_and_a_replaced_one_is_let_go() {
    let (a, b) = (server(true), server(true));
    let mut cache = ServerTls::default();
    let from_a = cache.for_server(&a);
    let from_b = cache.for_server(&b);
    assert!(!Arc::ptr_eq(&from_a, &from_b));
    assert!(Arc::ptr_eq(&cache.for_server(&b), &from_b));
    cache.retain(Some(&b));
    assert!(Arc::ptr_eq(&cache.for_server(&b), &from_b), "kept for b");
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
    let (seen, derived) = net.server.server_tls.cached.clone().expect("derived");
    assert!(Arc::ptr_eq(&seen, &replacement));
    assert!(wraps_its_store(&derived));
}
