//! Sends a file (or generated data) over one unidirectional stream with
//! tokio's `AsyncWrite`, and reads it back with zero-copy chunks.
//!
//! `cargo run -p tern --example file_transfer -- [PATH]`

use std::error::Error;

use tern::{Endpoint, tls};
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let data: Vec<u8> = match std::env::args().nth(1) {
        Some(path) => std::fs::read(path)?,
        None => (0..8 * 1024 * 1024_u32)
            .map(|i| u8::try_from(i % 253).unwrap_or(0))
            .collect(),
    };
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let server = Endpoint::server(
        tls::server_config(vec![cert.cert.der().clone()], key, &[b"file"])?,
        "127.0.0.1:0".parse()?,
    )?;
    let receiver = tokio::spawn({
        let server = server.clone();
        async move {
            let incoming = server.accept().await.ok_or("no connection")?;
            let conn = incoming.accept()?.await?;
            let mut stream = conn.accept_uni().await?;
            let mut received = Vec::new();
            while let Some(chunk) = stream.read_chunk(usize::MAX).await? {
                received.extend_from_slice(&chunk);
            }
            Ok::<_, Box<dyn Error + Send + Sync>>(received)
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let client = Endpoint::client("127.0.0.1:0".parse()?)?;
    client.set_default_client_config(tls::client_config(roots, &[b"file"])?);
    let conn = client.connect(server.local_addr()?, "localhost")?.await?;
    let mut stream = conn.open_uni().await?;
    stream.write_all(&data).await?;
    stream.shutdown().await?;
    let received = receiver.await?.map_err(|e| e.to_string())?;
    println!(
        "sent {} bytes, received {} bytes, intact: {}",
        data.len(),
        received.len(),
        received == data
    );
    Ok(())
}
