//! The workloads: each runs on one stack and returns its figures.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    rc::Rc,
    time::Duration,
};

use crate::{
    harness::{self, Ctx, Held, now, request},
    stack::{Opts, Stack},
    sys::{live_heap, rss, thread_cpu},
    tls::Tls,
};

/// One figure: its name, its value, and whether higher is better.
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub higher_is_better: bool,
}

fn higher(name: &'static str, value: f64) -> Metric {
    Metric {
        name,
        value,
        higher_is_better: true,
    }
}

fn lower(name: &'static str, value: f64) -> Metric {
    Metric {
        name,
        value,
        higher_is_better: false,
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// What a workload is asked to do.
#[derive(Clone, Debug)]
pub struct Spec {
    pub bytes: u64,
    pub streams: u64,
    pub upload: bool,
    pub count: usize,
    pub concurrency: usize,
    pub conns: usize,
}

/// Bulk transfer of `spec.bytes` on one connection over `spec.streams`
/// streams at once.
pub fn bulk<S: Stack>(tls: Tls, opts: Opts, spec: Spec) -> Result<Vec<Metric>, String> {
    harness::run::<S, _, _>(tls, opts, async move |ctx: Ctx<S>| {
        let conn = S::connect(&ctx.endpoint, ctx.addr).await?;
        // Warm up: one small transfer each way.
        request::<S>(&conn, 1 << 20, 1 << 20).await?;
        let (sent0, recv0) = S::datagrams(&conn);
        let (cpu0, server0, t0) = (thread_cpu(), ctx.probe.server_cpu().await, now());
        let per_stream = spec.bytes / spec.streams.max(1);
        let mut tasks = Vec::new();
        for _ in 0..spec.streams.max(1) {
            let conn = conn.clone();
            let (req, resp) = if spec.upload {
                (per_stream, 0)
            } else {
                (8, per_stream)
            };
            tasks.push(tokio::task::spawn_local(async move {
                request::<S>(&conn, req, resp).await
            }));
        }
        for task in tasks {
            task.await.map_err(|e| e.to_string())??;
        }
        let secs = t0.elapsed().as_secs_f64();
        let (cpu1, server1) = (thread_cpu(), ctx.probe.server_cpu().await);
        let (sent1, recv1) = S::datagrams(&conn);
        let packets = if spec.upload {
            sent1 - sent0
        } else {
            recv1 - recv0
        } as f64;
        let mb = (per_stream * spec.streams.max(1)) as f64 / 1e6;
        let (client, server) = (us(cpu1 - cpu0), us(server1 - server0));
        S::close(&conn);
        Ok(vec![
            higher("MBps", mb / secs),
            lower("client_cpu_us_per_MB", client / mb),
            lower("server_cpu_us_per_MB", server / mb),
            lower("client_cpu_us_per_packet", client / packets),
            lower("server_cpu_us_per_packet", server / packets),
        ])
    })
}

/// `spec.count` full handshakes, `spec.concurrency` at a time, after
/// `spec.conns` connections were established and left idle.
pub fn handshakes<S: Stack>(tls: Tls, opts: Opts, spec: Spec) -> Result<Vec<Metric>, String> {
    harness::run::<S, _, _>(tls, opts, async move |ctx: Ctx<S>| {
        let idle = harness::connect_many::<S>(&ctx, spec.conns, 64).await?;
        // Warm up, and let the idle connections settle.
        harness::handshakes::<S>(&ctx, 20, 1).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (cpu0, server0, t0) = (thread_cpu(), ctx.probe.server_cpu().await, now());
        harness::handshakes::<S>(&ctx, spec.count, spec.concurrency).await?;
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = thread_cpu();
        // The server's last closes arrive after the client is done.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let server1 = ctx.probe.server_cpu().await;
        let n = spec.count as f64;
        drop(idle);
        Ok(vec![
            higher("handshakes_per_s", n / secs),
            lower("server_cpu_us_per_hs", us(server1 - server0) / n),
            lower("client_cpu_us_per_hs", us(cpu1 - cpu0) / n),
        ])
    })
}

/// `spec.count` requests of 64 bytes for 64 bytes, one after another on
/// one connection.
pub fn rpc<S: Stack>(tls: Tls, opts: Opts, spec: Spec) -> Result<Vec<Metric>, String> {
    harness::run::<S, _, _>(tls, opts, async move |ctx: Ctx<S>| {
        let conn = S::connect(&ctx.endpoint, ctx.addr).await?;
        for _ in 0..100 {
            request::<S>(&conn, 64, 64).await?;
        }
        let mut latencies = Vec::with_capacity(spec.count);
        let (sent0, recv0) = S::datagrams(&conn);
        let (cpu0, server0) = (thread_cpu(), ctx.probe.server_cpu().await);
        for _ in 0..spec.count {
            let t = now();
            request::<S>(&conn, 64, 64).await?;
            latencies.push(t.elapsed());
        }
        let (cpu1, server1) = (thread_cpu(), ctx.probe.server_cpu().await);
        let (sent1, recv1) = S::datagrams(&conn);
        latencies.sort();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            us(latencies[i.min(latencies.len() - 1)])
        };
        let n = spec.count as f64;
        S::close(&conn);
        Ok(vec![
            lower("p50_us", at(0.5)),
            lower("p99_us", at(0.99)),
            lower("client_cpu_us_per_request", us(cpu1 - cpu0) / n),
            lower("server_cpu_us_per_request", us(server1 - server0) / n),
            lower("datagrams_per_request_c2s", (sent1 - sent0) as f64 / n),
            lower("datagrams_per_request_s2c", (recv1 - recv0) as f64 / n),
        ])
    })
}

/// The server of the idle workload, in a process of its own so that its
/// heap and resident set are its alone. It prints its address, waits for a
/// line on stdin (the client has opened its connections), waits for them
/// all to be established, and prints what they cost as JSON.
pub fn idle_server<S: Stack>(tls: Tls, opts: Opts, conns: usize) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    tokio::task::LocalSet::new().block_on(&rt, async move {
        let endpoint = S::server(&tls, &opts)?;
        let held = Rc::new(Held::<S::Conn>::default());
        held.conns.borrow_mut().reserve(conns);
        tokio::task::spawn_local(harness::serve::<S>(endpoint.clone(), true, held.clone()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (heap0, rss0) = (live_heap(), rss());
        let (go_tx, go_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            let _ = go_tx.send(());
        });
        println!("{}", S::local_addr(&endpoint));
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        let _ = go_rx.await;
        let deadline = now() + Duration::from_secs(60);
        while held.established.get() < conns && now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Let the last acknowledgements and handshake leftovers go.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (heap1, rss1) = (live_heap(), rss());
        println!(
            "{}",
            serde_json::json!({
                "established": held.established.get(),
                "heap_before": heap0, "heap_after": heap1,
                "rss_before": rss0, "rss_after": rss1,
            })
        );
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        // Exit without closing every connection.
        std::process::exit(0)
    })
}

/// Heap and resident set per idle server connection, `spec.conns` of them,
/// the server being a child process (`idle-server`).
pub fn idle<S: Stack>(
    tls: Tls,
    opts: Opts,
    spec: Spec,
    child_args: Vec<String>,
) -> Result<Vec<Metric>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(child_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    let addr: std::net::SocketAddr = line
        .trim()
        .parse()
        .map_err(|e| format!("idle server said {line:?}: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let n = spec.conns;
    let conns = tokio::task::LocalSet::new().block_on(&rt, async move {
        let endpoint = S::client(&tls, &opts)?;
        let ctx = Ctx::<S> {
            endpoint,
            addr,
            probe: harness::Probe::none(),
        };
        harness::connect_many::<S>(&ctx, n, 64)
            .await
            .map(|c| (c, ctx))
    });
    let conns = match conns {
        Ok(conns) => conns,
        Err(e) => {
            let _ = child.kill();
            return Err(e);
        }
    };
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    writeln!(stdin, "go").map_err(|e| e.to_string())?;
    // The client's runtime keeps running the connections while the server
    // measures: drive it until the report arrives.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut report = String::new();
        let _ = stdout.read_line(&mut report);
        let _ = tx.send(report);
    });
    let report = tokio::task::LocalSet::new().block_on(&rt, async move {
        loop {
            if let Ok(report) = rx.try_recv() {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    drop(conns);
    let _ = child.wait();
    let v: serde_json::Value =
        serde_json::from_str(&report).map_err(|e| format!("idle server report {report:?}: {e}"))?;
    let get = |k: &str| v[k].as_f64().unwrap_or(0.0);
    if get("established") < n as f64 {
        return Err(format!(
            "only {} of {n} connections established",
            get("established")
        ));
    }
    let nf = n as f64;
    Ok(vec![
        lower(
            "heap_bytes_per_conn",
            (get("heap_after") - get("heap_before")) / nf,
        ),
        lower(
            "rss_bytes_per_conn",
            (get("rss_after") - get("rss_before")) / nf,
        ),
    ])
}
