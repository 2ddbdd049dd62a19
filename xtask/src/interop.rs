//! `cargo xtask interop`: Tern against other QUIC implementations, in the
//! quic-interop-runner's test cases, on loopback, through an impairment
//! proxy, in both roles.
//!
//! For every case and every pair — tern → tern, tern client → peer server,
//! peer client → tern server — it starts the server, puts the proxy in
//! front of it with the case's network, runs the client with a deadline and
//! checks the runner's pass condition as far as the proxy can see it. The
//! matrix goes to `docs/interop.md` (unless `--no-docs` or a subset of
//! cases) and, with `--json`, to a file.

mod cases;
mod certs;
mod check;
mod initial;
pub(crate) mod peers;
mod report;
mod run;
mod tshark;

use std::path::PathBuf;

use clap::Parser;

use self::run::Outcome;

/// Arguments of `cargo xtask interop`.
#[derive(Parser)]
pub(crate) struct Args {
    /// Peers to pair with Tern, comma-separated (aioquic, quinn).
    #[arg(long, value_delimiter = ',', default_value = "aioquic,quinn")]
    peers: Vec<String>,
    /// Cases to run, comma-separated; all of them by default.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Runs only these pairs, as CLIENT:SERVER, comma-separated (say
    /// `quinn:quinn`, to see a case's checks judge two other
    /// implementations); by default tern with itself and with each of
    /// `--peers` in both roles. Implies `--no-docs`.
    #[arg(long, value_delimiter = ',')]
    pairs: Vec<String>,
    /// Also write the results as a JSON list to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Do not rewrite docs/interop.md.
    #[arg(long)]
    no_docs: bool,
    /// Seed of the proxy's impairments and the generated files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs the matrix; `Err` when a run failed.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let root = crate::workspace_root();
    let all = cases::all();
    let selected: Vec<cases::Case> = if args.cases.is_empty() {
        all.clone()
    } else {
        for name in &args.cases {
            if !all.iter().any(|c| c.name == name) {
                let known: Vec<&str> = all.iter().map(|c| c.name).collect();
                return Err(format!(
                    "unknown case `{name}`; known: {}",
                    known.join(", ")
                ));
            }
        }
        all.iter()
            .filter(|c| args.cases.iter().any(|n| n == c.name))
            .cloned()
            .collect()
    };

    warn_without_tshark(&selected);
    let (peers, pairs) = if args.pairs.is_empty() {
        eprintln!("interop: setting up tern and {}", args.peers.join(", "));
        let mut peers = vec![peers::tern(&root)?];
        for name in &args.peers {
            if name != "tern" {
                peers.push(peers::by_name(&root, name)?);
            }
        }
        let tern = peers[0].clone();
        let mut pairs = vec![(tern.clone(), tern.clone())];
        for peer in &peers[1..] {
            pairs.push((tern.clone(), peer.clone()));
            pairs.push((peer.clone(), tern.clone()));
        }
        (peers, pairs)
    } else {
        explicit_pairs(&root, &args.pairs)?
    };

    let runs = root.join("target/interop/runs");
    let mut results = Vec::new();
    for case in &selected {
        for (client, server) in &pairs {
            let dir = runs
                .join(case.name)
                .join(format!("{}-{}", client.name, server.name));
            let result = run::run(case, client, server, dir, args.seed);
            let verdict = match &result.outcome {
                Outcome::Pass => match result.goodput_mbps {
                    Some(goodput) => format!("pass, {goodput:.2} Mbit/s"),
                    None => "pass".into(),
                },
                Outcome::Fail(reason) => format!("FAIL: {reason}"),
                Outcome::Unsupported(reason) => format!("unsupported: {reason}"),
            };
            eprintln!(
                "{:<20} {:>8} → {:<8} {:>6.1} s  {verdict}",
                case.name, client.name, server.name, result.seconds
            );
            results.push(result);
        }
    }

    let names: Vec<(String, String)> = pairs
        .iter()
        .map(|(c, s)| (c.name.clone(), s.name.clone()))
        .collect();
    println!("\n{}", report::table(&selected, &names, &results));
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&results))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if !args.no_docs && args.cases.is_empty() && args.pairs.is_empty() {
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let doc = report::document(&date, &peers, &selected, &names, &results);
        std::fs::write(root.join("docs/interop.md"), doc)
            .map_err(|e| format!("cannot write docs/interop.md: {e}"))?;
        eprintln!("interop: wrote docs/interop.md");
    }
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
        .count();
    if failed > 0 {
        return Err(format!("{failed} of {} runs failed", results.len()));
    }
    Ok(())
}

/// Client and server of each run.
type Pairs = Vec<(peers::Peer, peers::Peer)>;

/// The peers and pairs of `--pairs`, each peer set up once.
fn explicit_pairs(
    root: &std::path::Path,
    wanted: &[String],
) -> Result<(Vec<peers::Peer>, Pairs), String> {
    let mut peers: Vec<peers::Peer> = Vec::new();
    let mut pairs = Vec::new();
    for pair in wanted {
        let Some((client, server)) = pair.split_once(':') else {
            return Err(format!("a pair reads CLIENT:SERVER, not `{pair}`"));
        };
        let mut get = |name: &str| -> Result<peers::Peer, String> {
            if let Some(peer) = peers.iter().find(|p| p.name == name) {
                return Ok(peer.clone());
            }
            eprintln!("interop: setting up {name}");
            let peer = peers::by_name(root, name)?;
            peers.push(peer.clone());
            Ok(peer)
        };
        pairs.push((get(client)?, get(server)?));
    }
    Ok((peers, pairs))
}

/// Says before the runs which of them will fail for want of tshark.
fn warn_without_tshark(cases: &[cases::Case]) {
    let needing: Vec<&str> = cases
        .iter()
        .filter(|c| c.checks.iter().any(|k| check::needs_decoding(*k)))
        .map(|c| c.name)
        .collect();
    if !needing.is_empty() && !tshark::available() {
        eprintln!(
            "interop: {}; {} will fail: their checks read the decrypted captures",
            tshark::MISSING,
            needing.join(", ")
        );
    }
}
