//! The decoded view of a run: tshark, given an endpoint's key log, decrypts
//! the QUIC packets in the proxy's captures, as the runner does.
//!
//! tshark is needed for the checks that read decrypted packets; the
//! migration, resumption, 0-RTT, key update and v2 cases fail without it, the
//! others skip those checks (`.ci/run` installs it from Debian's archive).
//! [`available`] says whether it can be used; [`decode`] runs it once over a capture and keeps, for every QUIC packet
//! of every datagram, the few fields the pass conditions read. tshark's
//! `ek` output (one JSON object per datagram, with a list of objects when a
//! datagram coalesces several QUIC packets) keeps each CRYPTO frame with
//! the packet that carried it, which `-T fields` cannot.

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    process::Command,
};

use serde_json::Value;

/// QUIC version 1's long packet type of a Handshake packet (RFC 9000
/// §17.2).
pub(crate) const HANDSHAKE: u8 = 2;
/// QUIC version 1's long packet types of an Initial and of a 0-RTT packet
/// (RFC 9000 §17.2).
pub(crate) const INITIAL: u8 = 0;
pub(crate) const ZERO_RTT: u8 = 1;
/// QUIC version 1's long packet type of a Retry packet (RFC 9000 §17.2).
pub(crate) const RETRY: u8 = 3;

/// One QUIC packet as tshark decoded it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Packet {
    /// The long header's packet type in version 1's numbering
    /// (`quic.long.packet_type`, or for QUIC v2 `quic.long.packet_type_v2`,
    /// whose numbers RFC 9369 §3.2 moved: see [`long_type_v2`]); `None`
    /// for a short header.
    pub(crate) long_type: Option<u8>,
    /// The long header's Version field (`quic.version`); `None` for a
    /// short header.
    pub(crate) version: Option<u32>,
    /// An ACK frame carried ECN counts (`quic.ack.ect0_count`).
    pub(crate) ack_ecn: bool,
    /// The end of each CRYPTO frame: `quic.crypto.offset` plus
    /// `quic.crypto.length`.
    pub(crate) crypto_ends: Vec<u64>,
    /// The `initial_max_streams_bidi` transport parameter of a TLS message
    /// in the packet (`tls.quic.parameter.initial_max_streams_bidi`).
    pub(crate) initial_max_streams_bidi: Option<u64>,
    /// The Destination Connection ID in lowercase hex (`quic.dcid`); `None`
    /// when tshark could not tell its length (a short header of a
    /// connection it did not follow).
    pub(crate) dcid: Option<String>,
    /// The data of each PATH_CHALLENGE frame, in lowercase hex
    /// (`quic.path_challenge.data`).
    pub(crate) path_challenges: Vec<String>,
    /// The data of each PATH_RESPONSE frame, in lowercase hex
    /// (`quic.path_response.data`).
    pub(crate) path_responses: Vec<String>,
    /// tshark had no keys for the packet, or they did not open it
    /// (`quic.decryption_failed`): its frames are unknown.
    pub(crate) decryption_failed: bool,
    /// The Source Connection ID of a long header, in lowercase hex
    /// (`quic.scid`).
    pub(crate) scid: Option<String>,
    /// The TLS handshake messages whose CRYPTO data ends in the packet, by
    /// type (`tls.handshake.type`).
    pub(crate) handshake_types: Vec<u8>,
    /// The extensions of those messages, by type
    /// (`tls.handshake.extension.type`).
    pub(crate) extension_types: Vec<u16>,
    /// How many STREAM frames the packet carried (`quic.frame_type` 0x08 to
    /// 0x0f).
    pub(crate) stream_frames: usize,
    /// The bytes after a short header (`quic.protected_payload`), as the
    /// runner counts a 1-RTT packet's payload; `None` for a long header.
    pub(crate) short_payload_len: Option<usize>,
    /// A short header's Key Phase bit (`quic.key_phase`, RFC 9000
    /// §17.3.1), which tshark reads only when it removed header
    /// protection; `None` for a long header or a packet it could not.
    pub(crate) key_phase: Option<bool>,
}

/// One UDP datagram and the QUIC packets tshark found in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Datagram {
    /// `ip.src` or `ipv6.src`, and `udp.srcport`.
    pub(crate) src: SocketAddr,
    /// `ip.dst` or `ipv6.dst`, and `udp.dstport`.
    pub(crate) dst: SocketAddr,
    /// The QUIC packets, in order.
    pub(crate) packets: Vec<Packet>,
}

/// Why a decoded check could not run when tshark is missing, and how to
/// get it.
pub(crate) const MISSING: &str = "tshark is not installed (on Debian: \
     `DEBIAN_FRONTEND=noninteractive apt-get install -y tshark`, as .ci/run does)";

/// tshark is on the PATH and answers `tshark --version`.
pub(crate) fn available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// tshark's first line of `--version`, for the run's notes.
pub(crate) fn version() -> String {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .trim_end_matches('.')
                .to_owned()
        })
        .unwrap_or_default()
}

/// Decodes the QUIC datagrams of `pcap` with the secrets in `keylog`.
///
/// The QUIC dissector finds QUIC on any UDP port by its heuristic, which is
/// enabled explicitly in case a profile turned it off.
///
/// # Errors
///
/// When tshark cannot be started, exits with an error, or prints output
/// that is not `ek` JSON.
pub(crate) fn decode(pcap: &Path, keylog: &Path) -> Result<Vec<Datagram>, String> {
    let output = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(format!("tls.keylog_file:{}", keylog.display()))
        .args(["--enable-heuristic", "quic"])
        .args(["-Y", "quic", "-T", "ek", "-J", "ip ipv6 udp quic"])
        .output()
        .map_err(|e| format!("cannot run tshark: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .filter(|l| !l.starts_with("Running as user"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(format!(
            "tshark failed on {} ({}): {}",
            pcap.display(),
            output.status,
            reason.trim()
        ));
    }
    parse_ek(&String::from_utf8_lossy(&output.stdout))
        .map_err(|e| format!("{}: {e}", pcap.display()))
}

/// Parses tshark's `-T ek -J "ip ipv6 udp quic"` output: index lines,
/// which are skipped, between one JSON object per datagram.
///
/// # Errors
///
/// When a line is not JSON, or a datagram has no IP addresses or UDP
/// ports.
pub(crate) fn parse_ek(text: &str) -> Result<Vec<Datagram>, String> {
    let mut datagrams = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| format!("tshark output line {}: {e}", number + 1))?;
        let Some(layers) = value.get("layers") else {
            continue;
        };
        let missing = |what: &str| format!("tshark output line {}: no {what}", number + 1);
        let udp = one(layers.get("udp"));
        let port = |key: &str| {
            udp.and_then(|u| first(u.get(key)))
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| missing(key))
        };
        // The outer IP header: the proxy's captures have no tunnels.
        let (ip, prefix) = match one(layers.get("ip")) {
            Some(ip) => (Some(ip), "ip_ip"),
            None => (one(layers.get("ipv6")), "ipv6_ipv6"),
        };
        let address = |end: &str| {
            let key = format!("{prefix}_{end}");
            ip.and_then(|i| first(i.get(&key)))
                .and_then(|a| a.parse::<IpAddr>().ok())
                .ok_or_else(|| missing(&key))
        };
        let packets = match layers.get("quic") {
            Some(Value::Array(list)) => list.iter().map(packet).collect(),
            Some(object @ Value::Object(_)) => vec![packet(object)],
            _ => Vec::new(),
        };
        datagrams.push(Datagram {
            src: SocketAddr::new(address("src")?, port("udp_udp_srcport")?),
            dst: SocketAddr::new(address("dst")?, port("udp_udp_dstport")?),
            packets,
        });
    }
    Ok(datagrams)
}

/// The fields of one QUIC packet's `ek` object.
fn packet(quic: &Value) -> Packet {
    let numbers = |key: &str| -> Vec<u64> {
        strings(quic.get(key))
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    };
    let hex =
        |key: &str| -> Vec<String> { strings(quic.get(key)).into_iter().map(bytes).collect() };
    let offsets = numbers("quic_quic_crypto_offset");
    let lengths = numbers("quic_quic_crypto_length");
    let v1_type = first(quic.get("quic_quic_long_packet_type")).and_then(|t| t.parse().ok());
    let v2_type = first(quic.get("quic_quic_long_packet_type_v2"))
        .and_then(|t| t.parse().ok())
        .and_then(long_type_v2);
    let long = v1_type.or(v2_type);
    Packet {
        long_type: long,
        version: first(quic.get("quic_quic_version"))
            .filter(|_| long.is_some())
            .and_then(number),
        ack_ecn: quic.get("quic_quic_ack_ect0_count").is_some(),
        crypto_ends: offsets
            .iter()
            .zip(&lengths)
            .map(|(offset, length)| offset + length)
            .collect(),
        initial_max_streams_bidi: find(quic, "tls_tls_quic_parameter_initial_max_streams_bidi")
            .and_then(|v| first(Some(v)))
            .and_then(|s| s.parse().ok()),
        dcid: hex("quic_quic_dcid").into_iter().next(),
        path_challenges: hex("quic_quic_path_challenge_data"),
        path_responses: hex("quic_quic_path_response_data"),
        // An expert-info field: `ek` may nest it below the packet.
        decryption_failed: find(quic, "quic_quic_decryption_failed").is_some(),
        scid: hex("quic_quic_scid").into_iter().next(),
        // TLS messages nest in the packet's object.
        handshake_types: find_all(quic, "tls_tls_handshake_type")
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect(),
        extension_types: find_all(quic, "tls_tls_handshake_extension_type")
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect(),
        stream_frames: numbers("quic_quic_frame_type")
            .iter()
            .filter(|t| (0x08..=0x0f).contains(*t))
            .count(),
        short_payload_len: first(quic.get("quic_quic_protected_payload"))
            .filter(|_| long.is_none())
            .map(|payload| bytes(payload).len() / 2),
        key_phase: flag(quic.get("quic_quic_key_phase")).filter(|_| long.is_none()),
    }
}

/// A QUIC v2 long packet type (`quic.long.packet_type_v2`) in version 1's
/// numbering: RFC 9369 §3.2 gives Initial 0b01, 0-RTT 0b10, Handshake 0b11
/// and Retry 0b00.
pub(crate) const fn long_type_v2(bits: u8) -> Option<u8> {
    match bits {
        0b01 => Some(INITIAL),
        0b10 => Some(ZERO_RTT),
        0b11 => Some(HANDSHAKE),
        0b00 => Some(RETRY),
        _ => None,
    }
}

/// A number `ek` writes in decimal or, for a field shown in hex such as
/// `quic.version`, as `0x`-prefixed hex.
fn number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A boolean field: `ek` writes it as a JSON boolean or, depending on the
/// tshark version, as `1` / `0` or `true` / `false` in a string.
fn flag(value: Option<&Value>) -> Option<bool> {
    match one(value)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "1" | "true" | "True" => Some(true),
            "0" | "false" | "False" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Every value of `key` anywhere below `value`, in order.
fn find_all<'a>(value: &'a Value, key: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    collect(value, key, &mut found);
    found
}

fn collect<'a>(value: &'a Value, key: &str, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                if name == key {
                    found.extend(strings(Some(inner)));
                } else {
                    collect(inner, key, found);
                }
            }
        }
        Value::Array(list) => {
            for inner in list {
                collect(inner, key, found);
            }
        }
        _ => {}
    }
}

/// A bytes field as lowercase hex without separators: `ek` writes
/// `0a:1b` or `0a1b` depending on the field and the tshark version.
fn bytes(value: &str) -> String {
    value
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The object itself, or the first of a list of them.
fn one(value: Option<&Value>) -> Option<&Value> {
    match value {
        Some(Value::Array(list)) => list.first(),
        other => other,
    }
}

/// A field's values: `ek` writes one value as a string and several as a
/// list of strings.
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A field's first value.
fn first(value: Option<&Value>) -> Option<&str> {
    strings(value).first().copied()
}

/// The first value of `key` anywhere below `value`: TLS messages nest in
/// the QUIC packet's object.
fn find<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|v| find(v, key))),
        Value::Array(list) => list.iter().find_map(|v| find(v, key)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index line and a datagram from the server that coalesces an
    /// Initial (ACK with ECN counts, CRYPTO 0+90) and a Handshake packet
    /// (CRYPTO 0+1008 carrying the transport parameters), as tshark 4.0
    /// writes them, trimmed.
    const COALESCED: &str = r#"{"index":{"_index":"packets-2026-11-26","_type":"doc"}}
{"timestamp":"1795674305994","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"38345","udp_udp_dstport":"55635","udp_udp_port":["38345","55635"]},"quic":[{"text":"QUIC Connection information","quic_quic_long_packet_type":"0","quic_quic_frame":[null,null],"quic_quic_frame_type":["3","6"],"quic_quic_ack_ect0_count":"1","quic_quic_ack_ect1_count":"0","quic_quic_ack_ecn_ce_count":"0","quic_quic_crypto_offset":"0","quic_quic_crypto_length":"90","tls":{"tls_tls_handshake_type":"2"}},{"quic_quic_long_packet_type":"2","quic_quic_frame_type":"6","quic_quic_crypto_offset":"0","quic_quic_crypto_length":"1008","tls":{"tls_tls_handshake_type":["8","11"],"tls_tls_quic_parameter_initial_max_streams_bidi":"100"}}]}}
"#;

    #[test]
    fn coalesced_packets_keep_their_own_frames() {
        let datagrams = parse_ek(COALESCED).unwrap();
        assert_eq!(
            datagrams,
            [Datagram {
                src: "127.0.0.1:38345".parse().unwrap(),
                dst: "127.0.0.1:55635".parse().unwrap(),
                packets: vec![
                    Packet {
                        long_type: Some(0),
                        ack_ecn: true,
                        crypto_ends: vec![90],
                        handshake_types: vec![2],
                        ..Packet::default()
                    },
                    Packet {
                        long_type: Some(HANDSHAKE),
                        crypto_ends: vec![1008],
                        initial_max_streams_bidi: Some(100),
                        handshake_types: vec![8, 11],
                        ..Packet::default()
                    },
                ],
            }]
        );
    }

    #[test]
    fn a_short_header_packet_has_no_long_type_and_several_frames_are_lists() {
        let line = r#"{"timestamp":"1","layers":{"ipv6":{"ipv6_ipv6_src":"::1","ipv6_ipv6_dst":"::1"},"udp":{"udp_udp_srcport":"1","udp_udp_dstport":"2"},"quic":{"quic_quic_short":null,"quic_quic_frame_type":["3","6","6"],"quic_quic_ack_ect0_count":"7","quic_quic_crypto_offset":["0","52"],"quic_quic_crypto_length":["52","10"]}}}"#;
        let datagrams = parse_ek(line).unwrap();
        assert_eq!(datagrams[0].src, "[::1]:1".parse().unwrap());
        assert_eq!(
            datagrams[0].packets,
            [Packet {
                long_type: None,
                ack_ecn: true,
                crypto_ends: vec![52, 62],
                ..Packet::default()
            }]
        );
    }

    #[test]
    fn a_datagram_tshark_could_not_decode_has_no_packets() {
        let line = r#"{"timestamp":"1","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.2"},"udp":{"udp_udp_srcport":"1","udp_udp_dstport":"2"}}}"#;
        let datagrams = parse_ek(line).unwrap();
        assert!(datagrams[0].packets.is_empty());
    }

    /// A short-header packet from the server on a new path, with a
    /// PATH_CHALLENGE, and the client's answer, as tshark 4.0 writes them
    /// (trimmed): bytes fields as hex with colons.
    #[test]
    fn path_frames_and_the_dcid_are_read_as_plain_hex() {
        let text = r#"{"timestamp":"1","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.2"},"udp":{"udp_udp_srcport":"443","udp_udp_dstport":"50001"},"quic":{"quic_quic_dcid":"0A:1b:2c:3d","quic_quic_frame_type":["26","26"],"quic_quic_path_challenge_data":["01:02:03:04:05:06:07:08","11:12:13:14:15:16:17:18"]}}}
{"timestamp":"2","layers":{"ip":{"ip_ip_src":"127.0.0.2","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"50001","udp_udp_dstport":"443"},"quic":{"quic_quic_dcid":"c0ffee","quic_quic_path_response_data":"0102030405060708","_ws_expert":{"quic_quic_decryption_failed":"Failed to create decryption context"}}}}"#;
        let datagrams = parse_ek(text).unwrap();
        assert_eq!(datagrams[0].dst, "127.0.0.2:50001".parse().unwrap());
        let challenge = &datagrams[0].packets[0];
        assert_eq!(challenge.dcid.as_deref(), Some("0a1b2c3d"));
        assert_eq!(
            challenge.path_challenges,
            ["0102030405060708", "1112131415161718"]
        );
        assert!(!challenge.decryption_failed);
        let response = &datagrams[1].packets[0];
        assert_eq!(response.path_responses, ["0102030405060708"]);
        assert!(response.decryption_failed);
    }

    /// A resumed server flight, as tshark 4.0 writes it (trimmed): the
    /// ServerHello, reassembled from two Initial packets, with its
    /// extensions, and EncryptedExtensions and Finished in a Handshake
    /// packet; then the client's 0-RTT packet with a request, coalesced
    /// after its Initial, and a 1-RTT packet.
    #[test]
    fn handshake_messages_extensions_scids_streams_and_payloads_are_read() {
        let text = r#"{"timestamp":"1","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"4433","udp_udp_dstport":"50000"},"quic":[{"quic_quic_long_packet_type":"0","quic_quic_scid":"48:c9:dc:76:9c:18:da:f9","quic_quic_frame_type":"6","tls":{"tls_tls_handshake":[null,null],"tls_tls_handshake_fragment":["26","28"],"tls_tls_handshake_type":"2","tls_tls_handshake_extension_type":["51","41","43"]}},{"quic_quic_long_packet_type":"2","quic_quic_scid":"48:c9:dc:76:9c:18:da:f9","quic_quic_frame_type":["6","0"],"tls":{"tls_tls_handshake_type":["8","20"],"tls_tls_handshake_extension_type":["16","57","42"]}}]}}
{"timestamp":"2","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"50000","udp_udp_dstport":"4433"},"quic":[{"quic_quic_long_packet_type":"0","quic_quic_scid":"f5:2e","quic_quic_frame_type":["6","0"]},{"quic_quic_long_packet_type":"1","quic_quic_scid":"f5:2e","quic_quic_payload":"00:01","quic_quic_frame_type":["11","11","0"],"quic_quic_stream_stream_id":["0","4"]}]}}
{"timestamp":"3","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"50000","udp_udp_dstport":"4433"},"quic":{"quic_quic_short":null,"quic_quic_dcid":"48:c9","quic_quic_protected_payload":"0a:0b:0c:0d:0e","quic_quic_frame_type":"3"}}}"#;
        let datagrams = parse_ek(text).unwrap();
        let hello = &datagrams[0].packets[0];
        assert_eq!(hello.scid.as_deref(), Some("48c9dc769c18daf9"));
        assert_eq!(hello.handshake_types, [2]);
        assert_eq!(hello.extension_types, [51, 41, 43]);
        let flight = &datagrams[0].packets[1];
        assert_eq!(flight.handshake_types, [8, 20]);
        assert_eq!(flight.extension_types, [16, 57, 42]);
        let early = &datagrams[1].packets[1];
        assert_eq!(early.long_type, Some(ZERO_RTT));
        assert_eq!(early.stream_frames, 2);
        assert_eq!(early.short_payload_len, None);
        assert_eq!(datagrams[1].packets[0].stream_frames, 0);
        assert_eq!(datagrams[2].packets[0].short_payload_len, Some(5));
    }

    /// 1-RTT packets across a key update, the Key Phase bit written as a
    /// string and as tshark 4.0 writes it, a JSON boolean; a long header
    /// has none.
    #[test]
    fn the_key_phase_of_short_headers_is_read() {
        let text = r#"{"timestamp":"1","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"1","udp_udp_dstport":"2"},"quic":[{"quic_quic_long_packet_type":"2","quic_quic_key_phase":"1"},{"quic_quic_short":null,"quic_quic_key_phase":"0"}]}}
{"timestamp":"2","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"1","udp_udp_dstport":"2"},"quic":{"quic_quic_short":null,"quic_quic_key_phase":true}}}
{"timestamp":"3","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"1","udp_udp_dstport":"2"},"quic":{"quic_quic_short":null}}}"#;
        let datagrams = parse_ek(text).unwrap();
        assert_eq!(datagrams[0].packets[0].key_phase, None);
        assert_eq!(datagrams[0].packets[1].key_phase, Some(false));
        assert_eq!(datagrams[1].packets[0].key_phase, Some(true));
        assert_eq!(datagrams[2].packets[0].key_phase, None);
    }

    /// A v1 Initial, then a v2 Initial and Handshake coalesced and a short
    /// header, as tshark 4.0 writes them: v2's own type numbers
    /// (`quic.long.packet_type_v2`, RFC 9369 §3.2) are read in v1's
    /// numbering, a v2 long header is no short header, and `quic.version`
    /// is read from its hex.
    #[test]
    fn v2_long_headers_are_typed_and_their_versions_read() {
        let text = r#"{"timestamp":"1","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"1","udp_udp_dstport":"2"},"quic":{"quic_quic_long_packet_type":"0","quic_quic_version":"0x00000001"}}}
{"timestamp":"2","layers":{"ip":{"ip_ip_src":"127.0.0.1","ip_ip_dst":"127.0.0.1"},"udp":{"udp_udp_srcport":"2","udp_udp_dstport":"1"},"quic":[{"quic_quic_long_packet_type_v2":"1","quic_quic_version":"0x6b3343cf","quic_quic_key_phase":"1"},{"quic_quic_long_packet_type_v2":"3","quic_quic_version":"0x6b3343cf","quic_quic_protected_payload":"00"},{"quic_quic_short":null,"quic_quic_key_phase":"0"}]}}"#;
        let datagrams = parse_ek(text).unwrap();
        let v1 = &datagrams[0].packets[0];
        assert_eq!((v1.long_type, v1.version), (Some(INITIAL), Some(1)));
        let [initial, handshake, short] = &datagrams[1].packets[..] else {
            panic!("three packets: {datagrams:?}");
        };
        assert_eq!(
            (initial.long_type, initial.version, initial.key_phase),
            (Some(INITIAL), Some(0x6b33_43cf), None)
        );
        assert_eq!(
            (handshake.long_type, handshake.version),
            (Some(HANDSHAKE), Some(0x6b33_43cf))
        );
        assert_eq!(handshake.short_payload_len, None);
        assert_eq!((short.long_type, short.version), (None, None));
        assert_eq!(short.key_phase, Some(false));
        assert_eq!(long_type_v2(0b10), Some(ZERO_RTT));
        assert_eq!(long_type_v2(0b00), Some(RETRY));
        assert_eq!(long_type_v2(4), None);
    }

    #[test]
    fn output_that_is_not_json_is_an_error() {
        assert!(parse_ek("Running as user \"root\"").is_err());
        assert!(parse_ek(r#"{"layers":{"quic":{}}}"#).is_err());
        let no_ip = r#"{"layers":{"udp":{"udp_udp_srcport":"1","udp_udp_dstport":"2"}}}"#;
        assert!(parse_ek(no_ip).is_err());
    }

    #[test]
    fn empty_output_is_no_datagrams() {
        assert_eq!(parse_ek("\n"), Ok(Vec::new()));
    }
}
