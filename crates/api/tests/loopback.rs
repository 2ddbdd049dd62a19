//! The public API over real UDP sockets on loopback (127.0.0.1).

use std::time::Duration;

use bytes::Bytes;
use tern::{ConnectionError, Endpoint, VarInt, tls};

const ALPN: &[u8] = b"test";

struct Pair {
    server: Endpoint,
    client: Endpoint,
}

fn cert() -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    (cert.cert.der().clone(), key)
}

fn pair() -> Pair {
    let (cert, key) = cert();
    let server_config =
        tls::server_config(vec![cert.clone()], key, &[ALPN]).expect("server config");
    let server =
        Endpoint::server(server_config, "127.0.0.1:0".parse().expect("addr")).expect("server");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let client = Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client");
    client.set_default_client_config(tls::client_config(roots, &[ALPN]).expect("client config"));
    Pair { server, client }
}

async fn timeout<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("finished in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_over_many_streams() {
    let pair = pair();
    let server = pair.server.clone();
    tokio::spawn(async move {
        let conn = server.accept().await.expect("incoming");
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            tokio::spawn(async move {
                let data = recv.read_to_end(1 << 20).await.expect("read");
                send.write_all(&data).await.expect("write");
                send.finish().expect("finish");
            });
        }
    });
    let conn = timeout(
        pair.client
            .connect(pair.server.local_addr().unwrap(), "localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50_u32 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            let (mut send, mut recv) = conn.open_bi().await.expect("open");
            let message = format!("message {i}").repeat(usize::try_from(i).unwrap() + 1);
            send.write_all(message.as_bytes()).await.expect("write");
            send.finish().expect("finish");
            let echoed = recv.read_to_end(1 << 20).await.expect("read");
            assert_eq!(echoed, message.as_bytes());
        }));
    }
    for task in tasks {
        timeout(task).await.expect("echo task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_handshake_info_long_after_the_handshake_equals_the_clients() {
    let pair = pair();
    let conn = timeout(
        pair.client
            .connect(pair.server.local_addr().unwrap(), "localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    let incoming = timeout(pair.server.accept()).await.expect("incoming");
    // Let the server confirm the handshake and free its TLS session.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !incoming.stats().tls_state_retained,
        "the server freed its tls state"
    );
    let server = timeout(incoming.handshake_info())
        .await
        .expect("server snapshot");
    let client = timeout(conn.handshake_info())
        .await
        .expect("client snapshot");
    assert_eq!(server.quic_version(), client.quic_version());
    assert_eq!(server.cipher_suite(), client.cipher_suite());
    assert_eq!(server.key_exchange_group(), client.key_exchange_group());
    assert_eq!(server.alpn(), Some(ALPN));
    assert_eq!(client.alpn(), Some(ALPN));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_fails_connect_and_handshake_info() {
    let pair = pair();
    // A client that trusts a different certificate.
    let (other, _) = cert();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(other).unwrap();
    let config = tls::client_config(roots, &[ALPN]).unwrap();
    let connecting = pair
        .client
        .connect_with(&config, pair.server.local_addr().unwrap(), "localhost")
        .unwrap();
    let conn = connecting.into_connection();
    let error = timeout(conn.handshake_info())
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
        .connect_with(&config, pair.server.local_addr().unwrap(), "localhost")
        .unwrap();
    assert!(timeout(connecting).await.is_err(), "connect fails too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_and_close_codes_reach_the_peer() {
    let pair = pair();
    let conn = timeout(
        pair.client
            .connect(pair.server.local_addr().unwrap(), "localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    let incoming = timeout(pair.server.accept()).await.expect("incoming");
    conn.send_datagram(Bytes::from_static(b"hello")).unwrap();
    assert_eq!(
        timeout(incoming.read_datagram()).await.unwrap(),
        Bytes::from_static(b"hello")
    );
    conn.close(VarInt::from_u32(7), b"bye");
    match timeout(incoming.closed()).await {
        ConnectionError::Application { code, reason, .. } => {
            assert_eq!(code, VarInt::from_u32(7));
            assert_eq!(reason, Bytes::from_static(b"bye"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_transfer_arrives_intact() {
    let pair = pair();
    let conn = timeout(
        pair.client
            .connect(pair.server.local_addr().unwrap(), "localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    let incoming = timeout(pair.server.accept()).await.expect("incoming");
    let total: usize = 64 * 1024 * 1024;
    let reader = tokio::spawn(async move {
        let mut recv = incoming.accept_uni().await.unwrap();
        let mut hasher = std::hash::DefaultHasher::new();
        let mut received = 0;
        while let Some(chunk) = recv.read_chunk(usize::MAX).await.unwrap() {
            std::hash::Hasher::write(&mut hasher, &chunk);
            received += chunk.len();
        }
        (received, std::hash::Hasher::finish(&hasher))
    });
    let mut send = conn.open_uni().await.unwrap();
    let pattern: Bytes = (0..1024 * 1024)
        .map(|i: u32| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let mut hasher = std::hash::DefaultHasher::new();
    let mut sent = 0;
    while sent < total {
        send.write_chunk(pattern.clone()).await.unwrap();
        std::hash::Hasher::write(&mut hasher, &pattern);
        sent += pattern.len();
    }
    send.finish().unwrap();
    let (received, digest) = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received, total);
    assert_eq!(digest, std::hash::Hasher::finish(&hasher));
}
