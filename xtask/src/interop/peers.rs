//! The implementations a run can pair: Tern's own interop endpoint, and the
//! peers built here from pinned releases — aioquic from PyPI in a venv under
//! `target/`, quinn from the Rust package registry in `xtask/quinn-peer`.
//! All of them follow the runner's endpoint contract (ROLE, TESTCASE,
//! REQUESTS, SSLKEYLOGFILE, QLOGDIR, plus WWW, CERTS, DOWNLOADS and PORT).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The aioquic release the peer script is written against.
pub(crate) const AIOQUIC_VERSION: &str = "1.7.2";

/// One implementation, ready to start in either role.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    /// Its name in the matrix.
    pub(crate) name: String,
    /// Its exact version, for the matrix.
    pub(crate) version: String,
    program: PathBuf,
    args: Vec<String>,
}

impl Peer {
    /// A command starting this implementation; the caller adds the
    /// contract's environment.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        command
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Where the `cargo build` below puts the workspace's binaries:
/// `CARGO_TARGET_DIR` when it is set (relative to `root`, where the build
/// runs), else `target/` under the root. Without this, a run with
/// `CARGO_TARGET_DIR` set would build there and start whatever older
/// binary `target/` still held.
pub(crate) fn cargo_target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Builds `tern-interop` in release mode.
pub(crate) fn tern(root: &Path) -> Result<Peer, String> {
    run(
        Command::new(env!("CARGO")).current_dir(root).args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "tern-interop",
        ]),
        "cargo build -p tern-interop",
    )?;
    let commit =
        output(
            Command::new("git")
                .current_dir(root)
                .args(["rev-parse", "--short", "HEAD"]),
        )
        .unwrap_or_else(|| "unknown commit".into());
    Ok(Peer {
        name: "tern".into(),
        version: format!("{} ({commit})", env!("CARGO_PKG_VERSION")),
        program: cargo_target_dir(root).join("release/tern-interop"),
        args: Vec::new(),
    })
}

/// Makes (once) a venv under `target/` with the pinned aioquic, and points
/// at the peer script.
pub(crate) fn aioquic(root: &Path) -> Result<Peer, String> {
    let venv = root.join("target/aioquic-venv");
    let python = venv.join("bin/python");
    let installed = || {
        output(Command::new(&python).args([
            "-c",
            "import importlib.metadata as m; print(m.version('aioquic'))",
        ]))
    };
    if installed().as_deref() != Some(AIOQUIC_VERSION) {
        if !python.exists() {
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "python3 -m venv",
            )?;
        }
        run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(root.join("xtask/peers/aioquic/requirements.txt")),
            "pip install aioquic",
        )?;
    }
    let version = installed().ok_or("aioquic is not importable after installing it")?;
    Ok(Peer {
        name: "aioquic".into(),
        version,
        program: python,
        args: vec![
            root.join("xtask/peers/aioquic/peer.py")
                .to_string_lossy()
                .into_owned(),
        ],
    })
}

/// Builds the quinn peer, a crate of its own outside the workspace.
pub(crate) fn quinn(root: &Path) -> Result<Peer, String> {
    let manifest = root.join("xtask/quinn-peer/Cargo.toml");
    let target = root.join("target/quinn-peer");
    run(
        Command::new(env!("CARGO"))
            .current_dir(root)
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target),
        "cargo build (xtask/quinn-peer)",
    )?;
    let version = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.trim_start().starts_with("quinn ="))
                .and_then(|line| {
                    line.split('"')
                        .nth(1)
                        .map(|v| v.trim_start_matches('=').to_owned())
                })
        })
        .unwrap_or_else(|| "unknown".into());
    Ok(Peer {
        name: "quinn".into(),
        version,
        program: target.join("release/quinn-peer"),
        args: Vec::new(),
    })
}

/// Sets up the named peer.
pub(crate) fn by_name(root: &Path, name: &str) -> Result<Peer, String> {
    match name {
        "tern" => tern(root),
        "aioquic" => aioquic(root),
        "quinn" => quinn(root),
        other => Err(format!("unknown peer `{other}` (known: aioquic, quinn)")),
    }
}
