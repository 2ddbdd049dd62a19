//! A server that refuses clients for reasons of its own says so: the
//! refusal is counted in `Endpoint::stats` and logged at `warn`, once per
//! kind, however many clients it turns away.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use tern::{Endpoint, EndpointConfig, EndpointError, TlsConfigError, tls};

use crate::support::{self, ALPN, Rt, timeout};

crate::on_both_runtimes!(
    a_full_server_counts_refused_clients_and_warns_once,
    a_server_config_broken_after_new_is_refused_at_bind,
);

/// Every line logged by the process's tests, at `warn` and above.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Capture(log.clone());
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .init();
        log
    })
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured lines that mention `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    let log = captured().lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

async fn a_full_server_counts_refused_clients_and_warns_once(rt: Rt) {
    captured();
    let pair = support::pair(&rt);
    let (cert, key) = support::cert();
    let mut config = tls::server_config(vec![cert.clone()], key, &[ALPN]).unwrap();
    config.max_connections = 1;
    let server = Endpoint::new_with_runtime(
        EndpointConfig::default(),
        Some(config),
        "127.0.0.1:0".parse().unwrap(),
        rt.0.clone(),
    )
    .unwrap();
    support::accept_every(&rt, &server);
    let addr = server.local_addr().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = tls::client_config(roots, &[ALPN]).unwrap();
    let first = timeout(
        &rt,
        pair.client
            .connect_with(&client_config, addr, "localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    // Three more clients: their Initials are refused while the first holds
    // the only slot. Their handshakes are left to time out.
    let refused: Vec<_> = (0..3)
        .map(|_| {
            pair.client
                .connect_with(&client_config, addr, "localhost")
                .unwrap()
        })
        .collect();
    timeout(&rt, async {
        while server.stats().refused_connection_limit < 3 {
            rt.sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(server.stats().refused_tls_config, 0);
    let warnings = lines_with(&format!("local={addr}"));
    assert_eq!(
        warnings.len(),
        1,
        "one warning for every refusal: {warnings:?}"
    );
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);
    assert!(warnings[0].contains("ConnectionLimit"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("max_connections (1)"),
        "{}",
        warnings[0]
    );
    drop(refused);
    first.close(tern::VarInt::from_u32(0), b"done");
}

async fn a_server_config_broken_after_new_is_refused_at_bind(rt: Rt) {
    let (cert, key) = support::cert();
    let mut config = tls::server_config(vec![cert], key, &[ALPN]).unwrap();
    let mut tls = (*config.tls).clone();
    tls.alpn_protocols.clear();
    config.tls = Arc::new(tls);
    let error = Endpoint::new_with_runtime(
        EndpointConfig::default(),
        Some(config),
        "127.0.0.1:0".parse().unwrap(),
        rt.0.clone(),
    )
    .unwrap_err();
    assert!(
        matches!(error, EndpointError::Config(TlsConfigError::MissingAlpn)),
        "{error}"
    );
    assert!(error.to_string().contains("alpn_protocols"), "{error}");
}
