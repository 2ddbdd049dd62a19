//! The pass conditions of a run, as far as the proxy can see them.

use std::collections::BTreeSet;

use super::{
    cases::{Case, Check},
    initial::{self, ClientHelloView},
    run::RunDir,
};
use crate::proxy::Report;

/// QUIC version 1 (RFC 9000).
const QUIC_V1: u32 = 1;

/// Every condition of `case` on the run's files and the proxy's report.
pub(crate) fn verify(
    case: &Case,
    dir: &RunDir,
    files: &[String],
    report: &Report,
    proxy_port: u16,
) -> Result<(), String> {
    check_files(dir, files)?;
    let handshakes = report.server_initial_scids.len();
    if handshakes != case.handshakes {
        return Err(format!(
            "expected {} handshake(s), the proxy counted {handshakes}",
            case.handshakes
        ));
    }
    if report.server_initial_versions != BTreeSet::from([QUIC_V1]) {
        return Err(format!(
            "expected only QUIC version 1 in the server's Initials, saw {:?}",
            report.server_initial_versions
        ));
    }
    let needs_initials = case.checks.iter().any(|c| {
        matches!(
            c,
            Check::ClientHelloRetransmitted | Check::OnlyChaCha20Offered
        )
    });
    let view = if needs_initials {
        initial::read_client_hellos(&dir.client_capture(), proxy_port)?
    } else {
        ClientHelloView::default()
    };
    for check in case.checks {
        check_one(*check, report, &view)?;
    }
    Ok(())
}

/// The downloads are exactly the served files, byte for byte.
fn check_files(dir: &RunDir, files: &[String]) -> Result<(), String> {
    let wanted: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    let mut got = BTreeSet::new();
    for entry in std::fs::read_dir(&dir.downloads).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        got.insert(entry.file_name().to_string_lossy().into_owned());
    }
    let unexpected: Vec<&String> = got
        .iter()
        .filter(|f| !wanted.contains(f.as_str()))
        .collect();
    if !unexpected.is_empty() {
        return Err(format!("unexpected downloads: {unexpected:?}"));
    }
    let missing = wanted.iter().filter(|f| !got.contains(**f)).count();
    if missing > 0 {
        return Err(format!("{missing} of {} files missing", wanted.len()));
    }
    for file in files {
        let sent = std::fs::read(dir.www.join(file)).map_err(|e| e.to_string())?;
        let received = std::fs::read(dir.downloads.join(file)).map_err(|e| e.to_string())?;
        if sent != received {
            return Err(format!(
                "{file} differs: {} bytes served, {} downloaded",
                sent.len(),
                received.len()
            ));
        }
    }
    Ok(())
}

/// ECN codepoints as the report indexes them.
const ECT1: usize = 1;
const ECT0: usize = 2;
const CE: usize = 3;

/// TLS_CHACHA20_POLY1305_SHA256 (RFC 8446 §B.4).
const CHACHA20_POLY1305: u16 = 0x1303;

/// GREASE cipher suites (RFC 8701 §2) carry no meaning.
fn is_grease(suite: u16) -> bool {
    suite & 0x0f0f == 0x0a0a && suite >> 8 == suite & 0xff
}

fn check_one(check: Check, report: &Report, view: &ClientHelloView) -> Result<(), String> {
    match check {
        Check::NoRetry => {
            if report.retry_seen {
                return Err("the server sent a Retry".into());
            }
        }
        Check::ClientHelloRetransmitted => {
            if view.client_hello_sends < 2 {
                return Err(format!(
                    "expected the ClientHello at least twice, saw it {} time(s) \
                     ({} client Initial datagrams before the server's reply)",
                    view.client_hello_sends, report.client_initials_before_reply
                ));
            }
        }
        Check::OnlyChaCha20Offered => {
            let offered: Vec<u16> = view
                .cipher_suites
                .iter()
                .copied()
                .filter(|s| !is_grease(*s))
                .collect();
            if offered != [CHACHA20_POLY1305] {
                return Err(format!(
                    "expected only TLS_CHACHA20_POLY1305_SHA256 in the ClientHello, saw {offered:04x?}"
                ));
            }
        }
        Check::AmplificationLimit => match report.amplification.verdict {
            Some(true) => {}
            Some(false) => {
                return Err(format!(
                    "the server broke the amplification limit: {}",
                    report.amplification.log.join("; ")
                ));
            }
            None => return Err("the client never sent a Handshake packet".into()),
        },
        Check::EcnMarked => {
            for (side, stats) in [("client", &report.to_server), ("server", &report.to_client)] {
                let ect = stats.ecn[ECT0] + stats.ecn[ECT1];
                if ect == 0 {
                    return Err(format!(
                        "the {side} marked none of its {} datagrams ECT(0) or ECT(1)",
                        stats.datagrams
                    ));
                }
                if stats.ecn[CE] > 0 {
                    return Err(format!(
                        "{} of the {side}'s datagrams were CE",
                        stats.ecn[CE]
                    ));
                }
            }
        }
    }
    Ok(())
}
