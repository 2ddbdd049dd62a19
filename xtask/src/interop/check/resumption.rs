//! The runner's conditions on resumption and 0-RTT, read from the decrypted
//! client capture: `resumption`, where a second connection resumes the
//! first's TLS session, and `zerortt`, where the second connection also
//! sends its requests in 0-RTT packets.
//!
//! The server's connections are told apart, as the runner tells them, by
//! the Source Connection ID of its Handshake packets; the first connection
//! is the one whose Handshake packet came first, the last the one whose
//! Handshake packet came first last.

use crate::interop::tshark::{Datagram, HANDSHAKE, INITIAL, Packet, ZERO_RTT};

/// TLS handshake message types (RFC 8446 §4).
const SERVER_HELLO: u8 = 2;
const ENCRYPTED_EXTENSIONS: u8 = 8;
const CERTIFICATE: u8 = 11;

/// TLS extension types (RFC 8446 §4.2).
const PRE_SHARED_KEY: u16 = 41;
const EARLY_DATA: u16 = 42;

/// One connection of the server, as its Initial and Handshake packets in
/// the client capture show it.
struct Connection<'a> {
    /// The server's Source Connection ID.
    scid: &'a str,
    /// Its Initial packets.
    initial: Vec<&'a Packet>,
    /// Its Handshake packets.
    handshake: Vec<&'a Packet>,
}

impl Connection<'_> {
    fn sent(&self, message: u8) -> bool {
        self.handshake
            .iter()
            .any(|p| p.handshake_types.contains(&message))
    }

    /// Why the connection's Handshake packets may show less than was sent.
    fn unreadable(&self) -> String {
        let failed = self
            .handshake
            .iter()
            .filter(|p| p.decryption_failed)
            .count();
        if failed == 0 {
            String::new()
        } else {
            format!(" (tshark could not decrypt {failed} of its Handshake packets)")
        }
    }
}

/// The server's connections in the order of their first Handshake packet,
/// with their Initial and Handshake packets; `from_server` picks the
/// datagrams the server sent.
fn connections<'a>(
    client: &'a [Datagram],
    from_server: &dyn Fn(&Datagram) -> bool,
) -> Vec<Connection<'a>> {
    let mut found: Vec<Connection<'a>> = Vec::new();
    let packets = client
        .iter()
        .filter(|d| from_server(d))
        .flat_map(|d| &d.packets);
    for packet in packets.clone() {
        if let (Some(HANDSHAKE), Some(scid)) = (packet.long_type, packet.scid.as_deref())
            && !found.iter().any(|c| c.scid == scid)
        {
            found.push(Connection {
                scid,
                initial: Vec::new(),
                handshake: Vec::new(),
            });
        }
    }
    for packet in packets {
        let Some(connection) = found
            .iter_mut()
            .find(|c| Some(c.scid) == packet.scid.as_deref())
        else {
            continue;
        };
        match packet.long_type {
            Some(INITIAL) => connection.initial.push(packet),
            Some(HANDSHAKE) => connection.handshake.push(packet),
            _ => {}
        }
    }
    found
}

/// The first and the last of the server's connections, which must be all
/// of them, as the runner asks.
fn first_and_last<'a, 'b>(
    connections: &'b [Connection<'a>],
) -> Result<(&'b Connection<'a>, &'b Connection<'a>), String> {
    match connections {
        [] => Err("the server sent no Handshake packet (did the key log decrypt them?)".into()),
        [only] => Err(format!(
            "the server's Handshake packets came from one connection only ({})",
            only.scid
        )),
        [first, last] => Ok((first, last)),
        more => Err(format!(
            "the server's Handshake packets came from {} connections, not 2",
            more.len()
        )),
    }
}

/// `resumption`, and part of `zerortt`: the server sent a Certificate in
/// the first connection's Handshake packets and none in the last's, whose
/// ServerHello carried a `pre_shared_key` extension: the server accepted a
/// ticket from the first connection (RFC 8446 §2.2, §4.2.11).
///
/// `client` is the decoded `client.pcap`; `from_server` picks the
/// datagrams the server sent.
pub(crate) fn resumed(
    client: &[Datagram],
    from_server: &dyn Fn(&Datagram) -> bool,
) -> Result<String, String> {
    let connections = connections(client, from_server);
    let (first, last) = first_and_last(&connections)?;
    if !first.sent(CERTIFICATE) {
        return Err(format!(
            "no Certificate in the first connection's Handshake packets{}",
            first.unreadable()
        ));
    }
    // RFC 8446 §2.2: a resumed handshake authenticates with the PSK, so the
    // server sends no Certificate.
    if last.sent(CERTIFICATE) {
        return Err(format!(
            "the server sent a Certificate in the second connection's Handshake packets \
             ({}): it did not resume",
            last.scid
        ));
    }
    if !last.sent(ENCRYPTED_EXTENSIONS) {
        return Err(format!(
            "no EncryptedExtensions in the second connection's Handshake packets{}",
            last.unreadable()
        ));
    }
    let hello = last
        .initial
        .iter()
        .find(|p| p.handshake_types.contains(&SERVER_HELLO))
        .ok_or_else(|| {
            format!(
                "no ServerHello in the second connection's Initial packets ({})",
                last.scid
            )
        })?;
    // RFC 8446 §4.2.11: the server that accepts a PSK says which, in its
    // ServerHello.
    if !hello.extension_types.contains(&PRE_SHARED_KEY) {
        return Err(format!(
            "the second connection's ServerHello carried no pre_shared_key extension \
             (extensions {:?}): the server did not take the ticket",
            hello.extension_types
        ));
    }
    Ok(format!(
        "the first connection ({}) sent a Certificate; the second ({}) resumed: a \
         pre_shared_key in its ServerHello and no Certificate",
        first.scid, last.scid
    ))
}

/// `zerortt`: the client sent 0-RTT packets carrying STREAM frames (its
/// requests, RFC 9001 §4.6.1), and the server's EncryptedExtensions on the
/// last connection carried an `early_data` extension: it accepted them
/// (RFC 8446 §4.2.10).
pub(crate) fn zero_rtt_accepted(
    client: &[Datagram],
    from_client: &dyn Fn(&Datagram) -> bool,
    from_server: &dyn Fn(&Datagram) -> bool,
) -> Result<String, String> {
    let early: Vec<&Packet> = client
        .iter()
        .filter(|d| from_client(d))
        .flat_map(|d| &d.packets)
        .filter(|p| p.long_type == Some(ZERO_RTT))
        .collect();
    if early.is_empty() {
        return Err("the client sent no 0-RTT packet".into());
    }
    let streams: usize = early.iter().map(|p| p.stream_frames).sum();
    if streams == 0 {
        let failed = early.iter().filter(|p| p.decryption_failed).count();
        return Err(if failed > 0 {
            format!(
                "tshark could not decrypt {failed} of the client's {} 0-RTT packets \
                 (no CLIENT_EARLY_TRAFFIC_SECRET in the key log?)",
                early.len()
            )
        } else {
            format!(
                "the client's {} 0-RTT packets carried no STREAM frame",
                early.len()
            )
        });
    }
    let connections = connections(client, from_server);
    let (_, last) = first_and_last(&connections)?;
    let accepted = last.handshake.iter().any(|p| {
        p.handshake_types.contains(&ENCRYPTED_EXTENSIONS) && p.extension_types.contains(&EARLY_DATA)
    });
    if !accepted {
        return Err(format!(
            "the server's EncryptedExtensions on the second connection carried no early_data \
             extension: it refused the 0-RTT data{}",
            last.unreadable()
        ));
    }
    Ok(format!(
        "the client sent {} 0-RTT packets with {streams} STREAM frames, and the server's \
         EncryptedExtensions accepted early data",
        early.len()
    ))
}

/// `zerortt`, as the runner bounds it: the payload of the client's 1-RTT
/// packets, on both connections, adds up to at most `limit` bytes.
pub(crate) fn client_one_rtt_at_most(
    client: &[Datagram],
    from_client: &dyn Fn(&Datagram) -> bool,
    limit: u64,
) -> Result<String, String> {
    let total: usize = client
        .iter()
        .filter(|d| from_client(d))
        .flat_map(|d| &d.packets)
        .filter_map(|p| p.short_payload_len)
        .sum();
    let total = u64::try_from(total).unwrap_or(u64::MAX);
    if total > limit {
        return Err(format!(
            "the client's 1-RTT packets carried {total} bytes of payload, more than {limit}: \
             its requests did not all go in 0-RTT"
        ));
    }
    Ok(format!(
        "the client's 1-RTT packets carried {total} bytes of payload (at most {limit})"
    ))
}

#[cfg(test)]
mod tests;
