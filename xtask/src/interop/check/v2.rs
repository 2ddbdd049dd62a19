//! The runner's conditions on `v2`: the client started on QUIC v1 and the
//! server moved the connection to QUIC v2 by compatible version
//! negotiation (RFC 9368 §2.2). The server's Initials are read in the
//! clear by the proxy; the client's first Initial and both sides'
//! Handshake packets from the decrypted client capture, as the runner
//! reads them (`quic.version` of the packets tshark types as Initial or
//! Handshake).

use std::collections::BTreeSet;

use crate::interop::tshark::{Datagram, HANDSHAKE, INITIAL, Packet};

/// QUIC version 1 (RFC 9000 §15).
const QUIC_V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369 §3.1).
const QUIC_V2: u32 = 0x6b33_43cf;

/// RFC 9368 §2.2: after compatible negotiation the server sends in the
/// negotiated version; as the runner allows, Initials without CRYPTO
/// frames may still carry v1 before it. So: v2 among the versions of the
/// server's Initials, and nothing but v1 and v2.
pub(super) fn server_initial_versions(seen: &BTreeSet<u32>) -> Result<(), String> {
    let other = seen.iter().any(|v| ![QUIC_V1, QUIC_V2].contains(v));
    if !seen.contains(&QUIC_V2) || other {
        return Err(format!(
            "expected QUIC v2 (0x6b3343cf) in the server's Initials, and only v1 before \
             it, saw {}",
            versions(seen)
        ));
    }
    Ok(())
}

/// RFC 9368 §2.2, RFC 9369 (test on the wire): the client's first Initial
/// (`from_client`) carried v1, the version it started on, and every
/// Handshake packet of the client and of the server (`from_server`, as
/// the proxy passed them on) carried v2, at least one each way: the
/// handshake ran on the negotiated version.
pub(super) fn negotiated(
    client: &[Datagram],
    from_client: &dyn Fn(&Datagram) -> bool,
    from_server: &dyn Fn(&Datagram) -> bool,
) -> Result<String, String> {
    let of = |from: &dyn Fn(&Datagram) -> bool, ty: u8| -> Vec<&Packet> {
        client
            .iter()
            .filter(|d| from(d))
            .flat_map(|d| &d.packets)
            .filter(|p| p.long_type == Some(ty))
            .collect()
    };
    let first = of(from_client, INITIAL)
        .first()
        .map(|p| p.version)
        .ok_or("the client sent no Initial packet")?;
    if first != Some(QUIC_V1) {
        return Err(format!(
            "the client's first Initial is not v1: it carried {}",
            version(first)
        ));
    }
    let mut found = vec!["the client's first Initial carried v1".to_owned()];
    for (side, from) in [("client", from_client), ("server", from_server)] {
        let handshakes = of(from, HANDSHAKE);
        let seen: BTreeSet<Option<u32>> = handshakes.iter().map(|p| p.version).collect();
        if handshakes.is_empty() {
            return Err(format!("the {side} sent no Handshake packet"));
        }
        if seen != BTreeSet::from([Some(QUIC_V2)]) {
            return Err(format!(
                "the {side}'s Handshake packets carried {}, not v2 only",
                seen.iter()
                    .map(|v| version(*v))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        found.push(format!(
            "the {side}'s {} Handshake packet(s) v2",
            handshakes.len()
        ));
    }
    Ok(found.join("; "))
}

/// A version as the runner prints it, `None` when tshark gave none.
fn version(version: Option<u32>) -> String {
    version.map_or_else(|| "no version".to_owned(), |v| format!("{v:#010x}"))
}

fn versions(seen: &BTreeSet<u32>) -> String {
    if seen.is_empty() {
        return "none".to_owned();
    }
    seen.iter()
        .map(|v| version(Some(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
