//! Every direct dependency pinned exactly, and no lock file in git.
//!
//! No lock file is committed (it records registry addresses), so the only
//! thing that keeps a fresh clone building what CI built is an exact
//! requirement (`=x.y.z`) on every direct dependency of every manifest:
//! the workspace, `fuzz/`, `xtask/quinn-peer` and `xtask/bench-peer` (each
//! its own workspace).
//! A loose requirement let a rustls release break a fresh clone once.
//! CONTRIBUTING.md says how to upgrade.

use std::{path::Path, process::Command};

use serde_json::Value;

/// The manifests whose dependencies are checked, relative to the root: the
/// workspace and the three workspaces outside it.
pub(crate) const MANIFESTS: [&str; 4] = [
    "Cargo.toml",
    "fuzz/Cargo.toml",
    "xtask/quinn-peer/Cargo.toml",
    "xtask/bench-peer/Cargo.toml",
];

/// Checks the direct dependencies of every package of the workspace whose
/// root manifest is `manifest`; one message per loose requirement.
///
/// # Errors
/// When `cargo metadata` cannot run or its output does not parse.
pub(crate) fn check_manifest(manifest: &Path) -> Result<Vec<String>, String> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .map_err(|error| format!("cannot run cargo metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata --manifest-path {} failed: {}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("cargo metadata printed no JSON: {error}"))?;
    Ok(loose_requirements(&metadata))
}

/// The loose requirements among the direct dependencies of the packages
/// in `metadata` (`cargo metadata --no-deps` output). Path dependencies
/// (the workspace's own crates) are exempt: they are not resolved from a
/// registry.
pub(crate) fn loose_requirements(metadata: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let packages = metadata["packages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    for package in packages {
        let name = package["name"].as_str().unwrap_or("?");
        let manifest = package["manifest_path"].as_str().unwrap_or("?");
        let dependencies = package["dependencies"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        for dependency in dependencies {
            if dependency["path"].is_string() {
                continue;
            }
            let dep = dependency["name"].as_str().unwrap_or("?");
            let req = dependency["req"].as_str().unwrap_or("");
            if !is_exact(req) {
                let kind = dependency["kind"].as_str().unwrap_or("normal");
                problems.push(format!(
                    "{manifest}: {name} depends on {dep} `{req}` ({kind}); pin it exactly as \
                     `=x.y.z` (see CONTRIBUTING.md)"
                ));
            }
        }
    }
    problems
}

/// Whether `req` names one release: `=MAJOR.MINOR.PATCH`, with an optional
/// pre-release or build suffix.
fn is_exact(req: &str) -> bool {
    let Some(version) = req.trim().strip_prefix('=') else {
        return false;
    };
    let core = version
        .trim_start()
        .split(['-', '+'])
        .next()
        .unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

/// Lock files tracked by git under `root`: they must stay out (they record
/// registry addresses). Empty when git is not there to ask.
pub(crate) fn tracked_lock_files(root: &Path) -> Vec<String> {
    let Ok(output) = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|path| is_lock_file(path))
        .map(|path| format!("{path}: a lock file is tracked; remove it and keep it in .gitignore"))
        .collect()
}

fn is_lock_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".lock") || name == "package-lock.json" || name == "npm-shrinkwrap.json"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(deps: &[(&str, &str, Option<&str>)]) -> Value {
        let dependencies: Vec<Value> = deps
            .iter()
            .map(|(name, req, path)| {
                serde_json::json!({
                    "name": name, "req": req, "kind": null, "path": path,
                })
            })
            .collect();
        serde_json::json!({
            "packages": [{
                "name": "demo",
                "manifest_path": "/x/Cargo.toml",
                "dependencies": dependencies,
            }]
        })
    }

    #[test]
    fn exact_pins_pass_and_path_dependencies_are_exempt() {
        let ok = metadata(&[
            ("rustls", "=0.23.48", None),
            ("aws-lc-rs", "= 1.19.0", None),
            ("pre", "=1.0.0-rc.1", None),
            ("tern-proto", "^0.1.0", Some("/x/crates/proto")),
        ]);
        assert_eq!(loose_requirements(&ok), Vec::<String>::new());
    }

    #[test]
    fn every_loose_form_is_reported() {
        for req in [
            "^0.23.48", "0.23", "0.23.48", "~1.2.3", ">=1, <2", "=1.2", "*", "=1.2.x",
        ] {
            let problems = loose_requirements(&metadata(&[("rustls", req, None)]));
            assert_eq!(problems.len(), 1, "{req}: {problems:?}");
            assert!(problems[0].contains("rustls"), "{}", problems[0]);
            assert!(problems[0].contains("=x.y.z"), "{}", problems[0]);
        }
    }

    #[test]
    fn a_manifest_with_a_loose_pin_fails_the_lint() {
        let dir = std::env::temp_dir().join(format!("xtask-pins-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        let manifest = dir.join("Cargo.toml");
        let write = |req: &str| {
            std::fs::write(
                &manifest,
                format!(
                    "[package]\nname = \"pins-probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
                     [workspace]\n[dependencies]\nbytes = \"{req}\"\n"
                ),
            )
            .unwrap();
        };
        write("1.12");
        let problems = check_manifest(&manifest).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("bytes"), "{}", problems[0]);
        write("=1.12.2");
        assert_eq!(check_manifest(&manifest).unwrap(), Vec::<String>::new());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_files_are_recognised() {
        assert!(is_lock_file("Cargo.lock"));
        assert!(is_lock_file("fuzz/Cargo.lock"));
        assert!(is_lock_file("web/package-lock.json"));
        assert!(!is_lock_file("crates/proto/src/lock.rs"));
    }
}
