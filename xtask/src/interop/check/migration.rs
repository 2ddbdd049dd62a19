//! The runner's conditions on migration, read from the decrypted captures:
//! `rebind-port` and `rebind-addr`, where the network rebinds the client's
//! port (and address) under a transfer, and `connectionmigration`, where
//! the client moves to the server's preferred address.
//!
//! A path is what the runner calls one: a datagram's source and
//! destination address and port. The captures are walked in order as the
//! runner walks them; a datagram on a path other than the current one,
//! and not one left before, opens a new path.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    net::{IpAddr, SocketAddr},
};

use crate::interop::tshark::{Datagram, Packet};

/// A datagram's (source, destination).
type Path = (SocketAddr, SocketAddr);

fn path(datagram: &Datagram) -> Path {
    (datagram.src, datagram.dst)
}

fn show(path: &Path) -> String {
    format!("{} → {}", path.0, path.1)
}

/// The paths `datagrams` used, in the order they appeared, and the
/// datagram that opened each path after the first.
///
/// As the runner does: a datagram opens a new path when its path differs
/// from the current one and was not left before; a datagram back on a path
/// left before opens nothing and does not make it current again.
fn walk<'a>(datagrams: impl Iterator<Item = &'a Datagram>) -> (Vec<Path>, Vec<&'a Datagram>) {
    let mut current: Option<Path> = None;
    let mut left = BTreeSet::new();
    let mut paths = Vec::new();
    let mut openers = Vec::new();
    for datagram in datagrams {
        let here = path(datagram);
        match current {
            None => {
                current = Some(here);
                paths.push(here);
            }
            Some(now) if now != here && !left.contains(&here) => {
                left.insert(now);
                current = Some(here);
                paths.push(here);
                openers.push(datagram);
            }
            Some(_) => {}
        }
    }
    (paths, openers)
}

/// The first QUIC packet of a datagram: the one whose fields the runner
/// reads (pyshark's `packet["quic"]`). After the handshake every packet is
/// a short-header packet, alone in its datagram.
fn first_packet(datagram: &Datagram) -> Option<&Packet> {
    datagram.packets.first()
}

/// Why a packet's frames are not known, for a failure's message.
fn unreadable(datagram: &Datagram) -> &'static str {
    if first_packet(datagram).is_some_and(|p| p.decryption_failed) {
        " (tshark could not decrypt it)"
    } else {
        ""
    }
}

/// `rebind-port`, and the part of `rebind-addr` and `connectionmigration`
/// it shares: the server used more than one path, the first datagram it
/// sent on each new path carried a PATH_CHALLENGE, and the client answered
/// each of those challenges with a PATH_RESPONSE.
///
/// `server` is the decoded `server.pcap` and `client` the decoded
/// `client.pcap`; `from_server` and `from_client` pick the datagrams each
/// side sent, as the runner's direction filters do.
pub(crate) fn paths_validated(
    server: &[Datagram],
    client: &[Datagram],
    from_server: &dyn Fn(&Datagram) -> bool,
    from_client: &dyn Fn(&Datagram) -> bool,
) -> Result<String, String> {
    let (paths, openers) = walk(server.iter().filter(|d| from_server(d)));
    let mut challenges = Vec::new();
    for opener in &openers {
        // RFC 9000 §9.3: a change of the peer's address starts path
        // validation, so the server's first datagram on the new path
        // carries a PATH_CHALLENGE (RFC 9000 §8.2.1).
        let challenge = first_packet(opener).and_then(|p| p.path_challenges.first());
        let Some(challenge) = challenge else {
            return Err(format!(
                "the server's first datagram on the new path {} carried no PATH_CHALLENGE{}",
                show(&path(opener)),
                unreadable(opener)
            ));
        };
        challenges.push(challenge.as_str());
    }
    // The runner's own words for this: "test broken?". Every path the
    // server sent on counts here; the runner's list can miss the current
    // path when the trace ends on an old one.
    if paths.len() <= 1 {
        return Err(format!(
            "the server sent on one path only ({}): the network did not rebind the client, \
             or the client did not move",
            paths.first().map_or_else(|| "none".into(), show)
        ));
    }
    // RFC 9000 §8.2.2: the client echoes each challenge's data in a
    // PATH_RESPONSE.
    let responses: BTreeSet<&str> = client
        .iter()
        .filter(|d| from_client(d))
        .flat_map(|d| &d.packets)
        .flat_map(|p| &p.path_responses)
        .map(String::as_str)
        .collect();
    let unanswered: Vec<&str> = challenges
        .iter()
        .copied()
        .filter(|c| !responses.contains(c))
        .collect();
    if !unanswered.is_empty() {
        return Err(format!(
            "the client sent no PATH_RESPONSE to the server's PATH_CHALLENGE {}",
            unanswered.join(", ")
        ));
    }
    let mut found = format!(
        "the server sent on {} paths and opened each new one with a PATH_CHALLENGE the \
         client answered:",
        paths.len()
    );
    for path in &paths {
        let _ = write!(found, " {};", show(path));
    }
    found.pop();
    Ok(found)
}

/// `rebind-addr`: the server sent to more than one client IP address.
pub(crate) fn client_addresses(
    server: &[Datagram],
    from_server: &dyn Fn(&Datagram) -> bool,
) -> Result<String, String> {
    let addresses: BTreeSet<IpAddr> = server
        .iter()
        .filter(|d| from_server(d))
        .map(|d| d.dst.ip())
        .collect();
    let list = addresses
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if addresses.len() <= 1 {
        return Err(format!(
            "the server sent to one client IP address only ({list}): the network did not \
             rebind the client's address"
        ));
    }
    Ok(format!(
        "the server sent to {} client IP addresses: {list}",
        addresses.len()
    ))
}

/// `connectionmigration`: the client's first packet on each new path of
/// `client.pcap` used a Destination Connection ID other than the one its
/// last packet on the path before used.
///
/// The runner compares with the first packet on the path before instead:
/// for the first path that is the Initial's random DCID, which a client
/// that kept the server's connection ID on the new path would pass.
pub(crate) fn new_connection_id_per_path(
    client: &[Datagram],
    from_client: &dyn Fn(&Datagram) -> bool,
) -> Result<String, String> {
    let dcid_of = |datagram: &Datagram| -> Result<String, String> {
        first_packet(datagram)
            .and_then(|p| p.dcid.clone())
            .ok_or_else(|| {
                format!(
                    "tshark could not read the Destination Connection ID of the client's \
                     packet on {}{}",
                    show(&path(datagram)),
                    unreadable(datagram)
                )
            })
    };
    let sent: Vec<&Datagram> = client.iter().filter(|d| from_client(d)).collect();
    let (paths, openers) = walk(sent.iter().copied());
    let Some(&first) = paths.first() else {
        return Err("the client sent nothing".into());
    };
    let mut moves = Vec::new();
    let mut current = first;
    let mut dcid: Option<String> = None;
    for datagram in sent {
        let opens = openers.iter().any(|o| std::ptr::eq(*o, datagram));
        if opens {
            let next = dcid_of(datagram)?;
            // RFC 9000 §9.5: a connection ID is not used on more than one
            // path, so that an observer cannot link them.
            if let Some(before) = dcid.as_deref().filter(|before| **before == next) {
                return Err(format!(
                    "the client's first packet on the new path {} reused the Destination \
                     Connection ID {before} of the path before",
                    show(&path(datagram))
                ));
            }
            moves.push(format!("{} with {next}", show(&path(datagram))));
            current = path(datagram);
            dcid = Some(next);
        } else if path(datagram) == current
            && let Some(known) = first_packet(datagram).and_then(|p| p.dcid.clone())
        {
            dcid = Some(known);
        }
    }
    if moves.is_empty() {
        return Err(format!(
            "the client sent on one path only ({})",
            show(&first)
        ));
    }
    Ok(format!(
        "the client changed its Destination Connection ID on each new path: {}",
        moves.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "127.0.0.1:4433";
    const PROXY: &str = "127.0.0.1:9000";
    const CLIENT: &str = "127.0.0.1:50000";

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn server_addr() -> SocketAddr {
        addr(SERVER)
    }

    fn from_server(d: &Datagram) -> bool {
        d.src == addr(SERVER)
    }

    fn from_client(d: &Datagram) -> bool {
        d.dst == addr(PROXY)
    }

    fn packet(dcid: &str, challenge: Option<&str>, response: Option<&str>) -> Packet {
        Packet {
            dcid: Some(dcid.into()),
            path_challenges: challenge.into_iter().map(String::from).collect(),
            path_responses: response.into_iter().map(String::from).collect(),
            ..Packet::default()
        }
    }

    /// A server datagram to the client's upstream address `to`.
    fn to(to: &str, challenge: Option<&str>) -> Datagram {
        Datagram {
            src: server_addr(),
            dst: addr(to),
            packets: vec![packet("c1", challenge, None)],
        }
    }

    /// A server-side datagram from the client's upstream address `from`.
    fn upstream(from: &str) -> Datagram {
        Datagram {
            src: addr(from),
            dst: server_addr(),
            packets: vec![packet("51", None, None)],
        }
    }

    /// A client datagram to the proxy, answering `response`.
    fn answer(response: Option<&str>) -> Datagram {
        Datagram {
            src: addr(CLIENT),
            dst: addr(PROXY),
            packets: vec![packet("51", None, response)],
        }
    }

    /// Two rebindings: the server follows the client from port 40000 to
    /// 40001 and then to 40002 of 127.0.0.2, challenging each new path.
    fn rebound_server_trace() -> Vec<Datagram> {
        vec![
            upstream("127.0.0.1:40000"),
            to("127.0.0.1:40000", None),
            to("127.0.0.1:40000", None),
            upstream("127.0.0.1:40001"),
            to("127.0.0.1:40001", Some("aa")),
            to("127.0.0.1:40001", None),
            upstream("127.0.0.2:40002"),
            to("127.0.0.2:40002", Some("bb")),
            to("127.0.0.2:40002", None),
        ]
    }

    fn answers() -> Vec<Datagram> {
        vec![answer(None), answer(Some("aa")), answer(Some("bb"))]
    }

    // RFC 9000 §9.3, §8.2.2 (test): the server challenges each new path and
    // the client answers every challenge.
    #[test]
    fn a_server_that_challenges_each_new_path_passes() {
        let found = paths_validated(
            &rebound_server_trace(),
            &answers(),
            &from_server,
            &from_client,
        )
        .unwrap();
        assert!(found.contains("on 3 paths"), "{found}");
    }

    // RFC 9000 §9.3 (test): the first datagram to a new address must carry
    // a PATH_CHALLENGE; a later one does not make up for it.
    #[test]
    fn a_first_datagram_on_a_new_path_without_a_challenge_fails() {
        let mut server = rebound_server_trace();
        server[4] = to("127.0.0.1:40001", None);
        server[5] = to("127.0.0.1:40001", Some("aa"));
        let error = paths_validated(&server, &answers(), &from_server, &from_client).unwrap_err();
        assert!(error.contains("127.0.0.1:40001"), "{error}");
        assert!(error.contains("carried no PATH_CHALLENGE"), "{error}");
    }

    #[test]
    fn a_challenge_tshark_could_not_decrypt_says_so() {
        let mut server = rebound_server_trace();
        server[4].packets[0] = Packet {
            decryption_failed: true,
            ..Packet::default()
        };
        let error = paths_validated(&server, &answers(), &from_server, &from_client).unwrap_err();
        assert!(error.contains("could not decrypt"), "{error}");
    }

    // RFC 9000 §8.2.2 (test): a challenge without a response fails.
    #[test]
    fn a_challenge_without_a_response_fails() {
        let client = vec![answer(None), answer(Some("aa"))];
        let error = paths_validated(&rebound_server_trace(), &client, &from_server, &from_client)
            .unwrap_err();
        assert!(error.contains("no PATH_RESPONSE"), "{error}");
        assert!(error.contains("bb") && !error.contains("aa"), "{error}");
    }

    #[test]
    fn a_response_the_server_sent_does_not_count_as_the_clients() {
        let echoed = Datagram {
            src: addr(PROXY),
            dst: addr(CLIENT),
            packets: vec![packet("c1", None, Some("bb"))],
        };
        let client = vec![answer(Some("aa")), echoed];
        assert!(
            paths_validated(&rebound_server_trace(), &client, &from_server, &from_client).is_err()
        );
    }

    /// The runner's "test broken?": without a second path there is nothing
    /// to judge, and that is a failure, not a pass.
    #[test]
    fn a_trace_with_one_client_port_fails() {
        let server = vec![
            upstream("127.0.0.1:40000"),
            to("127.0.0.1:40000", None),
            to("127.0.0.1:40000", Some("aa")),
        ];
        let error = paths_validated(&server, &answers(), &from_server, &from_client).unwrap_err();
        assert!(error.contains("one path only"), "{error}");
        let error = paths_validated(&[], &[], &from_server, &from_client).unwrap_err();
        assert!(error.contains("one path only (none)"), "{error}");
    }

    /// A datagram back on a path left before (a late retransmission to the
    /// old address) opens nothing, as in the runner: it needs no challenge
    /// of its own, and the path after it still does.
    #[test]
    fn a_datagram_back_on_an_old_path_opens_no_new_one() {
        let mut server = rebound_server_trace();
        server.insert(5, to("127.0.0.1:40000", None));
        assert!(paths_validated(&server, &answers(), &from_server, &from_client).is_ok());
        let (paths, openers) = walk(server.iter().filter(|d| from_server(d)));
        assert_eq!(paths.len(), 3);
        assert_eq!(openers.len(), 2);
    }

    #[test]
    fn a_second_client_address_is_needed_for_rebind_addr() {
        let found = client_addresses(&rebound_server_trace(), &from_server).unwrap();
        assert!(found.contains("127.0.0.1, 127.0.0.2"), "{found}");
        let port_only = &rebound_server_trace()[..6];
        let error = client_addresses(port_only, &from_server).unwrap_err();
        assert!(error.contains("one client IP address only"), "{error}");
    }

    /// The client's side of `connectionmigration`: the Initial to the
    /// proxy, then packets to the server's preferred address (here a
    /// second proxy port) from a new client port.
    fn migrating_client(new_dcid: &str) -> Vec<Datagram> {
        let send = |src: &str, dst: &str, dcid: &str| Datagram {
            src: addr(src),
            dst: addr(dst),
            packets: vec![packet(dcid, None, None)],
        };
        vec![
            send(CLIENT, PROXY, "0102"),
            send(PROXY, CLIENT, "51"),
            send(CLIENT, PROXY, "c1"),
            send("127.0.0.1:50001", "127.0.0.1:9001", new_dcid),
            send("127.0.0.1:50001", "127.0.0.1:9001", new_dcid),
        ]
    }

    fn sent_by_client(d: &Datagram) -> bool {
        d.src.port() >= 50_000
    }

    // RFC 9000 §9.5 (test): the client moves to a new path with a new
    // connection ID.
    #[test]
    fn a_client_that_moves_with_a_new_connection_id_passes() {
        let found = new_connection_id_per_path(&migrating_client("c2"), &sent_by_client).unwrap();
        assert!(found.contains("with c2"), "{found}");
    }

    // RFC 9000 §9.5 (test): the same connection ID on the new path fails.
    #[test]
    fn a_client_that_keeps_its_connection_id_on_a_new_path_fails() {
        let error =
            new_connection_id_per_path(&migrating_client("c1"), &sent_by_client).unwrap_err();
        assert!(
            error.contains("reused the Destination Connection ID c1"),
            "{error}"
        );
    }

    #[test]
    fn a_client_that_never_moves_fails_the_connection_id_check() {
        let client = &migrating_client("c2")[..3];
        let error = new_connection_id_per_path(client, &sent_by_client).unwrap_err();
        assert!(error.contains("one path only"), "{error}");
    }

    #[test]
    fn an_unreadable_connection_id_on_a_new_path_fails() {
        let mut client = migrating_client("c2");
        client[3].packets[0].dcid = None;
        let error = new_connection_id_per_path(&client, &sent_by_client).unwrap_err();
        assert!(error.contains("could not read"), "{error}");
    }
}
