//! `cargo xtask lint`: house rules that rustc and clippy do not check.
//!
//! - A production source file may hold at most [`MAX_LINES`] lines; past
//!   that it is asking to be split by concern. Test files are exempt.
//! - An RFC citation in a `//` comment follows one grammar:
//!   `// RFC 9000 §13.2.1: our paraphrase` or, above a test that proves a
//!   MUST, `// RFC 9000 §13.2.1 (test): ...`; several sections may be
//!   joined (`// RFC 9000 §18.2, RFC 9287 §3: ...`). No URLs in citations.
//! - Every direct dependency of the workspace, `fuzz/` and
//!   `xtask/quinn-peer` is pinned exactly (`=x.y.z`), and no lock file is
//!   tracked by git ([`pins`]).

mod pins;

use std::path::{Path, PathBuf};

use crate::workspace_root;

/// The largest production file, in lines.
const MAX_LINES: usize = 800;

/// Options of `cargo xtask lint`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print every file checked.
    #[arg(long)]
    verbose: bool,
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "fuzz/fuzz_targets"] {
        collect_rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    let mut problems = Vec::new();
    for manifest in pins::MANIFESTS {
        problems.extend(pins::check_manifest(&root.join(manifest))?);
    }
    problems.extend(pins::tracked_lock_files(&root));
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        if args.verbose {
            eprintln!("lint: {shown}");
        }
        problems.extend(check_file(&shown, &text));
    }
    if problems.is_empty() {
        println!("lint: {} files ok", files.len());
        Ok(())
    } else {
        for problem in &problems {
            eprintln!("{problem}");
        }
        Err(format!("{} lint problem(s)", problems.len()))
    }
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                collect_rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_test_file(path: &str) -> bool {
    path.ends_with("tests.rs") || path.contains("/tests/") || path.contains("/benches/")
}

fn check_file(path: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lines = text.lines().count();
    if !is_test_file(path) && lines > MAX_LINES {
        problems.push(format!(
            "{path}: {lines} lines (limit {MAX_LINES}): split it by concern"
        ));
    }
    for (number, line) in text.lines().enumerate() {
        if let Some(problem) = check_citation(line) {
            problems.push(format!("{path}:{}: {problem}", number + 1));
        }
    }
    problems
}

/// Checks one line; `Some(problem)` when it holds a malformed citation.
fn check_citation(line: &str) -> Option<String> {
    let comment = line.trim_start().strip_prefix("//")?;
    if comment.starts_with('/') || comment.starts_with('!') {
        return None; // doc comments may mention RFCs in prose
    }
    let comment = comment.trim_start();
    let rest = comment.strip_prefix("RFC ")?;
    if comment.contains("://") {
        return Some("citation with a URL; cite as `RFC NNNN §X.Y: ...`".into());
    }
    let valid = citation_list_ends_well(rest);
    if valid {
        None
    } else {
        Some(format!(
            "citation `{}` does not read `RFC NNNN §X.Y: ...`",
            comment.trim_end()
        ))
    }
}

/// `rest` follows the first `RFC `: one or more `NNNN §X.Y` (further
/// sections of the same RFC as `, §X.Z`) joined by `, RFC `, then `: ` or
/// ` (test): ` and some text.
fn citation_list_ends_well(mut rest: &str) -> bool {
    loop {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if !(3..=5).contains(&digits) {
            return false;
        }
        let Some(mut section) = rest[digits..].strip_prefix(" §") else {
            return false;
        };
        let tail = loop {
            let len = section
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .count();
            if len == 0 {
                return false;
            }
            let tail = &section[len..];
            match tail.strip_prefix(", §") {
                Some(next) => section = next,
                None => break tail,
            }
        };
        if let Some(next) = tail.strip_prefix(", RFC ") {
            rest = next;
            continue;
        }
        let text = tail
            .strip_prefix(": ")
            .or_else(|| tail.strip_prefix(" (test): "));
        return text.is_some_and(|t| !t.trim().is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::check_citation;

    #[test]
    fn well_formed_citations_pass() {
        assert_eq!(
            check_citation("    // RFC 9000 §13.2.1: ack within max_ack_delay"),
            None
        );
        assert_eq!(
            check_citation("// RFC 9001 §A.2 (test): client initial"),
            None
        );
        assert_eq!(check_citation("// plain comment"), None);
        assert_eq!(
            check_citation("/// RFC 9000 section 16 in a doc comment"),
            None
        );
    }

    #[test]
    fn malformed_citations_are_reported() {
        assert!(check_citation("// RFC 9000: missing section").is_some());
        assert!(check_citation("// RFC 9000 section 4: wrong grammar").is_some());
        assert!(check_citation("// RFC 9000 §4 see https://example.invalid").is_some());
        assert!(check_citation("// RFC 9000 §4 no colon").is_some());
        assert!(check_citation("// RFC 9000 §4, and more: text").is_some());
    }
}
