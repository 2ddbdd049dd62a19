//! The two processes of `cargo xtask bench flood`, on Tern only.
//!
//! - `bench-peer tern flood-server --retry never|always|under-load`: a Tern
//!   server with Tern's default admission limits and the given Retry
//!   policy, accepting every client it is offered (as `harness::serve`
//!   does). It prints `{"addr", "cert", "limits"}` (the admission limits it
//!   runs with), serves until a line arrives on
//!   stdin, then prints its endpoint's counters and exits.
//! - `bench-peer tern flood-client --server ADDR --cert C:K [--rate N]
//!   [--seconds N] [--honest-rate N] [--timeout-ms N] [--sources N]
//!   [--seed N]`: the flood (the `flood` crate, on a thread of its own)
//!   and, meanwhile, honest Tern clients at a steady rate, each doing one
//!   handshake and closing. It prints `{"event":"started"}` and
//!   `{"event":"window-end"}` as the measured window opens and closes,
//!   then its report.

use std::{
    cell::RefCell,
    collections::BTreeMap,
    io::Write,
    net::SocketAddr,
    rc::Rc,
    time::Duration,
};

use flood::{ClientHello, Flood, FloodConfig, Pacer};
use tern::proto::config::RetryPolicy;

use crate::{
    harness::{self, Held, now},
    stack::Tern,
    tls::{self, Suite},
    unhex,
};

/// Options of both modes, with the defaults of a full run.
struct Opts {
    retry: RetryPolicy,
    server: Option<SocketAddr>,
    cert: Option<(Vec<u8>, Vec<u8>)>,
    rate: u32,
    seconds: u64,
    honest_rate: u32,
    timeout: Duration,
    sources: usize,
    seed: u64,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut opts = Opts {
        retry: RetryPolicy::default(),
        server: None,
        cert: None,
        rate: 0,
        seconds: 10,
        honest_rate: 25,
        timeout: Duration::from_secs(5),
        sources: 1000,
        seed: 1,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--retry" => opts.retry = retry_policy(value)?,
            "--server" => opts.server = Some(value.parse().map_err(|e| format!("{value}: {e}"))?),
            "--cert" => {
                let (c, k) = value.split_once(':').ok_or("--cert CERT_HEX:KEY_HEX")?;
                opts.cert = Some((unhex(c)?, unhex(k)?));
            }
            "--rate" => opts.rate = u32::try_from(number()?).map_err(|e| e.to_string())?,
            "--seconds" => opts.seconds = number()?,
            "--honest-rate" => {
                opts.honest_rate = u32::try_from(number()?).map_err(|e| e.to_string())?
            }
            "--timeout-ms" => opts.timeout = Duration::from_millis(number()?),
            "--sources" => opts.sources = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--seed" => opts.seed = number()?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(opts)
}

fn retry_policy(name: &str) -> Result<RetryPolicy, String> {
    match name {
        "never" => Ok(RetryPolicy::Never),
        "always" => Ok(RetryPolicy::Always),
        "under-load" => Ok(RetryPolicy::default()),
        _ => Err(format!("--retry {name}: never, always or under-load")),
    }
}

/// Runs `flood-server` or `flood-client` with the arguments after it.
pub fn main(mode: &str, args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    match mode {
        "flood-server" => local.block_on(&runtime, server(opts)),
        "flood-client" => local.block_on(&runtime, client(opts)),
        _ => Err(format!("unknown flood mode {mode}")),
    }
}

fn print(value: &serde_json::Value) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

async fn server(opts: Opts) -> Result<(), String> {
    let (cert, key) = tls::certificate()?;
    let tls = tls::configs("tern", Suite::Aes128, cert.clone(), key.clone())?;
    // Tern's defaults but for the Retry policy: the limits under test are
    // the ones every Tern server has.
    let config = tern::ServerConfig::new(tls.server.clone())
        .map_err(|e| e.to_string())?
        .retry_policy(opts.retry);
    let endpoint_config = tern::EndpointConfig::default();
    let limits = serde_json::json!({
        "max_handshakes": config.max_handshakes,
        "max_handshakes_per_address": config.max_handshakes_per_address,
        "handshake_timeout_ms": config.transport.handshake_timeout.map(|t| t.as_millis()),
        "max_incoming": endpoint_config.max_incoming,
        "under_load_threshold": RetryPolicy::DEFAULT_UNDER_LOAD,
    });
    let runtime = tern::default_runtime().ok_or("no runtime")?;
    let endpoint = tern::Endpoint::new_with_runtime(
        endpoint_config,
        Some(config),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        runtime,
    )
    .map_err(|e| e.to_string())?;
    let held = Rc::new(Held::<tern::Connection>::default());
    tokio::task::spawn_local(harness::serve::<Tern>(endpoint.clone(), false, held.clone()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = stop_tx.send(());
    });
    let addr = endpoint.local_addr().map_err(|e| e.to_string())?;
    print(&serde_json::json!({
        "addr": addr.to_string(),
        "cert": format!("{}:{}", crate::hex(&cert), crate::hex(&key)),
        "limits": limits,
    }))?;
    let _ = stop_rx.await;
    let s = endpoint.stats();
    print(&serde_json::json!({
        "established": held.established.get(),
        "connections": s.connections,
        "incoming": s.incoming,
        "dropped_datagrams": s.dropped_datagrams,
        "refused_connection_limit": s.refused_connection_limit,
        "refused_incoming_limit": s.refused_incoming_limit,
        "refused_incoming_timeout": s.refused_incoming_timeout,
        "refused_handshake_limit": s.refused_handshake_limit,
        "refused_address_limit": s.refused_address_limit,
        "invalid_tokens": s.invalid_tokens,
        "retries_sent": s.retries_sent,
        "validated_by_retry": s.validated_by_retry,
        "validated_by_token": s.validated_by_token,
    }))?;
    // Exit without closing the connections still handshaking.
    std::process::exit(0)
}

/// One honest handshake: how long it took, or why it failed.
type Attempt = Result<Duration, String>;

async fn client(opts: Opts) -> Result<(), String> {
    let server = opts.server.ok_or("flood-client needs --server")?;
    let (cert, key) = opts.cert.clone().ok_or("flood-client needs --cert")?;
    let tls = tls::configs("tern", Suite::Aes128, cert, key)?;
    let duration = Duration::from_secs(opts.seconds);

    // The flood's ClientHello is the honest clients' own: X25519 only, so
    // that it fits one Initial, and the server's ALPN.
    let config = tern::ClientConfig::new(tls.client.clone()).map_err(|e| e.to_string())?;
    let hello = ClientHello::capture(now(), &config, server).map_err(|e| e.to_string())?;
    let flood = Flood::new(
        FloodConfig {
            target: server,
            rate: opts.rate,
            duration,
            sources: opts.sources,
            seed: opts.seed,
        },
        hello,
    )
    .map_err(|e| e.to_string())?;

    // Every honest client is new to the server: no NEW_TOKEN token from an
    // earlier connection lets it skip a Retry.
    let endpoint = tern::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|e| e.to_string())?;
    endpoint.set_default_client_config(config.token_store(None));

    print(&serde_json::json!({"event": "started"}))?;
    let flooding = std::thread::Builder::new()
        .name("flood".into())
        .spawn(move || flood.run())
        .map_err(|e| e.to_string())?;
    let window = tokio::task::spawn_local(async move {
        tokio::time::sleep(duration).await;
        print(&serde_json::json!({"event": "window-end"}))
    });
    let attempts = honest(&endpoint, server, opts.honest_rate, duration, opts.timeout).await;
    window.await.map_err(|e| e.to_string())??;
    let report = flooding
        .join()
        .map_err(|_| "the flood thread panicked".to_string())?
        .map_err(|e| e.to_string())?;
    endpoint.close(tern::VarInt::from_u32(0), b"");

    let mut failures = BTreeMap::<String, u64>::new();
    for attempt in &attempts {
        if let Err(why) = attempt {
            *failures.entry(why.clone()).or_default() += 1;
        }
    }
    print(&serde_json::json!({
        "flood": {
            "rate": opts.rate,
            "sent": report.sent,
            "send_errors": report.send_errors,
            "elapsed_s": report.elapsed.as_secs_f64(),
            "sources": report.sources,
        },
        "honest": {
            "rate": opts.honest_rate,
            "timeout_ms": opts.timeout.as_millis(),
            "latencies_ms": attempts.iter().map(|a| match a {
                Ok(d) => serde_json::json!(d.as_secs_f64() * 1e3),
                Err(_) => serde_json::Value::Null,
            }).collect::<Vec<_>>(),
            "failures": failures,
        },
    }))
}

/// `rate` new connections a second for `duration`, each with its own
/// handshake, timed from `connect` to established and closed at once;
/// one result per connection, in order, once the last one is done.
async fn honest(
    endpoint: &tern::Endpoint,
    server: SocketAddr,
    rate: u32,
    duration: Duration,
    timeout: Duration,
) -> Vec<Attempt> {
    let pacer = Pacer::new(rate, duration);
    let results = Rc::new(RefCell::new(Vec::new()));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..pacer.total() {
        let Some(at) = pacer.due_at(i) else { break };
        tokio::time::sleep_until(start + at).await;
        let endpoint = endpoint.clone();
        let results = results.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let t = now();
            let attempt = match endpoint.connect(server, "localhost") {
                Err(e) => Err(e.to_string()),
                Ok(connecting) => match tokio::time::timeout(timeout, connecting).await {
                    Err(_) => Err(format!("no handshake within {} ms", timeout.as_millis())),
                    Ok(Err(e)) => Err(e.to_string()),
                    Ok(Ok(conn)) => {
                        let took = t.elapsed();
                        conn.close(tern::VarInt::from_u32(0), b"");
                        Ok(took)
                    }
                },
            };
            results.borrow_mut().push((i, attempt));
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut results = Rc::try_unwrap(results)
        .map(RefCell::into_inner)
        .unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, attempt)| attempt).collect()
}
