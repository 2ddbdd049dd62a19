//! `tern demo`: both ends of a QUIC connection on loopback.

use std::{
    error::Error,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tern::{ConnectionStats, Endpoint, HandshakeInfo, tls};

use crate::version::QuicVersion;

const ALPN: &[u8] = b"tern-demo";
/// The size of each chunk written; a slice of one shared buffer, not a copy.
const CHUNK: usize = 64 * 1024;

/// Options of `tern demo`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Bytes to transfer from client to server.
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    bytes: u64,
    /// Print one JSON object instead of a report.
    #[arg(long)]
    json: bool,
    /// The QUIC version the client connects with: v1 (RFC 9000) or v2
    /// (RFC 9369); the server accepts both.
    #[arg(long, value_enum, value_name = "VERSION", default_value_t = QuicVersion::V1)]
    quic_version: QuicVersion,
}

#[expect(
    clippy::disallowed_methods,
    reason = "the demo measures wall time; it is not protocol code"
)]
fn wall_clock() -> Instant {
    Instant::now()
}

pub(crate) async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let server = Endpoint::new_with_runtime(
        crate::version::accepting_both(),
        Some(tls::server_config(
            vec![cert.cert.der().clone()],
            key,
            &[ALPN],
        )?),
        "127.0.0.1:0".parse()?,
        tern::default_runtime().ok_or("no async runtime runs")?,
    )?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let client = Endpoint::new_with_runtime(
        crate::version::offering_only(args.quic_version.version()),
        None,
        "127.0.0.1:0".parse()?,
        tern::default_runtime().ok_or("no async runtime runs")?,
    )?;
    let mut client_config = tls::client_config(roots, &[ALPN])?;
    client_config.version = args.quic_version.version();
    client.set_default_client_config(client_config);

    // The server reads one stream to its end and reports when it finished.
    let server_side = tokio::spawn({
        let server = server.clone();
        async move {
            let incoming = server.accept().await.ok_or("the server endpoint closed")?;
            let conn = incoming.accept()?.into_connection();
            let mut stream = conn.accept_uni().await?;
            let mut received = 0_u64;
            while let Some(chunk) = stream.read_chunk(usize::MAX).await? {
                received += chunk.len() as u64;
            }
            Ok::<_, Box<dyn Error + Send + Sync>>((conn, received, wall_clock()))
        }
    });

    let conn = client.connect(server.local_addr()?, "localhost")?.await?;
    let progress = progress_bar(args.bytes, args.json);
    let data = Bytes::from(vec![0x5a; CHUNK]);
    let start = wall_clock();
    let mut stream = conn.open_uni().await?;
    let mut sent = 0;
    while sent < args.bytes {
        let len = usize::try_from(args.bytes - sent)
            .unwrap_or(CHUNK)
            .min(CHUNK);
        stream.write_chunk(data.slice(..len)).await?;
        sent += len as u64;
        progress.set_position(sent);
    }
    stream.finish()?;
    let (server_conn, received, end) = server_side.await?.map_err(|e| e.to_string())?;
    progress.finish_and_clear();
    let seconds = end.saturating_duration_since(start).as_secs_f64().max(1e-9);
    if received != args.bytes {
        return Err(format!("the server received {received} of {} bytes", args.bytes).into());
    }

    // The server freed its TLS session right after the handshake; its
    // snapshot is read now, long after.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let client_info = conn.handshake_info().await?;
    let server_info = server_conn.handshake_info().await?;
    let (client_stats, server_stats) = (conn.stats(), server_conn.stats());
    let gbit_per_s = received as f64 * 8.0 / seconds / 1e9;
    if args.json {
        let output = json!({
            "bytes": received,
            "seconds": seconds,
            "gbit_per_s": gbit_per_s,
            "client": { "handshake_info": info_json(&client_info)?, "stats": stats_json(&client_stats) },
            "server": {
                "handshake_info": info_json(&server_info)?,
                "tls_state_retained": server_stats.tls_state_retained,
                "stats": stats_json(&server_stats),
            },
        });
        println!("{output}");
    } else {
        report(
            received,
            seconds,
            gbit_per_s,
            &client_info,
            &server_info,
            &client_stats,
            &server_stats,
        );
    }
    conn.close(tern::VarInt::from_u32(0), b"done");
    client.wait_idle().await;
    Ok(())
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec}")
    {
        bar.set_style(style);
    }
    bar
}

fn info_json(info: &Arc<HandshakeInfo>) -> Result<Value, serde_json::Error> {
    serde_json::to_value(info.as_ref())
}

fn stats_json(stats: &ConnectionStats) -> Value {
    json!({
        "rtt_us": u64::try_from(stats.rtt.as_micros()).unwrap_or(u64::MAX),
        "congestion_window": stats.congestion_window,
        "bytes_sent": stats.bytes_sent,
        "bytes_received": stats.bytes_received,
        "packets_sent": stats.packets_sent,
        "packets_received": stats.packets_received,
        "packets_lost": stats.packets_lost,
        "path_mtu": stats.path_mtu,
        "ecn_capable": stats.ecn_capable,
        "tls_state_retained": stats.tls_state_retained,
        "memory_bytes": stats.memory_bytes,
    })
}

fn report(
    bytes: u64,
    seconds: f64,
    gbit_per_s: f64,
    client: &HandshakeInfo,
    server: &HandshakeInfo,
    client_stats: &ConnectionStats,
    server_stats: &ConnectionStats,
) {
    println!("moved {bytes} bytes in {seconds:.3} s: {gbit_per_s:.2} Gbit/s over loopback");
    for (side, info, stats) in [
        ("client", client, client_stats),
        ("server", server, server_stats),
    ] {
        println!(
            "{side}: QUIC {}, {} {} ({}), group {}, alpn {}, handshake {:?}, rtt {:?}, peer certificates {}",
            crate::version::name(info.quic_version()),
            info.tls_version().as_str(),
            info.cipher_suite().map_or("?", |s| s.name),
            info.cipher_suite().map_or("?", |s| s.aead),
            info.key_exchange_group().unwrap_or("?"),
            info.alpn().map(String::from_utf8_lossy).unwrap_or_default(),
            info.handshake_duration(),
            info.rtt(),
            info.peer_certificates().len(),
        );
        println!(
            "        {} packets sent, {} lost, mtu {}, tls state retained: {}, \
             address validated by: {}",
            stats.packets_sent,
            stats.packets_lost,
            stats.path_mtu,
            stats.tls_state_retained,
            match info.address_validation() {
                tern::AddressValidation::Retry => "a Retry",
                tern::AddressValidation::Token => "a token from an earlier connection",
                _ => "the handshake",
            },
        );
    }
    println!("the server's snapshot above was read after it freed its TLS session");
}
