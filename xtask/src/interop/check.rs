//! The pass conditions of a run, as far as the proxy can see them and, when
//! tshark is installed and an endpoint wrote a key log, as the decrypted
//! captures show them. The migration cases' conditions, which only the
//! decrypted captures show, are in [`migration`]; those of resumption and
//! 0-RTT in [`resumption`]; that of the key update in [`keyupdate`]; those
//! of QUIC v2's compatible version negotiation in [`v2`].

#[cfg(test)]
mod fixture;
mod keyupdate;
mod migration;
mod resumption;
mod v2;

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use super::{
    cases::{Case, Check},
    initial::{self, ClientHelloView},
    run::RunDir,
    tshark::{self, Datagram},
};
use crate::proxy::{Report, RetryReport};

/// QUIC version 1 (RFC 9000).
const QUIC_V1: u32 = 1;

/// The addresses of a run, which tell in the captures who sent what, as
/// the runner's direction filters do by IP address.
#[derive(Clone, Debug)]
pub(crate) struct Sides {
    /// The proxy's listening addresses: where the client sends.
    pub(crate) proxy: Vec<SocketAddr>,
    /// The server's addresses: where the proxy sends.
    pub(crate) server: Vec<SocketAddr>,
}

impl Sides {
    /// In `client.pcap`: the client sent it (it does not come from the proxy).
    fn sent_by_client(&self, datagram: &Datagram) -> bool {
        !self.proxy.contains(&datagram.src)
    }

    /// In `server.pcap`: the server sent it.
    fn sent_by_server(&self, datagram: &Datagram) -> bool {
        self.server.contains(&datagram.src)
    }
}

/// Every condition of `case` on the run's files and the proxy's report.
pub(crate) fn verify(
    case: &Case,
    dir: &RunDir,
    files: &[String],
    report: &Report,
    sides: &Sides,
) -> Result<(), String> {
    let proxy_port = sides.proxy.first().map_or(0, SocketAddr::port);
    check_files(dir, files)?;
    let handshakes = report.server_initial_scids.len();
    if handshakes != case.handshakes {
        return Err(format!(
            "expected {} handshake(s), the proxy counted {handshakes}",
            case.handshakes
        ));
    }
    if case.checks.contains(&Check::V2Negotiated) {
        v2::server_initial_versions(&report.server_initial_versions)?;
    } else if report.server_initial_versions != BTreeSet::from([QUIC_V1]) {
        return Err(format!(
            "expected only QUIC version 1 in the server's Initials, saw {:?}",
            report.server_initial_versions
        ));
    }
    let needs_initials = case.checks.iter().any(|c| {
        matches!(
            c,
            Check::ClientHelloRetransmitted | Check::ChaCha20Negotiated | Check::RetryFollowed
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
    decoded_checks(case, dir, sides)
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
        Check::RetryFollowed => retry_followed(&report.retry, view)?,
        Check::ClientHelloRetransmitted => {
            if view.client_hello_sends < 2 {
                return Err(format!(
                    "expected the ClientHello at least twice, saw it {} time(s) \
                     ({} client Initial datagrams before the server's reply)",
                    view.client_hello_sends, report.client_initials_before_reply
                ));
            }
        }
        Check::ChaCha20Negotiated => {
            let offered: Vec<u16> = view
                .cipher_suites
                .iter()
                .copied()
                .filter(|s| !is_grease(*s))
                .collect();
            // The runner reads the first value of the ClientHello's
            // cipher_suites field; the ServerHello says what was used.
            if offered.first() != Some(&CHACHA20_POLY1305) {
                return Err(format!(
                    "expected TLS_CHACHA20_POLY1305_SHA256 first in the ClientHello, saw {offered:04x?}"
                ));
            }
            if view.server_hello_suite != Some(CHACHA20_POLY1305) {
                return Err(format!(
                    "expected the ServerHello to select TLS_CHACHA20_POLY1305_SHA256, saw {:04x?}",
                    view.server_hello_suite
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
        // Decoded: see `decoded_checks`.
        Check::StreamLimitAtMost(_)
        | Check::PathsValidated
        | Check::ClientAddressChanged
        | Check::NewConnectionIdPerPath
        | Check::Resumed
        | Check::ZeroRttAccepted
        | Check::ClientOneRttAtMost(_)
        | Check::KeyUpdated
        | Check::V2Negotiated => {}
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

/// The server sent a Retry, and an Initial of the client after it carried
/// its token, to its Source Connection ID, without starting the packet
/// numbers over.
fn retry_followed(retry: &RetryReport, view: &ClientHelloView) -> Result<(), String> {
    if retry.retries == 0 {
        return Err("the server sent no Retry".into());
    }
    if retry.initials_with_retry_token == 0 {
        return Err(format!(
            "no client Initial after the Retry carried its token: {} Initial(s) after it, \
             {} with another token",
            retry.initials_after_retry, retry.initials_with_other_token
        ));
    }
    if retry.initials_with_retry_token_to_retry_scid == 0 {
        return Err(
            "the client's Initials with the Retry's token did not go to the Retry's \
             Source Connection ID (RFC 9000 §7.2)"
                .into(),
        );
    }
    if view.packet_numbers_reset > 0 {
        return Err(format!(
            "{} client Initial(s) with a token reused a packet number sent before the Retry \
             (RFC 9000 §17.2.5.3)",
            view.packet_numbers_reset
        ));
    }
    Ok(())
}

/// The file in a run's logs that says what the decoded checks found, or
/// why they were skipped.
const DECODED_NOTES: &str = "decoded-checks.txt";

/// The least the server's Handshake CRYPTO data must reach in
/// `amplificationlimit`, as the runner asks: the long chain was sent.
const MIN_HANDSHAKE_CRYPTO: u64 = 7500;

/// Whether `check` reads the decrypted captures (some also have a part the
/// proxy checks by itself).
fn is_decoded(check: Check) -> bool {
    matches!(
        check,
        Check::StreamLimitAtMost(_)
            | Check::EcnMarked
            | Check::AmplificationLimit
            | Check::PathsValidated
            | Check::ClientAddressChanged
            | Check::NewConnectionIdPerPath
            | Check::Resumed
            | Check::ZeroRttAccepted
            | Check::ClientOneRttAtMost(_)
            | Check::KeyUpdated
            | Check::V2Negotiated
    )
}

/// Whether `check` is all of its case's proof: without the decrypted
/// captures the case would pass on intact files alone, so it fails
/// instead of skipping. The runner calls such a run unsupported.
pub(crate) fn needs_decoding(check: Check) -> bool {
    matches!(
        check,
        Check::PathsValidated
            | Check::ClientAddressChanged
            | Check::NewConnectionIdPerPath
            | Check::Resumed
            | Check::ZeroRttAccepted
            | Check::ClientOneRttAtMost(_)
            | Check::KeyUpdated
            | Check::V2Negotiated
    )
}

/// The conditions the runner reads from the decrypted captures, for the
/// checks of `case` that have one. They run when tshark is installed and an
/// endpoint wrote a key log (the client's, else the server's, as the
/// runner prefers). Otherwise the migration, resumption, 0-RTT, key
/// update and v2 checks fail, and the others are skipped; the run's `logs/decoded-checks.txt` says which and why.
fn decoded_checks(case: &Case, dir: &RunDir, sides: &Sides) -> Result<(), String> {
    let checks: Vec<Check> = case
        .checks
        .iter()
        .copied()
        .filter(|c| is_decoded(*c))
        .collect();
    if checks.is_empty() {
        return Ok(());
    }
    let client_pcap = dir.client_capture();
    let pcap_dir = client_pcap
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let logs = pcap_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let server_pcap = pcap_dir.join("server.pcap");
    let notes = logs.join(DECODED_NOTES);

    let skipped = if tshark::available() {
        key_log(&logs).ok_or("no endpoint wrote a key log")
    } else {
        Err(tshark::MISSING)
    };
    let keylog = match skipped {
        Ok(keylog) => keylog,
        Err(why) => {
            let verdict = undecodable(&checks, why);
            let status = if verdict.is_ok() {
                eprintln!("interop: {}: decoded checks skipped: {why}", case.name);
                "skipped"
            } else {
                "FAIL"
            };
            let _ = std::fs::write(
                &notes,
                format!("{status}: {why}; not checked: {checks:?}\n"),
            );
            return verdict;
        }
    };

    let mut out = format!(
        "decoded with {} and {}\n",
        tshark::version(),
        keylog.display()
    );
    let result = run_decoded(
        &checks,
        &client_pcap,
        &server_pcap,
        &keylog,
        sides,
        &mut out,
    );
    if let Err(reason) = &result {
        let _ = writeln!(out, "FAIL: {reason}");
    }
    let _ = std::fs::write(&notes, out);
    result.map_err(|reason| format!("decoded: {reason}"))
}

/// The verdict on decoded `checks` that cannot run (`why`): a failure when
/// one of them is its case's whole proof, else a skip.
fn undecodable(checks: &[Check], why: &str) -> Result<(), String> {
    if checks.iter().any(|c| needs_decoding(*c)) {
        Err(format!(
            "decoded: {why}, and this case has no proof without the decrypted captures"
        ))
    } else {
        Ok(())
    }
}

/// The first non-empty key log of the run: the client's, else the server's.
fn key_log(logs: &Path) -> Option<PathBuf> {
    ["keys-client.log", "keys-server.log"]
        .iter()
        .map(|name| logs.join(name))
        .find(|path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0))
}

/// Decodes the captures the checks need and runs them, noting in `out`
/// what each found.
fn run_decoded(
    checks: &[Check],
    client_pcap: &Path,
    server_pcap: &Path,
    keylog: &Path,
    sides: &Sides,
    out: &mut String,
) -> Result<(), String> {
    let proxy_port = sides.proxy.first().map_or(0, SocketAddr::port);
    let decode = |pcap: &Path| -> Result<Vec<Datagram>, String> {
        let datagrams = tshark::decode(pcap, keylog)?;
        if datagrams.iter().all(|d| d.packets.is_empty()) {
            return Err(format!(
                "tshark found no QUIC packets in {}",
                pcap.display()
            ));
        }
        Ok(datagrams)
    };
    let needs_client = checks.iter().any(|c| {
        matches!(
            c,
            Check::StreamLimitAtMost(_)
                | Check::EcnMarked
                | Check::PathsValidated
                | Check::NewConnectionIdPerPath
                | Check::Resumed
                | Check::ZeroRttAccepted
                | Check::ClientOneRttAtMost(_)
                | Check::KeyUpdated
                | Check::V2Negotiated
        )
    });
    let needs_server = checks.iter().any(|c| {
        matches!(
            c,
            Check::EcnMarked
                | Check::AmplificationLimit
                | Check::PathsValidated
                | Check::ClientAddressChanged
        )
    });
    let client = if needs_client {
        decode(client_pcap)?
    } else {
        Vec::new()
    };
    let server = if needs_server {
        decode(server_pcap)?
    } else {
        Vec::new()
    };
    let from_server = |d: &Datagram| sides.sent_by_server(d);
    let from_client = |d: &Datagram| sides.sent_by_client(d);
    // In `client.pcap`: the server's datagrams, as the proxy passed them on.
    let from_proxy = |d: &Datagram| !sides.sent_by_client(d);
    for check in checks {
        let found = match *check {
            Check::StreamLimitAtMost(limit) => stream_limit(&client, proxy_port, limit)?,
            Check::EcnMarked => ack_ecn(&client, &server, proxy_port)?,
            Check::AmplificationLimit => handshake_crypto(&server)?,
            Check::PathsValidated => {
                migration::paths_validated(&server, &client, &from_server, &from_client)?
            }
            Check::ClientAddressChanged => migration::client_addresses(&server, &from_server)?,
            Check::NewConnectionIdPerPath => {
                migration::new_connection_id_per_path(&client, &from_client)?
            }
            Check::Resumed => resumption::resumed(&client, &from_proxy)?,
            Check::ZeroRttAccepted => {
                resumption::zero_rtt_accepted(&client, &from_client, &from_proxy)?
            }
            Check::ClientOneRttAtMost(limit) => {
                resumption::client_one_rtt_at_most(&client, &from_client, limit)?
            }
            Check::KeyUpdated => keyupdate::key_phases(&client, &from_client, &from_proxy)?,
            Check::V2Negotiated => v2::negotiated(&client, &from_client, &from_proxy)?,
            _ => continue,
        };
        let _ = writeln!(out, "ok: {found}");
    }
    Ok(())
}

/// The server's port in `server.pcap`: the destination of its first
/// datagram, since the client speaks first.
fn server_port(server: &[Datagram]) -> Option<u16> {
    server.first().map(|d| d.dst.port())
}

/// The server's `initial_max_streams_bidi`, in its Handshake packets as
/// the client saw them, is present and at most `limit`.
fn stream_limit(client: &[Datagram], proxy_port: u16, limit: u64) -> Result<String, String> {
    let announced: Vec<u64> = client
        .iter()
        .filter(|d| d.src.port() == proxy_port)
        .flat_map(|d| &d.packets)
        .filter(|p| p.long_type == Some(tshark::HANDSHAKE))
        .filter_map(|p| p.initial_max_streams_bidi)
        .collect();
    match announced.iter().max() {
        None => Err(
            "no initial_max_streams_bidi in the server's Handshake packets \
             (did the key log decrypt them?)"
                .into(),
        ),
        Some(&max) if max > limit => Err(format!(
            "the server's initial_max_streams_bidi is {max}, more than {limit}"
        )),
        Some(&max) => Ok(format!(
            "the server's initial_max_streams_bidi is {max} (at most {limit})"
        )),
    }
}

/// The client's ACK frames (to the proxy, in `client.pcap`) and the
/// server's (from its port, in `server.pcap`) carry ECN counts.
fn ack_ecn(client: &[Datagram], server: &[Datagram], proxy_port: u16) -> Result<String, String> {
    let count = |datagrams: &[Datagram], from: &dyn Fn(&Datagram) -> bool| {
        datagrams
            .iter()
            .filter(|d| from(d))
            .flat_map(|d| &d.packets)
            .filter(|p| p.ack_ecn)
            .count()
    };
    let port = server_port(server);
    let from_client = count(client, &|d| d.dst.port() == proxy_port);
    let from_server = count(server, &|d| Some(d.src.port()) == port);
    for (side, n) in [("client", from_client), ("server", from_server)] {
        if n == 0 {
            return Err(format!("the {side} sent no ACK frame with ECN counts"));
        }
    }
    Ok(format!(
        "ACK frames with ECN counts: {from_client} packets from the client, \
         {from_server} from the server"
    ))
}

/// The server's Handshake CRYPTO data, in `server.pcap`, reaches
/// [`MIN_HANDSHAKE_CRYPTO`] bytes.
fn handshake_crypto(server: &[Datagram]) -> Result<String, String> {
    let port = server_port(server);
    let end = server
        .iter()
        .filter(|d| Some(d.src.port()) == port)
        .flat_map(|d| &d.packets)
        .filter(|p| p.long_type == Some(tshark::HANDSHAKE))
        .flat_map(|p| p.crypto_ends.iter().copied())
        .max()
        .unwrap_or(0);
    if end < MIN_HANDSHAKE_CRYPTO {
        return Err(format!(
            "the server's Handshake CRYPTO data reaches {end} bytes, less than {MIN_HANDSHAKE_CRYPTO}"
        ));
    }
    Ok(format!(
        "the server's Handshake CRYPTO data reaches {end} bytes (at least {MIN_HANDSHAKE_CRYPTO})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::tshark::{HANDSHAKE, Packet};

    const PROXY: u16 = 4433;
    const CLIENT: u16 = 50_000;
    const UPSTREAM: u16 = 40_000;
    const SERVER: u16 = 443;

    fn datagram(src_port: u16, dst_port: u16, packets: Vec<Packet>) -> Datagram {
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Datagram {
            src: at(src_port),
            dst: at(dst_port),
            packets,
        }
    }

    fn handshake(streams: Option<u64>, crypto_ends: Vec<u64>) -> Packet {
        Packet {
            long_type: Some(HANDSHAKE),
            initial_max_streams_bidi: streams,
            crypto_ends,
            ..Packet::default()
        }
    }

    fn ack_with_ecn() -> Packet {
        Packet {
            ack_ecn: true,
            ..Packet::default()
        }
    }

    #[test]
    fn only_the_servers_stream_limit_counts() {
        let client = [
            datagram(CLIENT, PROXY, vec![handshake(Some(5000), vec![])]),
            datagram(PROXY, CLIENT, vec![handshake(Some(100), vec![])]),
        ];
        assert!(stream_limit(&client, PROXY, 1000).is_ok());
        let client = [datagram(PROXY, CLIENT, vec![handshake(Some(1001), vec![])])];
        assert!(stream_limit(&client, PROXY, 1000).is_err());
    }

    #[test]
    fn a_missing_stream_limit_fails() {
        let client = [datagram(PROXY, CLIENT, vec![handshake(None, vec![])])];
        assert!(stream_limit(&client, PROXY, 1000).is_err());
    }

    #[test]
    fn ack_ecn_is_needed_from_both_sides() {
        let client = [datagram(CLIENT, PROXY, vec![ack_with_ecn()])];
        let server = [
            datagram(UPSTREAM, SERVER, vec![ack_with_ecn()]),
            datagram(SERVER, UPSTREAM, vec![ack_with_ecn()]),
        ];
        assert!(ack_ecn(&client, &server, PROXY).is_ok());
        // Only the proxy's copy of the client's ACKs: the server sent none.
        assert!(ack_ecn(&client, &server[..1], PROXY).is_err());
        assert!(ack_ecn(&[], &server, PROXY).is_err());
    }

    #[test]
    fn handshake_crypto_counts_only_the_servers_handshake_packets() {
        let initial = Packet {
            long_type: Some(0),
            crypto_ends: vec![9000],
            ..Packet::default()
        };
        let server = [
            datagram(UPSTREAM, SERVER, vec![handshake(None, vec![9000])]),
            datagram(
                SERVER,
                UPSTREAM,
                vec![initial, handshake(None, vec![1008, 7400])],
            ),
        ];
        assert!(handshake_crypto(&server).is_err());
        let server = [
            datagram(UPSTREAM, SERVER, vec![]),
            datagram(SERVER, UPSTREAM, vec![handshake(None, vec![7500])]),
        ];
        assert!(handshake_crypto(&server).is_ok());
    }

    /// A migration, resumption, 0-RTT, key update or v2 case that cannot be
    /// decoded would pass on intact files alone: it fails. The other
    /// decoded checks are skipped.
    #[test]
    fn checks_that_are_a_cases_whole_proof_fail_without_decrypted_captures() {
        let why = tshark::MISSING;
        for check in [
            Check::PathsValidated,
            Check::ClientAddressChanged,
            Check::NewConnectionIdPerPath,
            Check::Resumed,
            Check::ZeroRttAccepted,
            Check::ClientOneRttAtMost(5000),
            Check::KeyUpdated,
            Check::V2Negotiated,
        ] {
            let error = undecodable(&[Check::EcnMarked, check], why).unwrap_err();
            assert!(error.contains("tshark is not installed"), "{error}");
        }
        let skipped = [
            Check::EcnMarked,
            Check::AmplificationLimit,
            Check::StreamLimitAtMost(1000),
        ];
        assert!(undecodable(&skipped, "no endpoint wrote a key log").is_ok());
    }

    /// The migration cases carry the checks the runner makes of them.
    #[test]
    fn the_migration_cases_read_the_decrypted_captures() {
        let all = crate::interop::cases::all();
        let checks = |name: &str| all.iter().find(|c| c.name == name).unwrap().checks;
        assert_eq!(checks("rebind-port"), [Check::PathsValidated]);
        assert!(checks("rebind-addr").contains(&Check::ClientAddressChanged));
        assert!(checks("rebind-addr").contains(&Check::PathsValidated));
        assert!(checks("connectionmigration").contains(&Check::NewConnectionIdPerPath));
        assert!(checks("connectionmigration").contains(&Check::PathsValidated));
    }

    /// The resumption cases carry the runner's files and checks: two
    /// handshakes, the second resumed, and for `zerortt` 40 requests with
    /// 250-letter names in 0-RTT, the client's 1-RTT payload at most half
    /// of that.
    #[test]
    fn the_resumption_cases_read_the_decrypted_captures() {
        let all = crate::interop::cases::all();
        let case = |name: &str| all.iter().find(|c| c.name == name).unwrap().clone();
        let resumption = case("resumption");
        assert_eq!(resumption.handshakes, 2);
        assert_eq!(resumption.checks, [Check::Resumed]);
        let zerortt = case("zerortt");
        assert_eq!(zerortt.handshakes, 2);
        assert_eq!((zerortt.files, zerortt.name_length), (&[(40, 32)][..], 250));
        assert_eq!(
            zerortt.checks,
            [
                Check::Resumed,
                Check::ZeroRttAccepted,
                Check::ClientOneRttAtMost(5000)
            ]
        );
    }

    fn retried(with_token: u64, to_scid: u64) -> RetryReport {
        RetryReport {
            retries: 1,
            tokens: vec!["746f6b656e".into()],
            initials_after_retry: 2,
            initials_with_retry_token: with_token,
            initials_with_retry_token_to_retry_scid: to_scid,
            initials_with_other_token: 0,
        }
    }

    // RFC 9000 §8.1.2, §7.2, §17.2.5.3 (test): the retry case needs a
    // Retry, then an Initial with its token to its SCID, packet numbers
    // continued.
    #[test]
    fn retry_followed_needs_the_token_back_at_the_retrys_scid() {
        let view = ClientHelloView::default();
        assert!(retry_followed(&retried(1, 1), &view).is_ok());
        let none = RetryReport::default();
        assert!(
            retry_followed(&none, &view)
                .unwrap_err()
                .contains("no Retry")
        );
        assert!(
            retry_followed(&retried(0, 0), &view)
                .unwrap_err()
                .contains("carried its token")
        );
        assert!(
            retry_followed(&retried(1, 0), &view)
                .unwrap_err()
                .contains("Source Connection ID")
        );
        let reset = ClientHelloView {
            packet_numbers_reset: 1,
            ..ClientHelloView::default()
        };
        assert!(
            retry_followed(&retried(1, 1), &reset)
                .unwrap_err()
                .contains("packet number")
        );
    }
}
