//! A server driven by each connection's event stream: it logs the
//! Connected event with the handshake snapshot, datagrams, streams and the
//! close, and answers datagrams.
//!
//! `cargo run -p tern --example events_server`

use std::error::Error;

use futures::StreamExt;
use tern::{Bytes, Endpoint, Event, proto::StreamEvent, tls};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let server = Endpoint::server(
        tls::server_config(vec![cert.cert.der().clone()], key, &[b"events"])?,
        "127.0.0.1:0".parse()?,
    )?;
    let server_task = tokio::spawn({
        let server = server.clone();
        async move {
            let incoming = server.accept().await.ok_or("no connection")?;
            let conn = incoming.accept()?.into_connection();
            let mut events = conn.events();
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    // This subscriber read too slowly and missed some.
                    Err(lagged) => {
                        println!("server: {lagged}");
                        continue;
                    }
                };
                match event {
                    Event::Connected(info) => println!(
                        "server: connected, alpn {:?}",
                        info.alpn().map(String::from_utf8_lossy)
                    ),
                    Event::DatagramReceived => {
                        while let Ok(datagram) = tokio::time::timeout(
                            std::time::Duration::from_millis(1),
                            conn.read_datagram(),
                        )
                        .await
                        {
                            let datagram = datagram?;
                            println!("server: datagram {:?}", String::from_utf8_lossy(&datagram));
                            conn.send_datagram(Bytes::from(format!("ack {}", datagram.len())))?;
                        }
                    }
                    Event::Stream(StreamEvent::Opened { dir }) => {
                        println!("server: the client opened a {dir:?} stream")
                    }
                    Event::Closed(reason) => {
                        println!("server: closed: {reason}");
                        break;
                    }
                    other => println!("server: {other:?}"),
                }
            }
            Ok::<_, Box<dyn Error + Send + Sync>>(())
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let client = Endpoint::client("127.0.0.1:0".parse()?)?;
    client.set_default_client_config(tls::client_config(roots, &[b"events"])?);
    let conn = client.connect(server.local_addr()?, "localhost")?.await?;
    conn.send_datagram(Bytes::from_static(b"hello"))?;
    println!(
        "client: {:?}",
        String::from_utf8_lossy(&conn.read_datagram().await?)
    );
    let mut stream = conn.open_uni().await?;
    stream.write_all(b"bye").await?;
    stream.finish()?;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    conn.close(tern::VarInt::from_u32(0), b"done");
    server_task.await?.map_err(|e| e.to_string())?;
    Ok(())
}
