//! The client role: fetch every URL of REQUESTS. By default all of them go
//! over one connection, each on its own stream, in parallel; under the
//! `multiconnect` test case each URL gets a connection of its own, one
//! after the other; under `resumption` the first URL goes over a first
//! connection and the others over a second one, which resumes the first's
//! TLS session with a ticket the server sent on the first; under `zerortt`
//! the second connection sends its requests in 0-RTT packets, before its
//! handshake completes; under `keyupdate` the client starts a 1-RTT key
//! update once the first bytes of a response arrive, early in the transfer;
//! under `v2` it starts on QUIC v1, offers v2, and fails unless the
//! connection ended on v2.

use std::{
    net::{SocketAddr, ToSocketAddrs},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tern::{ClientConfig, Connection, EarlyData, Endpoint, VarInt, tls};

use crate::{ALPN, Connections, Options};

pub(crate) async fn run(
    requests: &str,
    downloads: PathBuf,
    options: &Options,
) -> Result<(), String> {
    let urls: Vec<&str> = requests.split_whitespace().collect();
    let Some(first) = urls.first() else {
        return Err("REQUESTS is empty".into());
    };
    let (authority, _) = split(first)?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_matches(|c| c == '[' || c == ']');
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to nothing"))?;
    let bind = if addr.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let runtime = tern::default_runtime().ok_or("no async runtime runs")?;
    let endpoint = Endpoint::new_with_runtime(
        options.endpoint_config(),
        None,
        bind.parse().map_err(|e| format!("{e}"))?,
        runtime,
    )
    .map_err(|e| e.to_string())?;
    // The runner's certificates are self-signed for the test network.
    let tls = options.client_config(
        tls::dangerous_insecure_client_config_with(options.provider(), &[ALPN])
            .map_err(|e| e.to_string())?,
    )?;
    match options.connections {
        Connections::PerRequest => {
            for url in urls {
                let conn = connect(&endpoint, &tls, addr, host).await?;
                fetch_all(&conn, &[url], &downloads).await?;
                // The closed connection drains in the background while the
                // next handshake starts; `wait_idle` below waits for them
                // all.
                conn.close(VarInt::from_u32(0), b"");
            }
        }
        Connections::One if options.key_update => {
            let conn = connect(&endpoint, &tls, addr, host).await?;
            let updated = Arc::new(AtomicBool::new(false));
            fetch_each(&conn, &urls, &downloads, Some(&updated)).await?;
            log_key_update(&conn, &updated)?;
            conn.close(VarInt::from_u32(0), b"");
        }
        Connections::One => {
            let conn = connect(&endpoint, &tls, addr, host).await?;
            fetch_all(&conn, &urls, &downloads).await?;
            if options.quic_v2 {
                ended_on_v2(&conn)?;
            }
            conn.close(VarInt::from_u32(0), b"");
        }
        Connections::Resumed | Connections::ZeroRtt => {
            // The client configuration keeps the tickets the first
            // connection receives (RFC 8446 §4.6.1), and the second, made
            // with the same configuration, offers one (RFC 8446 §2.2).
            let conn = connect(&endpoint, &tls, addr, host).await?;
            fetch_all(&conn, &urls[..1], &downloads).await?;
            conn.close(VarInt::from_u32(0), b"");
            if options.connections == Connections::ZeroRtt {
                let conn = connect_0rtt(&endpoint, &tls, addr, host)?;
                fetch_all(&conn, &urls[1..], &downloads).await?;
                log_handshake(&conn, addr).await;
                conn.close(VarInt::from_u32(0), b"");
            } else {
                let conn = connect(&endpoint, &tls, addr, host).await?;
                fetch_all(&conn, &urls[1..], &downloads).await?;
                conn.close(VarInt::from_u32(0), b"");
            }
        }
    }
    endpoint.wait_idle().await;
    Ok(())
}

async fn connect(
    endpoint: &Endpoint,
    tls: &ClientConfig,
    addr: SocketAddr,
    host: &str,
) -> Result<Connection, String> {
    let conn = endpoint
        .connect_with(tls, addr, host)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| format!("handshake with {addr} failed: {e}"))?;
    log_handshake(&conn, addr).await;
    Ok(conn)
}

/// Starts a connection that sends in 0-RTT (RFC 9001 §4.6.1) when a ticket
/// allows it: the requests opened on it before its handshake completes go
/// out in 0-RTT packets. Without such a ticket the requests wait for the
/// handshake.
fn connect_0rtt(
    endpoint: &Endpoint,
    tls: &ClientConfig,
    addr: SocketAddr,
    host: &str,
) -> Result<Connection, String> {
    let connecting = endpoint
        .connect_with(tls, addr, host)
        .map_err(|e| e.to_string())?;
    Ok(match connecting.into_0rtt() {
        Ok(conn) if conn.try_handshake_info().is_some() => {
            eprintln!(
                "0-RTT with {addr}: the handshake already completed, the requests go in 1-RTT"
            );
            conn
        }
        Ok(conn) => {
            eprintln!("0-RTT with {addr}: the requests go before the handshake completes");
            conn
        }
        Err(connecting) => {
            eprintln!("no ticket allows 0-RTT with {addr}: the requests wait for the handshake");
            connecting.into_connection()
        }
    })
}

/// How often the `keyupdate` client asks again for a key update that the
/// connection refused: until the handshake is confirmed (RFC 9001 §4.1.2),
/// normally by the HANDSHAKE_DONE that came before the first response
/// bytes, or a PTO later when it was lost.
const KEY_UPDATE_RETRY: Duration = Duration::from_millis(1);

/// Starts one 1-RTT key update (RFC 9001 §6) on `conn` unless `updated`
/// says one already started; returns once it did, or once the connection
/// closed.
async fn start_key_update(conn: &Connection, updated: &AtomicBool) {
    // RFC 9001 §6: not before the handshake is confirmed, and not again
    // while the previous update is unacknowledged.
    while !updated.load(Ordering::Acquire) && conn.close_reason().is_none() {
        if conn.force_key_update() {
            updated.store(true, Ordering::Release);
            return;
        }
        tokio::time::sleep(KEY_UPDATE_RETRY).await;
    }
}

/// Logs the key update of the `keyupdate` case, or fails when none
/// started: the case would prove nothing.
fn log_key_update(conn: &Connection, updated: &AtomicBool) -> Result<(), String> {
    let updates = conn.stats().key_updates;
    if !updated.load(Ordering::Acquire) || updates == 0 {
        return Err("no key update started during the transfer".into());
    }
    eprintln!("key update: started during the transfer, {updates} key update(s) in all");
    Ok(())
}

/// Logs the version the `v2` connection ended on, or fails unless it is
/// QUIC v2: a transfer on v1 proves nothing about compatible version
/// negotiation (RFC 9368 §2.2).
fn ended_on_v2(conn: &Connection) -> Result<(), String> {
    let version = conn
        .try_handshake_info()
        .ok_or("the handshake did not complete")?
        .quic_version();
    if version != tern::proto::QUIC_V2 {
        return Err(format!(
            "the connection started on QUIC v1 and offered v2, but ended on {version:#010x}, \
             not v2 ({:#010x})",
            tern::proto::QUIC_V2
        ));
    }
    eprintln!("negotiated QUIC version: {version:#010x} (v2), started on v1");
    Ok(())
}

/// Logs the handshake snapshot: what was negotiated, whether the session
/// was resumed, and what became of 0-RTT.
async fn log_handshake(conn: &Connection, addr: SocketAddr) {
    if let Ok(info) = conn.handshake_info().await {
        eprintln!(
            "handshake with {addr}: QUIC version {:#x}, {}, {} in {:?}{}{}{}",
            info.quic_version(),
            info.cipher_suite()
                .map_or("unknown suite", |suite| suite.name),
            // A resumed session may skip the key exchange (psk_ke).
            info.key_exchange_group().unwrap_or("no key exchange group"),
            info.handshake_duration(),
            if info.retry_used() {
                ", after a Retry"
            } else {
                ""
            },
            if info.resumed() {
                ", resumed a TLS session"
            } else {
                ""
            },
            match info.early_data() {
                EarlyData::Accepted => ", 0-RTT accepted",
                // RFC 9001 §4.6.2: Tern sent it all again in 1-RTT.
                EarlyData::Rejected => ", 0-RTT rejected",
                _ => "",
            },
        );
    }
}

/// Fetches `urls` over `conn`, each on its own stream, all at once; the
/// stream limit of the server paces how many are open together. The
/// requests are written one after the other from this task, so that they
/// share packets (in 0-RTT, more of them fit in the first flight); each
/// response is read by a task of its own.
async fn fetch_all(conn: &Connection, urls: &[&str], downloads: &Path) -> Result<(), String> {
    fetch_each(conn, urls, downloads, None).await
}

/// As [`fetch_all`]; with `key_update`, the first response to bring bytes
/// holds its reading until a key update started (`keyupdate`), so the
/// transfer cannot end before it, and the rest of it goes under the new
/// keys.
async fn fetch_each(
    conn: &Connection,
    urls: &[&str],
    downloads: &Path,
    key_update: Option<&Arc<AtomicBool>>,
) -> Result<(), String> {
    let mut tasks = Vec::new();
    for url in urls {
        let (_, path) = split(url)?;
        let target = downloads.join(path.trim_start_matches('/'));
        let request = format!("GET {path}\r\n");
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        send.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        let key_update = key_update.map(|updated| (conn.clone(), updated.clone()));
        tasks.push(tokio::spawn(async move {
            // Held until the answer is read: dropping a SendStream forgets
            // the wakers of both halves of its stream, and a reader already
            // waiting would never be woken.
            let _send = send;
            let mut body = Vec::new();
            if let Some((conn, updated)) = key_update {
                let first = recv
                    .read_chunk(usize::MAX)
                    .await
                    .map_err(|e| format!("{request:?}: {e}"))?;
                if let Some(first) = first {
                    body.extend_from_slice(&first);
                    start_key_update(&conn, &updated).await;
                }
            }
            let rest = recv
                .read_to_end(usize::MAX)
                .await
                .map_err(|e| format!("{request:?}: {e}"))?;
            body.extend_from_slice(&rest);
            tokio::fs::write(&target, body)
                .await
                .map_err(|e| format!("cannot write {}: {e}", target.display()))
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// `https://authority/path` → (authority, path).
fn split(url: &str) -> Result<(&str, &str), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("not an https URL: {url}"))?;
    Ok(rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..])))
}
