use super::*;
use crate::interop::tshark::{INITIAL, Packet};

use crate::interop::check::fixture::{CLIENT, SERVER, addr, from_client, from_server};

fn short(key_phase: bool) -> Packet {
    Packet {
        key_phase: Some(key_phase),
        ..Packet::default()
    }
}

/// `phases` as short-header packets of one datagram each, from `src`.
fn sent(src: &str, dst: &str, phases: &[bool]) -> Vec<Datagram> {
    phases
        .iter()
        .map(|phase| Datagram {
            src: addr(src),
            dst: addr(dst),
            packets: vec![short(*phase)],
        })
        .collect()
}

fn capture(client: &[bool], server: &[bool]) -> Vec<Datagram> {
    let mut all = sent(CLIENT, SERVER, client);
    all.extend(sent(SERVER, CLIENT, server));
    all
}

// RFC 9001 §6 (test): both key phases in both directions pass.
#[test]
fn both_phases_both_ways_pass() {
    let found = key_phases(
        &capture(&[false, true, true], &[false, false, true]),
        &from_client,
        &from_server,
    )
    .unwrap();
    assert!(found.contains("1 1-RTT packets in key phase 0 and 2 in key phase 1"));
    assert!(found.contains("the server sent 2 1-RTT packets in key phase 0 and 1"));
}

/// An update the peer never answered shows one phase in one direction.
#[test]
fn an_unanswered_update_fails() {
    let error = key_phases(
        &capture(&[false, true], &[false, false]),
        &from_client,
        &from_server,
    )
    .unwrap_err();
    assert!(error.contains("the server sent"), "{error}");
    let error = key_phases(
        &capture(&[false], &[false, true]),
        &from_client,
        &from_server,
    )
    .unwrap_err();
    assert!(error.contains("the client sent"), "{error}");
    assert!(key_phases(&[], &from_client, &from_server).is_err());
}

/// Long headers have no key phase, and packets tshark could not decrypt
/// have none it could read: neither counts toward a phase.
#[test]
fn long_headers_and_undecrypted_packets_do_not_count() {
    let mut all = capture(&[false], &[false, true]);
    let initial = Packet {
        long_type: Some(INITIAL),
        key_phase: Some(true),
        ..Packet::default()
    };
    let failed = Packet {
        decryption_failed: true,
        ..short(true)
    };
    let unread = Packet::default();
    all.push(Datagram {
        src: addr(CLIENT),
        dst: addr(SERVER),
        packets: vec![initial, failed, unread],
    });
    let error = key_phases(&all, &from_client, &from_server).unwrap_err();
    assert!(
        error.contains("(2 whose key phase tshark could not read)"),
        "{error}"
    );
}

/// The case serves the runner's 1 MiB file and reads the key phases from
/// the decrypted capture, failing without it.
#[test]
fn the_keyupdate_case_reads_the_decrypted_captures() {
    use crate::interop::{
        cases::{self, Check},
        check::needs_decoding,
    };
    let all = cases::all();
    let case = all.iter().find(|c| c.name == "keyupdate").unwrap();
    assert_eq!(case.endpoint_case, "keyupdate");
    assert_eq!(case.files, [(1, 1 << 20)]);
    assert_eq!(case.checks, [Check::KeyUpdated]);
    assert!(needs_decoding(Check::KeyUpdated));
}
