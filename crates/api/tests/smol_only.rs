//! `tern` built without tokio (`--no-default-features --features
//! runtime-smol,aws-lc-rs`): the default runtime is smol's, and streams
//! speak futures' `AsyncRead` / `AsyncWrite`, and a client endpoint moves
//! to a new socket. CI builds and runs this configuration; in the default
//! build the file is empty.
#![cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]

use std::{net::UdpSocket, sync::Arc, time::Duration};

use futures::{AsyncReadExt, AsyncWriteExt};
use tern::{Connection, Endpoint, SmolRuntime, tls};

#[test]
fn an_echo_runs_on_smol_without_tokio() {
    smol::block_on(async {
        // Outside any tokio runtime the default runtime is smol's.
        assert!(tern::default_runtime().is_some());
        let _named = SmolRuntime::new();
        let (server, cert) = echo_server();
        let accepting = server.clone();
        let echo = smol::spawn(async move {
            let incoming = accepting.accept().await.unwrap();
            let conn = incoming.accept().unwrap().await.unwrap();
            let (mut send, mut recv) = conn.accept_bi().await.unwrap();
            let mut request = Vec::new();
            AsyncReadExt::read_to_end(&mut recv, &mut request)
                .await
                .unwrap();
            send.write_all(&request).await.unwrap();
            send.close().await.unwrap();
            conn
        });
        let (_client, conn) = connect(&server, cert).await;
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(b"no tokio here").await.unwrap();
        send.close().await.unwrap();
        let mut answer = Vec::new();
        AsyncReadExt::read_to_end(&mut recv, &mut answer)
            .await
            .unwrap();
        assert_eq!(answer, b"no tokio here");
        let served = echo.await;
        assert_eq!(
            served.handshake_info().await.unwrap().alpn(),
            Some(&b"echo"[..])
        );
    });
}

#[test]
fn a_client_rebinds_its_socket_on_smol_without_tokio() {
    smol::block_on(async {
        let (server, cert) = echo_server();
        let accepting = server.clone();
        let served = smol::spawn(async move {
            let incoming = accepting.accept().await.unwrap();
            let conn = incoming.accept().unwrap().await.unwrap();
            // Echo streams until the connection ends.
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let mut request = Vec::new();
                AsyncReadExt::read_to_end(&mut recv, &mut request)
                    .await
                    .unwrap();
                send.write_all(&request).await.unwrap();
                send.close().await.unwrap();
                if request == b"after" {
                    return conn;
                }
            }
            panic!("the connection ended before the second echo");
        });
        let (client, conn) = connect(&server, cert).await;
        let info = conn.handshake_info().await.unwrap();
        echo(&conn, b"before").await;
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let new = socket.local_addr().unwrap();
        client.rebind(socket).unwrap();
        assert_eq!(client.local_addr().unwrap(), new);
        echo(&conn, b"after").await;
        let served = smol::future::or(served, async {
            smol::Timer::after(Duration::from_secs(60)).await;
            panic!("no second echo after 60 s");
        })
        .await;
        // The answer came from the new socket, so the server moved there.
        assert_eq!(served.remote_address(), Some(new));
        assert!(served.stats().migrations >= 1);
        assert!(Arc::ptr_eq(&info, &conn.handshake_info().await.unwrap()));
    });
}

/// A server endpoint on loopback with a fresh certificate for `localhost`,
/// and that certificate.
fn echo_server() -> (Endpoint, rustls::pki_types::CertificateDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let der = cert.cert.der().clone();
    let config = tls::server_config(vec![der.clone()], key, &[b"echo"]).unwrap();
    let server = Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    (server, der)
}

/// A client endpoint that trusts `cert`, and its connection to `server`.
async fn connect(
    server: &Endpoint,
    cert: rustls::pki_types::CertificateDer<'static>,
) -> (Endpoint, Connection) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(tls::client_config(roots, &[b"echo"]).unwrap());
    let conn = client
        .connect(server.local_addr().unwrap(), "localhost")
        .unwrap()
        .await
        .unwrap();
    (client, conn)
}

/// Sends `message` on a new stream and checks that it comes back.
async fn echo(conn: &Connection, message: &[u8]) {
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    send.write_all(message).await.expect("write");
    send.close().await.expect("finish");
    let mut answer = Vec::new();
    AsyncReadExt::read_to_end(&mut recv, &mut answer)
        .await
        .expect("read");
    assert_eq!(answer, message);
}
