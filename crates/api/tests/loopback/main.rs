#![expect(
    clippy::unwrap_used,
    reason = "the test bodies are async fns run by a macro, outside clippy's #[test] allowance"
)]
//! The public API over real UDP sockets on loopback (127.0.0.1), run on
//! both runtimes: every test is an async function taking the runtime, and
//! a macro makes a tokio test and a smol test of it.

mod connection_api;
mod driver_lost;
mod events;
mod incoming;
mod lifecycle;
mod migrate;
mod qlog;
mod rebind;
mod refusals;
mod resumption;
mod scale;
mod shards;
mod streams;
mod support;

use std::time::Duration;

use bytes::Bytes;
use tern::{ConnectionError, TransportConfig, VarInt};

use crate::support::{Rt, pair, pair_with, timeout};

/// Makes `<name>_on_tokio` and `<name>_on_smol` tests of an async test fn.
#[macro_export]
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod tokio_runtime {
            $(#[test] fn $name() { $crate::support::run_tokio(super::$name); })*
        }
        mod smol_runtime {
            $(#[test] fn $name() { $crate::support::run_smol(super::$name); })*
        }
    };
}

on_both_runtimes!(
    server_handshake_info_long_after_the_handshake_equals_the_clients,
    a_bad_certificate_fails_connect_and_handshake_info,
    datagrams_and_close_codes_reach_the_peer,
    an_idle_connection_times_out,
    dropping_every_handle_closes_the_connection,
);

async fn server_handshake_info_long_after_the_handshake_equals_the_clients(rt: Rt) {
    let pair = pair(&rt);
    let (conn, incoming) = support::connected(&rt, &pair).await;
    // Let the server confirm the handshake and free its TLS session.
    rt.sleep(Duration::from_millis(300)).await;
    assert!(
        !incoming.stats().tls_state_retained,
        "the server freed its tls state"
    );
    let server = timeout(&rt, incoming.handshake_info())
        .await
        .expect("server snapshot");
    let client = timeout(&rt, conn.handshake_info())
        .await
        .expect("client snapshot");
    assert_eq!(server.quic_version(), client.quic_version());
    assert_eq!(server.cipher_suite(), client.cipher_suite());
    assert_eq!(server.key_exchange_group(), client.key_exchange_group());
    // The default provider's first choice: the post-quantum hybrid on
    // aws-lc-rs, X25519 on ring.
    let expected = if cfg!(feature = "aws-lc-rs") {
        "X25519MLKEM768"
    } else {
        "X25519"
    };
    assert_eq!(client.key_exchange_group(), Some(expected));
    assert_eq!(server.alpn(), Some(support::ALPN));
    assert_eq!(client.alpn(), Some(support::ALPN));
    // Every clone hands out the same Arc.
    assert!(std::sync::Arc::ptr_eq(
        &server,
        &incoming.clone().handshake_info().await.unwrap()
    ));
    assert!(std::sync::Arc::ptr_eq(
        &server,
        &incoming.try_handshake_info().unwrap()
    ));
}

async fn a_bad_certificate_fails_connect_and_handshake_info(rt: Rt) {
    let pair = pair(&rt);
    support::accept_every(&rt, &pair.server);
    let config = support::client_trusting_another_certificate();
    let addr = pair.server.local_addr().unwrap();
    let conn = pair
        .client
        .connect_with(&config, addr, "localhost")
        .unwrap()
        .into_connection();
    let error = timeout(&rt, conn.handshake_info())
        .await
        .expect_err("the handshake fails");
    let ConnectionError::Transport { error, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(
        error.code.crypto_alert().is_some(),
        "a TLS alert: {error:?}"
    );
    let connecting = pair
        .client
        .connect_with(&config, addr, "localhost")
        .unwrap();
    assert!(timeout(&rt, connecting).await.is_err(), "connect fails too");
}

async fn datagrams_and_close_codes_reach_the_peer(rt: Rt) {
    let pair = pair(&rt);
    let (conn, incoming) = support::connected(&rt, &pair).await;
    conn.send_datagram(Bytes::from_static(b"hello")).unwrap();
    assert_eq!(
        timeout(&rt, incoming.read_datagram()).await.unwrap(),
        Bytes::from_static(b"hello")
    );
    conn.close(VarInt::from_u32(7), b"bye");
    match timeout(&rt, incoming.closed()).await {
        ConnectionError::Application { code, reason, .. } => {
            assert_eq!(code, VarInt::from_u32(7));
            assert_eq!(reason, Bytes::from_static(b"bye"));
        }
        other => panic!("{other:?}"),
    }
}

async fn an_idle_connection_times_out(rt: Rt) {
    let transport = TransportConfig {
        max_idle_timeout: Some(Duration::from_millis(400)),
        ..TransportConfig::default()
    };
    let pair = pair_with(&rt, transport);
    support::accept_every(&rt, &pair.server);
    let conn = timeout(
        &rt,
        pair.client
            .connect(pair.server.local_addr().unwrap(), "localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    match timeout(&rt, conn.closed()).await {
        ConnectionError::TimedOut(idle) => assert_eq!(idle, Duration::from_millis(400)),
        other => panic!("{other:?}"),
    }
}

async fn dropping_every_handle_closes_the_connection(rt: Rt) {
    let pair = pair(&rt);
    let (conn, incoming) = support::connected(&rt, &pair).await;
    let (send, recv) = timeout(&rt, conn.open_bi()).await.unwrap();
    drop(conn);
    drop(recv);
    rt.sleep(Duration::from_millis(100)).await;
    assert!(
        incoming.try_handshake_info().is_some(),
        "a stream handle still holds the connection"
    );
    drop(send);
    match timeout(&rt, incoming.closed()).await {
        ConnectionError::Application { code, .. } => assert_eq!(code, VarInt::from_u32(0)),
        other => panic!("{other:?}"),
    }
}
