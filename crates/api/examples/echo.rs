//! An echo server and a client in one process, on loopback.
//!
//! `cargo run -p tern --example echo`

use std::error::Error;

use tern::{Endpoint, tls};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let server = Endpoint::server(
        tls::server_config(vec![cert.cert.der().clone()], key, &[b"echo"])?,
        "127.0.0.1:0".parse()?,
    )?;

    // The server echoes every bidirectional stream back.
    let echo = server.clone();
    tokio::spawn(async move {
        while let Some(incoming) = echo.accept().await {
            let Ok(conn) = incoming.accept().map(tern::Connecting::into_connection) else {
                continue;
            };
            tokio::spawn(async move {
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    let data = recv.read_to_end(64 * 1024).await?;
                    send.write_all(&data).await?;
                    send.finish()?;
                }
                Ok::<_, Box<dyn Error + Send + Sync>>(())
            });
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let client = Endpoint::client("127.0.0.1:0".parse()?)?;
    client.set_default_client_config(tls::client_config(roots, &[b"echo"])?);
    let conn = client.connect(server.local_addr()?, "localhost")?.await?;
    for word in ["hello", "quic", "world"] {
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(word.as_bytes()).await?;
        send.finish()?;
        let echoed = recv.read_to_end(64 * 1024).await?;
        println!(
            "sent {word:?}, got back {:?}",
            String::from_utf8_lossy(&echoed)
        );
    }
    let info = conn.handshake_info().await?;
    println!(
        "{} with {}",
        info.tls_version().as_str(),
        info.cipher_suite().map_or("?", |s| s.name)
    );
    conn.close(tern::VarInt::from_u32(0), b"done");
    client.wait_idle().await;
    Ok(())
}
