//! The server role: HTTP/0.9 files from the www directory.

use std::{net::SocketAddr, path::PathBuf};

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tern::{Connection, Endpoint, VarInt};
use tokio::io::AsyncReadExt;

use crate::{ALPN, Options};

pub(crate) async fn run(
    www: PathBuf,
    certs: PathBuf,
    port: u16,
    options: &Options,
) -> Result<(), String> {
    let chain = CertificateDer::pem_file_iter(certs.join("cert.pem"))
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("cannot read {}: {e}", certs.join("cert.pem").display()))?;
    let key = PrivateKeyDer::from_pem_file(certs.join("priv.key"))
        .map_err(|e| format!("cannot read {}: {e}", certs.join("priv.key").display()))?;
    let config = tern::tls::server_config_with(options.provider(), chain, key, &[ALPN])
        .map_err(|e| e.to_string())?;
    let addr = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 0], port));
    let runtime = tern::default_runtime().ok_or("no async runtime runs")?;
    let endpoint = Endpoint::new_with_runtime(
        options.endpoint_config(),
        Some(options.server_config(config)?),
        addr,
        runtime,
    )
    .map_err(|e| e.to_string())?;
    println!(
        "listening on {}",
        endpoint.local_addr().map_err(|e| e.to_string())?
    );
    while let Some(incoming) = endpoint.accept().await {
        let Ok(conn) = incoming.accept().map(tern::Connecting::into_connection) else {
            continue;
        };
        tokio::spawn(serve(conn, www.clone()));
    }
    Ok(())
}

async fn serve(conn: Connection, www: PathBuf) {
    tokio::spawn(log_handshake(conn.clone()));
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let www = www.clone();
        tokio::spawn(async move {
            let Ok(request) = recv.read_to_end(4096).await else {
                return;
            };
            let request = String::from_utf8_lossy(&request);
            let path = request
                .trim()
                .strip_prefix("GET ")
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned();
            if path.split('/').any(|part| part == "..") {
                let _ = send.reset(VarInt::from_u32(0x12));
                return;
            }
            let Ok(mut file) = tokio::fs::File::open(www.join(&path)).await else {
                let _ = send.reset(VarInt::from_u32(0x10));
                return;
            };
            let mut buf = vec![0; 64 * 1024];
            loop {
                match file.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        if send
                            .write_chunk(Bytes::copy_from_slice(&buf[..n]))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(_) => {
                        let _ = send.reset(VarInt::from_u32(0x13));
                        return;
                    }
                }
            }
            let _ = send.finish();
        });
    }
}

/// Logs, once the handshake completed, the QUIC version, whether the client
/// resumed a TLS session and sent 0-RTT, for the run's log.
async fn log_handshake(conn: Connection) {
    let remote = conn
        .remote_address()
        .map_or_else(|| "?".to_owned(), |addr| addr.to_string());
    if let Ok(info) = conn.handshake_info().await {
        eprintln!(
            "handshake with {remote}: QUIC version {:#x}, {}{}{}",
            info.quic_version(),
            info.cipher_suite()
                .map_or("unknown suite", |suite| suite.name),
            if info.resumed() {
                ", resumed a TLS session"
            } else {
                ""
            },
            match info.early_data() {
                tern::EarlyData::Accepted => ", 0-RTT accepted",
                tern::EarlyData::Rejected => ", 0-RTT rejected",
                _ => "",
            },
        );
    }
}
