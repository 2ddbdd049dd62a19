use super::*;

use crate::interop::check::fixture::{CLIENT, SERVER, addr, from_client, from_server};

fn datagram(src: &str, dst: &str, packets: Vec<Packet>) -> Datagram {
    Datagram {
        src: addr(src),
        dst: addr(dst),
        packets,
    }
}

fn long(ty: u8, scid: &str, messages: &[u8], extensions: &[u16]) -> Packet {
    Packet {
        long_type: Some(ty),
        scid: Some(scid.into()),
        handshake_types: messages.to_vec(),
        extension_types: extensions.to_vec(),
        ..Packet::default()
    }
}

/// The server's flight: a ServerHello with `hello_extensions`, then the
/// Handshake messages `messages` with `extensions`.
fn server_flight(
    scid: &str,
    hello_extensions: &[u16],
    messages: &[u8],
    extensions: &[u16],
) -> Datagram {
    datagram(
        SERVER,
        CLIENT,
        vec![
            long(INITIAL, scid, &[SERVER_HELLO], hello_extensions),
            long(HANDSHAKE, scid, messages, extensions),
        ],
    )
}

fn full(scid: &str) -> Datagram {
    server_flight(scid, &[51, 43], &[8, 11, 15, 20], &[16, 57])
}

fn resumed_flight(scid: &str, early_data: bool) -> Datagram {
    let extensions: &[u16] = if early_data {
        &[16, 57, EARLY_DATA]
    } else {
        &[16, 57]
    };
    server_flight(scid, &[51, PRE_SHARED_KEY, 43], &[8, 20], extensions)
}

fn zero_rtt(streams: usize) -> Datagram {
    datagram(
        CLIENT,
        SERVER,
        vec![
            long(INITIAL, "c2", &[1], &[41, 42]),
            Packet {
                long_type: Some(ZERO_RTT),
                stream_frames: streams,
                ..Packet::default()
            },
        ],
    )
}

fn one_rtt(payload: usize) -> Datagram {
    datagram(
        CLIENT,
        SERVER,
        vec![Packet {
            short_payload_len: Some(payload),
            ..Packet::default()
        }],
    )
}

// RFC 8446 §2.2 (test): a second handshake with a pre_shared_key and no
// Certificate resumed.
#[test]
fn a_second_handshake_without_a_certificate_resumed() {
    let client = [full("a1"), resumed_flight("b2", false)];
    let found = resumed(&client, &from_server).unwrap();
    assert!(found.contains("(b2) resumed"), "{found}");
}

#[test]
fn a_certificate_in_the_second_handshake_fails() {
    let client = [full("a1"), full("b2")];
    let error = resumed(&client, &from_server).unwrap_err();
    assert!(error.contains("it did not resume"), "{error}");
}

#[test]
fn a_server_hello_without_a_pre_shared_key_fails() {
    let client = [full("a1"), server_flight("b2", &[51, 43], &[8, 20], &[])];
    let error = resumed(&client, &from_server).unwrap_err();
    assert!(error.contains("no pre_shared_key"), "{error}");
}

/// The runner's "That's weird": the first handshake must show the
/// certificate, or nothing was decrypted.
#[test]
fn a_first_handshake_without_a_certificate_fails() {
    let mut first = resumed_flight("a1", false);
    first.packets[1].decryption_failed = true;
    let client = [first, resumed_flight("b2", false)];
    let error = resumed(&client, &from_server).unwrap_err();
    assert!(error.contains("first connection"), "{error}");
    assert!(error.contains("could not decrypt 1"), "{error}");
}

#[test]
fn one_connection_or_three_fail() {
    let error = resumed(&[full("a1")], &from_server).unwrap_err();
    assert!(error.contains("one connection only"), "{error}");
    let three = [
        full("a1"),
        resumed_flight("b2", false),
        resumed_flight("c3", false),
    ];
    let error = resumed(&three, &from_server).unwrap_err();
    assert!(error.contains("3 connections"), "{error}");
    let error = resumed(&[], &from_server).unwrap_err();
    assert!(error.contains("no Handshake packet"), "{error}");
}

/// The client's own packets (its Initial and Handshake, with their own
/// SCIDs) are not the server's connections.
#[test]
fn the_clients_packets_open_no_server_connection() {
    let client_handshake = datagram(CLIENT, SERVER, vec![long(HANDSHAKE, "c9", &[20], &[])]);
    let client = [full("a1"), client_handshake, resumed_flight("b2", false)];
    assert!(resumed(&client, &from_server).is_ok());
}

// RFC 9001 §4.6.1, RFC 8446 §4.2.10 (test): requests in 0-RTT, accepted
// with early_data in EncryptedExtensions.
#[test]
fn requests_in_0rtt_that_the_server_accepted_pass() {
    let client = [full("a1"), zero_rtt(3), resumed_flight("b2", true)];
    let found = zero_rtt_accepted(&client, &from_client, &from_server).unwrap();
    assert!(
        found.contains("1 0-RTT packets with 3 STREAM frames"),
        "{found}"
    );
}

#[test]
fn early_data_refused_by_the_server_fails() {
    let client = [full("a1"), zero_rtt(3), resumed_flight("b2", false)];
    let error = zero_rtt_accepted(&client, &from_client, &from_server).unwrap_err();
    assert!(error.contains("refused the 0-RTT data"), "{error}");
}

#[test]
fn no_0rtt_packets_or_none_with_a_stream_fails() {
    let client = [full("a1"), resumed_flight("b2", true)];
    let error = zero_rtt_accepted(&client, &from_client, &from_server).unwrap_err();
    assert!(error.contains("no 0-RTT packet"), "{error}");
    let client = [full("a1"), zero_rtt(0), resumed_flight("b2", true)];
    let error = zero_rtt_accepted(&client, &from_client, &from_server).unwrap_err();
    assert!(error.contains("no STREAM frame"), "{error}");
    let mut unreadable = zero_rtt(0);
    unreadable.packets[1].decryption_failed = true;
    let client = [full("a1"), unreadable, resumed_flight("b2", true)];
    let error = zero_rtt_accepted(&client, &from_client, &from_server).unwrap_err();
    assert!(error.contains("CLIENT_EARLY_TRAFFIC_SECRET"), "{error}");
}

/// A 0-RTT packet the server sent (none should) does not count as the
/// client's.
#[test]
fn only_the_clients_0rtt_packets_count() {
    let mut echoed = zero_rtt(3);
    std::mem::swap(&mut echoed.src, &mut echoed.dst);
    let client = [full("a1"), echoed, resumed_flight("b2", true)];
    assert!(zero_rtt_accepted(&client, &from_client, &from_server).is_err());
}

/// The runner's bound: the client's 1-RTT payload, on both connections,
/// at most half of what the request names add up to.
#[test]
fn the_clients_1rtt_payload_is_bounded() {
    let client = [one_rtt(3000), one_rtt(2000), full("a1")];
    assert!(client_one_rtt_at_most(&client, &from_client, 5000).is_ok());
    let error = client_one_rtt_at_most(&client, &from_client, 4999).unwrap_err();
    assert!(error.contains("5000 bytes"), "{error}");
    // The server's 1-RTT packets do not count.
    let mut answer = one_rtt(9000);
    std::mem::swap(&mut answer.src, &mut answer.dst);
    assert!(client_one_rtt_at_most(&[answer], &from_client, 0).is_ok());
}
