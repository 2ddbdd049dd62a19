//! `bench-peer <tern|quinn> <workload> [options]`: runs one workload of
//! `cargo xtask bench` on one QUIC stack, client and server each on its own
//! OS thread with a current-thread tokio runtime, on 127.0.0.1, and prints
//! one JSON object with the figures.
//!
//! Options: `--bytes N` (bulk), `--count N` (handshakes, requests),
//! `--conns N` (idle and scaling), `--concurrency N`, `--suite
//! x25519-aes128|x25519-aes256|defaults`.
//!
//! `bench-peer tern flood-server ...` and `bench-peer tern flood-client
//! ...` are the two processes of `cargo xtask bench flood` (see [`flood`]);
//! `bench-peer tern shards-server ...` and `bench-peer tern shards-client
//! ...` those of `cargo xtask bench shards` (see [`shards`]).

mod flood;
mod harness;
mod shards;
mod shards_client;
mod stack;
mod sys;
mod tls;
mod workloads;

use std::time::Duration;

use stack::{Opts, Quinn, Stack, Tern};
use tls::Suite;
use workloads::{Metric, Spec};

#[global_allocator]
static ALLOCATOR: sys::Counting = sys::Counting;

struct Args {
    stack: String,
    workload: String,
    suite: Suite,
    suite_name: String,
    spec: Spec,
    cert: Option<(Vec<u8>, Vec<u8>)>,
}

fn parse() -> Result<Args, String> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut it = raw.iter();
    let stack = it
        .next()
        .ok_or("usage: bench-peer <tern|quinn> <workload> [options]")?
        .clone();
    let workload = it.next().ok_or("missing the workload")?.clone();
    let mut spec = defaults(&workload).ok_or_else(|| format!("unknown workload {workload}"))?;
    let mut suite_name = "x25519-aes128".to_string();
    let mut cert = None;
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--bytes" => spec.bytes = number()?,
            "--count" => spec.count = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--conns" => spec.conns = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--concurrency" => {
                spec.concurrency = usize::try_from(number()?).map_err(|e| e.to_string())?
            }
            "--suite" => suite_name = value.clone(),
            "--cert" => {
                let (c, k) = value.split_once(':').ok_or("--cert CERT_HEX:KEY_HEX")?;
                cert = Some((unhex(c)?, unhex(k)?));
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let suite = Suite::parse(&suite_name).ok_or_else(|| format!("unknown suite {suite_name}"))?;
    if stack != "tern" && stack != "quinn" {
        return Err(format!("unknown stack {stack}: tern or quinn"));
    }
    Ok(Args {
        stack,
        workload,
        suite,
        suite_name,
        spec,
        cert,
    })
}

/// Each workload's defaults: the full sizes of `cargo xtask bench`.
fn defaults(workload: &str) -> Option<Spec> {
    let base = Spec {
        bytes: 1 << 30,
        streams: 1,
        upload: true,
        count: 0,
        concurrency: 1,
        conns: 0,
    };
    Some(match workload {
        "bulk-upload" => base,
        "bulk-download" => Spec {
            upload: false,
            ..base
        },
        "bulk-upload-8streams" => Spec { streams: 8, ..base },
        "handshakes-c1" => Spec {
            count: 2_000,
            ..base
        },
        "handshakes-c64" | "handshakes-c64-4m" => Spec {
            count: 2_000,
            concurrency: 64,
            ..base
        },
        "rpc" => Spec {
            count: 20_000,
            ..base
        },
        "idle-1k" | "idle-server" => Spec {
            conns: 1_000,
            ..base
        },
        "idle-10k" => Spec {
            conns: 10_000,
            ..base
        },
        "idle-100k" => Spec {
            conns: 100_000,
            ..base
        },
        "scaling-1k" => Spec {
            conns: 1_000,
            count: 1_000,
            ..base
        },
        "scaling-10k" => Spec {
            conns: 10_000,
            count: 1_000,
            ..base
        },
        "scaling-100k" => Spec {
            conns: 100_000,
            count: 1_000,
            ..base
        },
        _ => return None,
    })
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("x"), 16).map_err(|e| e.to_string()))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn run<S: Stack>(args: &Args, tls: tls::Tls) -> Result<Vec<Metric>, String> {
    let opts = Opts {
        big_buffers: args.workload.ends_with("-4m"),
        idle_timeout: Duration::from_secs(600),
        max_connections: args.spec.conns + 10_000,
    };
    let spec = args.spec.clone();
    match args.workload.as_str() {
        w if w.starts_with("bulk-") => workloads::bulk::<S>(tls, opts, spec),
        w if w.starts_with("handshakes-") => {
            workloads::handshakes::<S>(tls, opts, Spec { conns: 0, ..spec })
        }
        w if w.starts_with("scaling-") => workloads::handshakes::<S>(tls, opts, spec),
        "rpc" => workloads::rpc::<S>(tls, opts, spec),
        "idle-server" => workloads::idle_server::<S>(tls, opts, spec.conns).map(|()| Vec::new()),
        _ => {
            let (cert, key) = args.cert.clone().unwrap_or_default();
            let mut child = vec![args.stack.clone(), "idle-server".into()];
            child.extend(["--conns".into(), spec.conns.to_string()]);
            child.extend(["--suite".into(), args.suite_name.clone()]);
            child.extend(["--cert".into(), format!("{}:{}", hex(&cert), hex(&key))]);
            workloads::idle::<S>(tls, opts, spec, child)
        }
    }
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if let [stack, mode, rest @ ..] = raw.as_slice()
        && (mode.starts_with("flood-") || mode.starts_with("shards-"))
    {
        let result = if stack != "tern" {
            Err(format!("{mode} runs on tern only, not {stack}"))
        } else if mode.starts_with("shards-") {
            shards::main(mode, rest)
        } else {
            flood::main(mode, rest)
        };
        if let Err(e) = result {
            eprintln!("bench-peer: {e}");
            std::process::exit(1);
        }
        return;
    }
    let result = parse().and_then(|mut args| {
        if args.cert.is_none() {
            args.cert = Some(tls::certificate()?);
        }
        let (cert, key) = args.cert.clone().unwrap_or_default();
        let tls = tls::configs(&args.stack, args.suite, cert, key)?;
        let (kx, cipher) = (tls.kx.clone(), tls.cipher.clone());
        let metrics = if args.stack == "tern" {
            run::<Tern>(&args, tls)?
        } else {
            run::<Quinn>(&args, tls)?
        };
        Ok(serde_json::json!({
            "stack": args.stack,
            "workload": args.workload,
            "suite": args.suite_name,
            "kx_group": kx,
            "cipher_suite": cipher,
            "metrics": metrics.iter().map(|m| serde_json::json!({
                "metric": m.name,
                "value": m.value,
                "better": if m.higher_is_better { "higher" } else { "lower" },
            })).collect::<Vec<_>>(),
        }))
    });
    match result {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("bench-peer: {e}");
            std::process::exit(1);
        }
    }
}
