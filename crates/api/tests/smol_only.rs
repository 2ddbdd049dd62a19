//! `tern` built without tokio (`--no-default-features --features
//! runtime-smol,aws-lc-rs`): the default runtime is smol's, and streams
//! speak futures' `AsyncRead` / `AsyncWrite`. CI builds and runs this
//! configuration; in the default build the file is empty.
#![cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]

use futures::{AsyncReadExt, AsyncWriteExt};
use tern::{Endpoint, SmolRuntime, tls};

#[test]
fn an_echo_runs_on_smol_without_tokio() {
    smol::block_on(async {
        // Outside any tokio runtime the default runtime is smol's.
        assert!(tern::default_runtime().is_some());
        let _named = SmolRuntime::new();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = tls::server_config(vec![cert.cert.der().clone()], key, &[b"echo"]).unwrap();
        let server = Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
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
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        client.set_default_client_config(tls::client_config(roots, &[b"echo"]).unwrap());
        let conn = client
            .connect(server.local_addr().unwrap(), "localhost")
            .unwrap()
            .await
            .unwrap();
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
